import type { Gossip } from '@scalelb/gossip'
import { MANAGER_TABLES } from './tables.js'

/** What {@link resignManagerEntries} wrote again, by table. */
export type Resigned = Record<'networks' | 'services' | 'revoked', number>

/**
 * `scalelb manager resign`, during a manager key rotation: write every live
 * entry of the manager tables again, unchanged, so that it is signed with
 * this manager's key (the new one). Once every node has them, the old key
 * can be dropped from the cluster key file without losing a network,
 * service or revocation. A value that fails validation is left as it is (it
 * is ignored everywhere anyway); tombstones are not written again (they
 * expire). Throws NotManagerError on a node without a manager key.
 */
export function resignManagerEntries (gossip: Gossip): Resigned {
  const out: Resigned = { networks: 0, services: 0, revoked: 0 }
  for (const [table, check] of MANAGER_TABLES) {
    for (const e of gossip.entries('cluster', table)) {
      if (e.deleted || e.status !== 'live' || !check(e.value).ok) continue
      gossip.set('cluster', table, e.key, e.value)
      out[table as keyof Resigned]++
    }
  }
  return out
}
