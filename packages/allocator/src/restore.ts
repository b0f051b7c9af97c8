/** Restore a node allocator from snapshot bytes: all or nothing. */
import { familyOf, parseAddress, parseSubnets } from './addr.js'
import { InvalidInputError } from './errors.js'
import { NetworkState } from './network.js'
import { checkId, info, NodeAllocatorImpl, resolveOptions } from './node-allocator.js'
import { mergeSegments, parseTokens, sameSegments } from './ring.js'
import { decodeSnapshot } from './snapshot.js'
import type { NodeAllocatorInit } from './types.js'

/** Build an allocator from snapshot bytes; throws before anything is visible. */
export function restoreNodeAllocator (bytes: Uint8Array, init: Partial<NodeAllocatorInit> = {}): NodeAllocatorImpl {
  const data = decodeSnapshot(bytes)
  if (init.self !== undefined && init.self !== data.self) {
    throw new InvalidInputError('self', init.self, `snapshot belongs to node ${data.self}`)
  }
  const a = new NodeAllocatorImpl(resolveOptions({ ...init, self: data.self }))
  data.networks.forEach((ns, i) => {
    const f = `networks[${i}]`
    checkId(ns.id, `${f}.id`)
    if (a.nets.has(ns.id)) throw new InvalidInputError(`${f}.id`, ns.id, 'duplicate network')
    const net = new NetworkState(ns.id, parseSubnets(ns.subnets, `${f}.subnets`))
    const segs = parseTokens(ns.tokens, net.subnets, `${f}.tokens`)
    const ring = mergeSegments([segs], net.subnets)
    if (!sameSegments(ring, segs)) throw new InvalidInputError(`${f}.tokens`, ns.tokens.length, 'not a canonical ring')
    net.setRing(ring, data.self)
    ns.allocs.forEach(([ip, kind, owner], j) => {
      const n = parseAddress(ip, `${f}.allocs[${j}].address`)
      if (!net.owns(n) || net.reserved(n) || net.allocs.has(n)) {
        throw new InvalidInputError(`${f}.allocs[${j}].address`, ip, 'not an owned, unreserved, unique address')
      }
      net.allocs.set(n, info(kind, owner ?? undefined))
      net.pool.set(n)
    })
    ns.cooling.sort((x, y) => x[1] - y[1]).forEach(([ip, until], j) => {
      const n = parseAddress(ip, `${f}.cooling[${j}].address`)
      if (!net.owns(n) || net.pool.has(n)) throw new InvalidInputError(`${f}.cooling[${j}].address`, ip, 'not an owned, unused address')
      net.pool.set(n)
      net.pool.cool(n, until)
    })
    if (ns.cursor !== null) net.pool.cursor = parseAddress(ns.cursor, `${f}.cursor`)
    ns.localTasks.forEach((k, j) => net.localTasks.add(checkId(k, `${f}.localTasks[${j}]`)))
    if (ns.lbIp !== null) {
      const n = parseAddress(ns.lbIp, `${f}.lbIp`)
      if (net.allocs.get(n)?.kind !== 'lb') throw new InvalidInputError(`${f}.lbIp`, ns.lbIp, 'not allocated as an LB IP')
      net.lbIp = n
    }
    if (ns.lbIp6 !== undefined && ns.lbIp6 !== null) {
      const n = parseAddress(ns.lbIp6, `${f}.lbIp6`)
      if (net.allocs.get(n)?.kind !== 'lb' || familyOf(n) !== 6) throw new InvalidInputError(`${f}.lbIp6`, ns.lbIp6, 'not allocated as an IPv6 LB IP')
      net.lbIp6 = n
    }
    net.lbReleaseAt = ns.lbReleaseAt ?? undefined
    a.nets.set(ns.id, net)
  })
  return a
}
