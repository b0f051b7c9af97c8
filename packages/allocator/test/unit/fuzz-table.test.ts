/**
 * Seeded fuzz of the allocator used the way the agent uses it: every token a
 * node writes goes into a gossip-like last-writer-wins table keyed by the
 * token's start (Lamport clock, ties by origin), and nodes merge single table
 * entries in random order. No address is ever held by two nodes, and at the
 * end the table alone (a fresh node merging every entry) yields the same ring
 * as every node holds.
 */
import test from 'ava'
import { createNodeAllocator, deserializeNodeAllocator, type NodeAllocator, type RingToken } from '@scalelb/allocator'
import { createTestRng } from '@scalelb/test-support'

const NET = 'tablenet'
const SUBNETS = ['10.20.0.0/23', 'fd00:20::/119']
const OPTS = { blockPrefixV4: 28, blockPrefixV6: 125, reuseCooldownMs: 10_000 }

interface Entry { token: RingToken, lamport: number, origin: string }
interface TNode { id: string, a: NodeAllocator, alive: boolean, lamport: number, deadSince: number }

function run (seed: number, ops: number): { donations: number, allocs: number, reclaims: number, tableSize: number, ring: RingToken[] } {
  const rng = createTestRng(seed)
  const table = new Map<string, Entry>()
  const holder = new Map<string, string>()
  const nodes: TNode[] = []
  let now = 0
  let donations = 0
  let allocs = 0
  let reclaims = 0
  const fail = (op: number, msg: string): never => { throw new Error(`seed ${seed} op ${op}: ${msg}`) }
  const live = (): TNode[] => nodes.filter((n) => n.alive)

  const publish = (n: TNode, tokens: readonly RingToken[]): void => {
    n.lamport++
    for (const token of tokens) {
      const cur = table.get(token.start)
      if (cur === undefined || cur.lamport < n.lamport || (cur.lamport === n.lamport && cur.origin < n.id)) {
        table.set(token.start, { token, lamport: n.lamport, origin: n.id })
      }
    }
  }
  const deliver = (n: TNode, e: Entry, op: number): void => {
    n.lamport = Math.max(n.lamport, e.lamport)
    const r = n.a.mergeTokens(NET, [e.token], now)
    if (r.renumber.length > 0) fail(op, `${n.id} must renumber ${r.renumber.map((x) => x.address).join(',')}`)
  }
  const deliverAll = (n: TNode, op: number): void => {
    const entries = [...table.values()]
    for (let i = entries.length - 1; i > 0; i--) { const j = rng.int(i + 1); [entries[i], entries[j]] = [entries[j], entries[i]] }
    for (const e of entries) deliver(n, e, op)
  }

  for (let i = 0; i < 5; i++) {
    const n: TNode = { id: `peer-${i}`, a: createNodeAllocator({ self: `peer-${i}`, ...OPTS }), alive: true, lamport: 0, deadSince: 0 }
    nodes.push(n)
    if (i === 0) publish(n, n.a.createNetwork(NET, SUBNETS, now))
    else n.a.addNetwork(NET, SUBNETS)
  }

  for (let op = 0; op < ops; op++) {
    now += rng.int(2_000)
    const n = rng.pick(live())
    const r = rng.int(100)
    if (r < 40) {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const ip = n.a.allocate(NET, rng.int(3) === 0 ? 'vip' : 'task', now, undefined, rng.int(2) === 0 ? 4 : 6)
          const h = holder.get(ip)
          if (h !== undefined) fail(op, `${ip} allocated by ${n.id}, held by ${h}`)
          holder.set(ip, n.id)
          allocs++
          break
        } catch (err) {
          const e = err as Error & { donors?: string[], family?: 4 | 6 }
          if (e.name !== 'NeedSpaceError') break
          const donor = live().find((d) => d !== n && (e.donors ?? []).includes(d.id))
          const written = donor?.a.donate(NET, n.id, now, e.family)
          if (donor === undefined || written === undefined) break
          publish(donor, written)
          donations++
          // the requester sees only the table entries of the written keys (maybe overwritten since: fine)
          for (const t of written) { const e2 = table.get(t.start); if (e2 !== undefined) deliver(n, e2, op) }
        }
      }
    } else if (r < 65) {
      const mine = n.a.allocations(NET)
      if (mine.length > 0) {
        const x = rng.pick(mine)
        n.a.release(NET, x.address, now)
        holder.delete(x.address)
      }
    } else if (r < 90) {
      const entries = [...table.values()]
      for (let k = 0; k < 4 && entries.length > 0; k++) deliver(n, rng.pick(entries), op)
    } else if (r < 94) {
      n.a = deserializeNodeAllocator(n.a.serialize(), OPTS)
    } else if (r < 96) {
      if (live().length > 3) {
        n.alive = false
        n.deadSince = now
        for (const [ip, h] of holder) if (h === n.id) holder.delete(ip)
      }
    } else if (r < 98) {
      if (nodes.some((x) => !x.alive)) {
        now += 3_600_000
        for (const m of live()) deliverAll(m, op)
        const dead = nodes.filter((x) => !x.alive).map((x) => ({ id: x.id, deadSinceMs: x.deadSince }))
        for (const m of live()) {
          const w = m.a.reclaim(NET, dead, now, live().map((x) => x.id))
          if (w.length > 0) { publish(m, w); reclaims++ }
        }
      }
    } else if (nodes.length < 8) {
      const id = `peer-${nodes.length}`
      const j: TNode = { id, a: createNodeAllocator({ self: id, ...OPTS }), alive: true, lamport: 0, deadSince: 0 }
      j.a.addNetwork(NET, SUBNETS)
      nodes.push(j)
    }
  }
  for (const m of live()) deliverAll(m, ops)
  const fresh = createNodeAllocator({ self: 'observer' })
  fresh.addNetwork(NET, SUBNETS)
  for (const e of table.values()) fresh.mergeTokens(NET, [e.token], now)
  const ring = fresh.tokens(NET)
  for (const m of live()) if (JSON.stringify(m.a.tokens(NET)) !== JSON.stringify(ring)) fail(ops, `${m.id} ring differs from the table's`)
  return { donations, allocs, reclaims, tableSize: table.size, ring }
}

test('fuzz through a last-writer-wins token table (as the agent gossips tokens): no duplicates, the table alone rebuilds the ring', (t) => {
  for (const seed of [3, 4]) {
    const r = run(seed, 4000)
    t.true(r.donations > 10, `seed ${seed}: donations ${r.donations}`)
    t.true(r.allocs > 500, `seed ${seed}: allocations ${r.allocs}`)
    // the ring covers every address of both subnets
    t.is(r.ring[0].start, '10.20.0.0')
    t.is(r.ring[r.ring.length - 1].end, 'fd00:20::1ff')
    t.log(`seed ${seed}: ${r.allocs} allocations, ${r.donations} donations, ${r.reclaims} reclaims, ${r.tableSize} table entries, ${r.ring.length} ring tokens`)
  }
})
