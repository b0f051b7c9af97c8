import { parseNodeId, type EntryEvent, type Gossip } from '@scalelb/gossip'
import { NotFoundError, ValidationError } from '../errors.js'
import type { Logger } from '../logging/logger.js'
import { MAX_REVOKE_REASON, TABLE_REVOKED, checkRevoked, type RevokedValue } from './tables.js'

/**
 * Member revocation: a manager writes `revoked/<node ID>` (signed with the
 * manager key) and every node hands the set to gossip, which holds that
 * member left, withdraws what it wrote, and refuses its connections, traffic
 * and entries. A member that holds the cluster key (a stolen host) is then
 * out without restarting every node with a new key. Withdrawing the entry
 * lets the member join again.
 */
export interface Revocations {
  /** The live, valid revocations, by node ID. */
  list(): Map<string, RevokedValue>
  /** `scalelb member revoke`: a manager revokes `id`. */
  revoke(id: string, reason: string | undefined): { id: string } & RevokedValue
  /** `scalelb member unrevoke`: a manager withdraws a revocation. */
  unrevoke(id: string): void
  /** Follow the table (an entry event of any table): the gossip set is recomputed on a change of `revoked`. */
  handleEntry(ev: EntryEvent): void
}

/** Options of {@link createRevocations}. */
export interface RevocationsInit {
  gossip: Gossip
  logger: Logger
  /** Wall clock (ms since the epoch) of a revocation's `atMs`. */
  wallClock: () => number
  /** A revoked entry's value failed validation (counted). */
  invalid?: () => void
}

/** Validate a node ID given to the API (a libp2p peer ID), naming `field`. */
export function parseMemberId (id: string, field = 'id'): string {
  try {
    parseNodeId(id)
  } catch (err) {
    throw new ValidationError(field, (err as Error).message)
  }
  return id
}

/** Create the revocations of an agent. */
export function createRevocations (init: RevocationsInit): Revocations {
  const { gossip, logger: log } = init
  /** The set last given to gossip, as a sorted key. */
  let applied = ''

  /** The valid live revocations; `report`: count and log the invalid ones (once per table change, not per read). */
  function read (report: boolean): Map<string, RevokedValue> {
    const out = new Map<string, RevokedValue>()
    for (const e of gossip.entries('cluster', TABLE_REVOKED)) {
      if (e.deleted || e.status !== 'live') continue
      const c = checkRevoked(e.value)
      if (c.ok) out.set(e.key, c.value)
      else if (report) {
        init.invalid?.()
        log.warn('ignoring an invalid revocation', { node: e.key, error: c.reason })
      }
    }
    return out
  }
  const list = (): Map<string, RevokedValue> => read(false)

  function sync (): void {
    // (this node never sees its own revocation: the others stop talking to it first)
    const ids = [...read(true).keys()].filter((id) => id !== gossip.id).sort()
    const key = ids.join(',')
    if (key === applied) return
    applied = key
    gossip.revoke(ids)
    log.info('revoked members', { members: ids })
  }

  return {
    list,
    revoke (id, reason) {
      parseMemberId(id)
      if (id === gossip.id) throw new ValidationError('id', 'a node cannot revoke itself: revoke it from another manager')
      if (reason !== undefined && reason.length > MAX_REVOKE_REASON) throw new ValidationError('reason', `must be at most ${MAX_REVOKE_REASON} characters`)
      const value: RevokedValue = { atMs: init.wallClock(), ...(reason === undefined || reason === '' ? {} : { reason }) }
      gossip.set('cluster', TABLE_REVOKED, id, value)
      sync()
      log.warn('member revoked', { node: id, reason })
      return { id, ...value }
    },
    unrevoke (id) {
      parseMemberId(id)
      if (!list().has(id)) throw new NotFoundError('id', `node ${id} is not revoked`)
      gossip.delete('cluster', TABLE_REVOKED, id)
      sync()
      log.warn('member revocation withdrawn', { node: id })
    },
    handleEntry (ev) {
      if (ev.entry.scope === 'cluster' && ev.entry.table === TABLE_REVOKED) sync()
    }
  }
}
