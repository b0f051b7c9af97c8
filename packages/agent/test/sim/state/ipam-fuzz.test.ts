/**
 * Seeded fuzz of the IPAM's gossip side: 3-6 nodes on the in-memory
 * transport under a manual clock share a /28, /29 or /30; allocations are
 * asked at random nodes and times. Checked: no address twice, every call
 * answered (an address or NetworkFullError, never a timeout), and a call
 * refused as "full" is refused only when no address of the network is free.
 */
import test from 'ava'
import { createNodeAllocator, type NodeAllocator } from '@scalelb/allocator'
import { createSeededRng } from '@scalelb/gossip'
import type { Ipam } from '../../../src/state/ipam.js'
import { TABLE_NETWORKS } from '../../../src/state/tables.js'
import { pump } from '@scalelb/test-support'
import { startCluster } from '../../support/gossip-cluster.js'
import { wireIpam } from '../../support/ipam-wire.js'

const NET = 'fuzz0000net'
const SUBNETS: Array<[string, number]> = [['10.70.0.0/28', 14], ['10.70.0.0/29', 6], ['10.70.0.0/30', 2]]
/** Calls are spread over this much virtual time (several overlap). */
const SPREAD_MS = 3_000
/** Every call must be answered within the allocation deadline (ALLOCATION_DEADLINE_MS, 10 s), plus one gossip tick of slack. */
const ANSWER_BOUND_MS = 10_200

interface Call { node: number, at: number, doneAt?: number, ip?: string, error?: string, message?: string }


async function run (seed: number): Promise<{ calls: Call[], usable: number, nodes: number, subnet: string, heldTotal: number }> {
  const rng = createSeededRng(seed)
  const nodes = 3 + Math.floor(rng.next() * 4)
  const [subnet, usable] = SUBNETS[seed % SUBNETS.length] as [string, number]
  const ids = Array.from({ length: nodes }, (_, i) => `node-${seed}-${i}`)
  const c = await startCluster(ids, seed)
  try {
    const allocators = ids.map((id) => createNodeAllocator({ self: id }))
    const ipams = ids.map((id, i) => wireIpam(c.get(id), allocators[i] as NodeAllocator, c.clock))
    const creator = Math.floor(rng.next() * nodes)
    const ca = allocators[creator] as NodeAllocator
    const tokens = ca.createNetwork(NET, [subnet], c.clock.now())
    c.get(ids[creator] as string).set('cluster', TABLE_NETWORKS, NET, { name: 'fuzz', subnets: [subnet], vni: 100, options: {} })
    ;(ipams[creator] as Ipam).publishTokens(NET, tokens)
    // optional calls: the same harness runs against the IPAM before usage publishing (and fails there)
    ;(ipams[creator] as Partial<Ipam>).publishUsage?.()
    await pump(c.clock, 1_000, { until: () => allocators.every((a) => a.hasNetwork(NET) && a.tokens(NET).length > 0) })

    const held = (): string[] => allocators.flatMap((a) => a.hasNetwork(NET) ? a.allocations(NET).map((x) => x.address) : [])
    const calls: Call[] = []
    const total = usable + 2 * nodes
    const start = c.clock.now()
    const times = Array.from({ length: total }, () => start + Math.floor(rng.next() * SPREAD_MS)).sort((a, b) => a - b)
    let next = 0
    const issue = (): boolean => {
      while (next < times.length && (times[next] as number) <= c.clock.now()) {
        const node = Math.floor(rng.next() * nodes)
        const call: Call = { node, at: c.clock.now() }
        calls.push(call)
        const k = next++
        ;(ipams[node] as Ipam).allocate(NET, 'task', `t${k}`).then((ip) => {
          call.ip = ip
          call.doneAt = c.clock.now()
        }, (err: unknown) => {
          const e = err as Error
          call.error = e.name
          call.message = e.message
          call.doneAt = c.clock.now()
          // "full" must be true when it is said: every usable address held somewhere
          if (e.name === 'NetworkFullError') call.message += ` [held then: ${held().length}]`
        })
      }
      return true
    }
    await pump(c.clock, SPREAD_MS + ANSWER_BOUND_MS + 1_000, { each: issue, until: () => next === times.length && calls.every((x) => x.doneAt !== undefined) })
    for (const i of ipams as Array<Partial<Ipam>>) i.stop?.()
    return { calls, usable, nodes, subnet, heldTotal: held().length }
  } finally {
    await c.stop()
  }
}

for (let seed = 1; seed <= 15; seed++) {
  test(`ipam fuzz seed ${seed}: no duplicate, every call answered, "full" only when nothing is free`, async (t) => {
    const r = await run(seed)
    const ok = r.calls.filter((x) => x.ip !== undefined)
    const full = r.calls.filter((x) => x.error === 'NetworkFullError')
    t.log(`${r.nodes} nodes, ${r.subnet} (${r.usable} usable): ${r.calls.length} calls, ${ok.length} addresses, ${full.length} full; answer ms max ${Math.max(...r.calls.map((x) => (x.doneAt ?? Infinity) - x.at))}`)
    for (const x of r.calls) {
      t.not(x.doneAt, undefined, `a call at node ${x.node} (t=${x.at}) was never answered`)
      t.true((x.doneAt ?? Infinity) - x.at <= ANSWER_BOUND_MS, `answered within the deadline: ${(x.doneAt ?? Infinity) - x.at} ms`)
      if (x.error !== undefined) t.is(x.error, 'NetworkFullError', `only "full" refusals, got ${x.error}: ${x.message ?? ''}`)
    }
    t.is(new Set(ok.map((x) => x.ip)).size, ok.length, 'no address handed out twice')
    for (const x of full) t.true(x.message?.includes(`[held then: ${r.usable}]`), `refused as full while an address was free: ${x.message ?? ''}`)
    t.is(r.heldTotal, Math.min(r.usable, r.calls.length), 'the network fills up to its last address')
  })
}
