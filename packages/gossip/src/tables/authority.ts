import type { NodeId } from '../types.js'
import type { Authority } from './types.js'

/**
 * Why `self` may not write or delete a key of this authority, or undefined
 * if it may. `manager`: whether `self` holds the cluster manager key. The
 * one decision behind the tables' refusal of a local write and an
 * application's "may I still write this?" (e.g. before republishing).
 */
export function writeRefusal (authority: Authority, self: NodeId, manager: boolean): string | undefined {
  switch (authority.kind) {
    case 'any': return undefined
    case 'manager': return manager ? undefined : 'only manager nodes (started with the cluster\'s manager key) may write it'
    case 'node': return authority.node === self ? undefined : `only node ${authority.node} may write it`
    case 'refused': return authority.reason
  }
}
