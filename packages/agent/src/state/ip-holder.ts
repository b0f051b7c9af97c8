import { parseEndpointKey } from './tables.js'
import type { TablesView } from './view.js'

/**
 * Who else holds `ip` on a network, as the tables show it: the VIP of a
 * service, or a task or LB endpoint (of any node, live or suspended). The
 * allocator only knows the addresses of ranges this node owns, so an
 * address from another node's range is checked here. Endpoints are known
 * only while this node is in the network's scope. Undefined when free.
 */
export function ipHolder (view: TablesView, networkId: string, ip: string): string | undefined {
  for (const s of view.services().values()) {
    if (s.vips[networkId] === ip) return `the VIP of service ${s.name}`
  }
  for (const r of view.endpoints(networkId)) {
    if (r.status === 'deleted' || r.value.ip !== ip) continue
    const k = parseEndpointKey(r.key)
    return k?.kind === 'task' ? `the address of task ${k.taskId} on node ${r.value.node}` : `the LB address of node ${r.value.node}`
  }
  return undefined
}
