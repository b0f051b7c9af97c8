import { SCOPES_TABLE, writeRefusal, type Authority, type AuthorityPolicy, type ScopeName } from '@scalelb/gossip'
import {
  MANAGER_TABLES, TABLE_ENDPOINTS, TABLE_IPAM, TABLE_IPAM_REQUESTS, TABLE_IPAM_USAGE, TABLE_NODES, parseEndpointKey
} from './tables.js'

/**
 * Who may write each key of the agent's tables. The gossip tables sign a
 * node's own writes and refuse, on every node, an entry (or delete) that
 * breaks this policy, so it must be a pure function of (scope, table, key):
 *
 * | scope     | table          | key                        | writer                |
 * |-----------|----------------|----------------------------|-----------------------|
 * | cluster   | nodes, scopes  | `<node>`                   | that node             |
 * | cluster   | networks       | network ID                 | managers              |
 * | cluster   | services       | service ID                 | managers              |
 * | cluster   | revoked        | node ID                    | managers              |
 * | cluster   | ipam-requests  | `<network>/<node>`         | that node             |
 * | cluster   | ipam-usage     | `<network>/<node>`         | that node             |
 * | cluster   | ipam           | `<network>/<range start>`  | any member (see below)|
 * | network:* | endpoints      | `<node>/<task>`, `lb:<node>` | that node           |
 *
 * Any other table, scope or key shape is refused.
 */

/** Options of {@link createAuthorityPolicy}. */
export interface AuthorityPolicyInit {
  /**
   * Who writes networks and services: `manager` (entries signed with the
   * cluster manager key), or `any` member in a cluster run without a cluster
   * key (`--insecure`: every member there can do everything anyway).
   * @default 'manager'
   */
  clusterChanges?: 'manager' | 'any'
}

const ANY: Authority = { kind: 'any' }
const MANAGER: Authority = { kind: 'manager' }

function refused (reason: string): Authority {
  return { kind: 'refused', reason }
}

/** The node after the first `/` of a `<network>/<node>` key, or a refusal. */
function nodeAfterNetwork (table: string, key: string): Authority {
  const slash = key.indexOf('/')
  const node = key.slice(slash + 1)
  if (slash <= 0 || node === '' || node.includes('/')) return refused(`${table} key must be <network>/<node>`)
  return { kind: 'node', node }
}

function clusterAuthority (table: string, key: string, changes: Authority): Authority {
  if (MANAGER_TABLES.has(table)) return changes
  switch (table) {
    case TABLE_NODES:
    case SCOPES_TABLE:
      return key === '' ? refused(`${table} key must be a node ID`) : { kind: 'node', node: key }
    case TABLE_IPAM_REQUESTS:
    case TABLE_IPAM_USAGE:
      return nodeAfterNetwork(table, key)
    case TABLE_IPAM:
      // Ring tokens: the writer of a token is whoever owns the range at that
      // moment (its creator, then each donor handing it on), which only the
      // ring's history tells, not the key; a pure policy cannot name it. So
      // any member may write one. What a member can still do here: claim or
      // hand out any range of any network (the allocator keeps the token with
      // the highest version), so it can take address space from others or
      // make two nodes hand out the same addresses; it cannot touch VIPs
      // (services) or other nodes' endpoints.
      return ANY
    default:
      return refused(`unknown cluster table ${table}`)
  }
}

/** The agent's {@link AuthorityPolicy}; the same options must be used on every node of a cluster. */
export function createAuthorityPolicy (init: AuthorityPolicyInit = {}): AuthorityPolicy {
  const changes = (init.clusterChanges ?? 'manager') === 'manager' ? MANAGER : ANY
  return (scope: ScopeName, table: string, key: string): Authority => {
    if (scope === 'cluster') return clusterAuthority(table, key, changes)
    if (!scope.startsWith('network:')) return refused(`unknown scope ${scope}`)
    if (table !== TABLE_ENDPOINTS) return refused(`unknown network table ${table}`)
    const k = parseEndpointKey(key)
    return k === undefined ? refused('endpoint key must be <node>/<task> or lb:<node>') : { kind: 'node', node: k.node }
  }
}

/** True if `self` may write `authority`'s key (a manager holds the manager key): the tables' own decision. */
export function mayWrite (authority: Authority, self: string, manager: boolean): boolean {
  return writeRefusal(authority, self, manager) === undefined
}
