export { createTables } from './tables.js'
export { RecordShare } from './share.js'
export { digestHash, emptySyncResponse } from './sync.js'
export { writeRefusal } from './authority.js'
export { validateTablesMsg, validateSyncRequest, validateSyncResponse, validateSyncHash, isScopeName } from './validate.js'
export { InvalidKeyError, InvalidScopeError, InvalidValueError, NotInScopeError, NotOwnerError, ReservedTableError } from './errors.js'
export {
  DIGEST_LEAVES, JOIN_SYNC_PEERS, MAX_ENTRIES_PER_MSG, MAX_SYNC_ENTRIES, SCOPES_TABLE, SYNC_INTERVAL_MS, TOMBSTONE_TTL_MS
} from './constants.js'
export type { Authority, AuthorityPolicy, LivePeers, Logger, SyncHash, SyncPlan, SyncRequest, SyncResponse, Tables, TablesInit, TablesMsg, TablesStats, WireEntry } from './types.js'
