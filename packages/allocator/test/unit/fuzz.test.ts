/**
 * Seeded fuzz of the allocator, modelled on Weave Net's IPAM fuzz: several
 * nodes, thousands of random operations (allocate, release, donate, local
 * tasks, partition, heal, death and reclaim, join, snapshot and restore),
 * rings exchanged only through mergeTokens. After every step no address is
 * held by two nodes; after the final heal every ring is the same.
 */
import test, { type ExecutionContext } from 'ava'
import {
  createNodeAllocator, deserializeNodeAllocator, type AddressKind, type NodeAllocator, type NodeAllocatorInit
} from '@scalelb/allocator'
import { createTestRng, type TestRng } from '@scalelb/test-support'

const NET = 'fuzznet'
const SUBNETS = ['10.8.0.0/22', 'fd00:8::/118']
const OPTS: Omit<NodeAllocatorInit, 'self'> = { blockPrefixV4: 27, blockPrefixV6: 124, reuseCooldownMs: 20_000, lbReleaseGraceMs: 10_000 }
const RECLAIM_AFTER_MS = 60 * 60 * 1000

interface FuzzNode {
  id: string
  a: NodeAllocator
  alive: boolean
  partition: number
  deadSince: number
  tasks: Set<string>
}

interface Stats { ops: number, allocs: number, donations: number, exhausted: number, merges: number, reclaims: number, restores: number }

function run (t: ExecutionContext, seed: number, ops: number): Stats & { splitRings: number } {
  const rng: TestRng = createTestRng(seed)
  let now = 1_000
  const nodes: FuzzNode[] = []
  const holder = new Map<string, string>() // address -> node holding it
  const stats: Stats = { ops: 0, allocs: 0, donations: 0, exhausted: 0, merges: 0, reclaims: 0, restores: 0 }
  let partitioned = false
  let taskSeq = 0

  const fail = (msg: string): never => { throw new Error(`seed ${seed} op ${stats.ops}: ${msg}`) }
  const live = (): FuzzNode[] => nodes.filter((n) => n.alive)
  const peers = (n: FuzzNode): FuzzNode[] => live().filter((m) => m !== n && m.partition === n.partition)
  const hold = (n: FuzzNode, ip: string): void => {
    const h = holder.get(ip)
    if (h !== undefined) fail(`${ip} allocated by ${n.id} but held by ${h}`)
    holder.set(ip, n.id)
  }
  /** Record the LB IPs a node allocated (a dual-stack network: one per family; the IPv4 one may come without the IPv6 one when no donor had space). */
  const holdLb = (n: FuzzNode): void => {
    for (const ip of n.a.lbIps(NET)) if (holder.get(ip) !== n.id) hold(n, ip)
  }
  const merge = (to: FuzzNode, from: FuzzNode): boolean => {
    const r = to.a.mergeTokens(NET, from.a.tokens(NET), now)
    stats.merges++
    for (const x of r.renumber) {
      // only a conflict produces this; the fuzz never makes one, so it is a bug
      fail(`${to.id} told to renumber ${x.address} after merging ${from.id}`)
    }
    return r.changed
  }
  /** Run fn; on NeedSpaceError ask donors in the same partition (tokens travel only by merge). */
  const withSpace = <T>(n: FuzzNode, fn: () => T): T | undefined => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return fn()
      } catch (err) {
        const e = err as Error & { donors?: string[], family?: 4 | 6 }
        if (e.name === 'PoolExhaustedError') { stats.exhausted++; return undefined }
        if (e.name !== 'NeedSpaceError') throw err
        const reachable = new Set(peers(n).map((m) => m.id))
        const donor = (e.donors ?? []).map((id) => nodes.find((m) => m.id === id)).find((m) => m !== undefined && reachable.has(m.id) &&
          m.a.donate(NET, n.id, now, e.family) !== undefined)
        if (donor === undefined) { stats.exhausted++; return undefined }
        stats.donations++
        const freeBefore = n.a.counts(NET).free
        merge(n, donor)
        if (n.a.counts(NET).free <= freeBefore) fail(`donation by ${donor.id} gave ${n.id} no free address`)
      }
    }
    return undefined
  }
  const addNode = (id: string): FuzzNode => {
    const a = createNodeAllocator({ self: id, ...OPTS })
    const n: FuzzNode = { id, a, alive: true, partition: 0, deadSince: 0, tasks: new Set() }
    nodes.push(n)
    return n
  }

  const first = addNode('node-00')
  first.a.createNetwork(NET, SUBNETS, now)
  for (let i = 1; i < 6; i++) {
    const n = addNode(`node-0${i}`)
    n.a.addNetwork(NET, [...SUBNETS].reverse())
  }

  const checkLocal = (n: FuzzNode): void => {
    // what the node holds is what the model says it holds, and it owns each one
    const own = n.a.ownedBy(NET).owned
    const mine = n.a.allocations(NET)
    let modelCount = 0
    for (const h of holder.values()) if (h === n.id) modelCount++
    if (mine.length !== modelCount) fail(`${n.id} holds ${mine.length} addresses, model says ${modelCount}`)
    const ranges = own.map((o) => [key(o.start), key(o.end)])
    for (const x of mine) {
      if (holder.get(x.address) !== n.id) fail(`${n.id} holds ${x.address} unknown to the model`)
      const k = key(x.address)
      if (!ranges.some(([s, e]) => k >= s && k <= e)) fail(`${n.id} holds ${x.address} outside its own ranges`)
    }
    const lb = n.a.lbIp(NET)
    if (n.tasks.size > 0 && lb === undefined && n.a.counts(NET).lb !== 0) fail(`${n.id} LB bookkeeping inconsistent`)
  }

  // the last tenth runs split in two, so that the final heal has work to do
  const finalSplit = Math.floor(ops * 0.9)
  for (stats.ops = 0; stats.ops < ops; stats.ops++) {
    now += rng.int(3_000)
    if (stats.ops === finalSplit) {
      live().forEach((m, i) => { m.partition = i % 2 })
      partitioned = true
    }
    const alive = live()
    const n = rng.pick(alive)
    const r = rng.int(1000)
    if (r < 330) {
      const kind: AddressKind = rng.int(4) === 0 ? 'vip' : 'task'
      const fam = rng.int(3) === 0 ? 6 : 4
      const ip = withSpace(n, () => n.a.allocate(NET, kind, now, `o${stats.ops}`, fam))
      if (ip !== undefined) { hold(n, ip); stats.allocs++ }
    } else if (r < 560) {
      const mine = n.a.allocations(NET).filter((x) => x.kind !== 'lb')
      if (mine.length > 0) {
        const x = rng.pick(mine)
        n.a.release(NET, x.address, now)
        holder.delete(x.address)
      }
    } else if (r < 760) {
      const p = peers(n)
      if (p.length > 0) {
        const m = rng.pick(p)
        merge(n, m)
        merge(m, n)
      }
    } else if (r < 840) {
      if (n.tasks.size === 0 || rng.int(2) === 0) {
        const key = `task-${taskSeq++}`
        withSpace(n, () => n.a.localTaskAdded(NET, key, now))
        n.tasks.add(key)
        holdLb(n)
      } else {
        const key = rng.pick([...n.tasks])
        n.tasks.delete(key)
        n.a.localTaskRemoved(NET, key, now)
      }
      for (const rel of n.a.tick(now)) holder.delete(rel.ip)
    } else if (r < 870) {
      for (const m of live()) for (const rel of m.a.tick(now)) holder.delete(rel.ip)
      for (const m of live()) {
        if (m.tasks.size > 0 && m.a.lbIps(NET).length < 2) {
          withSpace(m, () => m.a.localTaskAdded(NET, [...m.tasks][0], now))
          holdLb(m)
        }
      }
    } else if (r < 925 && stats.ops >= finalSplit) {
      // no re-partitioning or healing during the final split
    } else if (r < 895) {
      const groups = 2 + rng.int(2)
      for (const m of alive) m.partition = rng.int(groups)
      partitioned = true
    } else if (r < 925) {
      for (const m of alive) m.partition = 0
      partitioned = false
    } else if (r < 955) {
      const before = { tokens: n.a.tokens(NET), allocs: n.a.allocations(NET), lb: n.a.lbIp(NET) }
      n.a = deserializeNodeAllocator(n.a.serialize(), OPTS)
      if (JSON.stringify(before) !== JSON.stringify({ tokens: n.a.tokens(NET), allocs: n.a.allocations(NET), lb: n.a.lbIp(NET) })) {
        fail(`${n.id} state changed by snapshot and restore`)
      }
      stats.restores++
    } else if (r < 965) {
      if (alive.length > 4) {
        n.alive = false
        n.deadSince = now
        for (const [ip, h] of holder) if (h === n.id) holder.delete(ip)
      }
    } else if (r < 975) {
      if (!partitioned && nodes.some((m) => !m.alive)) {
        // an hour passes; gossip converges (membership repairs it), then every
        // live node reclaims what it is heir of, and publishes by merge
        now += RECLAIM_AFTER_MS
        converge(alive, merge)
        const dead = nodes.filter((m) => !m.alive).map((m) => ({ id: m.id, deadSinceMs: m.deadSince }))
        for (const m of alive) {
          if (m.a.reclaim(NET, dead, now, alive.map((x) => x.id)).length > 0) stats.reclaims++
        }
      }
    } else if (r < 980) {
      if (nodes.length < 10) {
        const j = addNode(`node-${String(nodes.length).padStart(2, '0')}`)
        j.partition = n.partition
        j.a.addNetwork(NET, SUBNETS)
        merge(j, n)
      }
    } else {
      now += rng.int(60_000)
      for (const m of live()) for (const rel of m.a.tick(now)) holder.delete(rel.ip)
    }
    if (stats.ops % 97 === 0) for (const m of live()) checkLocal(m)
    checkDisjointOwnership(live(), fail)
  }

  // final heal: everyone converges to one ring
  const splitRings = new Set(live().map((m) => JSON.stringify(m.a.tokens(NET)))).size
  for (const m of live()) m.partition = 0
  const rounds = converge(live(), merge)
  const rings = live().map((m) => JSON.stringify(m.a.tokens(NET)))
  for (const ring of rings) if (ring !== rings[0]) fail('rings differ after the final heal')
  for (const m of live()) checkLocal(m)
  // LB invariant once grace periods ended: LB IPs in use == nodes with a local task
  now += 60_000
  for (const m of live()) for (const rel of m.a.tick(now)) holder.delete(rel.ip)
  for (const m of live()) {
    if (m.tasks.size > 0 && m.a.lbIps(NET).length < 2) {
      withSpace(m, () => m.a.localTaskAdded(NET, [...m.tasks][0], now))
      holdLb(m)
    }
  }
  const lbInUse = live().reduce((s, m) => s + m.a.counts(NET).lb, 0)
  const withTasks = live().filter((m) => m.tasks.size > 0 && m.a.lbIp(NET) !== undefined).reduce((s, m) => s + m.a.lbIps(NET).length, 0)
  const starved = live().filter((m) => m.tasks.size > 0 && m.a.lbIp(NET) === undefined).length
  t.is(lbInUse, withTasks)
  t.is(live().filter((m) => m.a.lbIp(NET) !== undefined).length + starved, live().filter((m) => m.tasks.size > 0).length)
  t.log(`seed ${seed}: ${JSON.stringify(stats)}, ${splitRings} distinct rings before the final heal, converged in ${rounds} rounds, ${live().length} live of ${nodes.length}, ${holder.size} held`)
  return { ...stats, splitRings }
}

/** Independent of the allocator's own address math: a number for any canonical address. */
function key (s: string): bigint {
  return s.includes(':') ? (1n << 128n) + BigInt(`0x${expand6(s)}`) : s.split('.').reduce((a, o) => a * 256n + BigInt(o), 0n)
}

/** No two live nodes believe they own the same address (each by its own ring). */
function checkDisjointOwnership (nodes: FuzzNode[], fail: (msg: string) => never): void {
  const claims: Array<{ s: bigint, e: bigint, id: string }> = []
  for (const n of nodes) for (const o of n.a.ownedBy(NET).owned) claims.push({ s: key(o.start), e: key(o.end), id: n.id })
  claims.sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : 0))
  for (let i = 1; i < claims.length; i++) {
    if (claims[i].s <= claims[i - 1].e) fail(`${claims[i].id} and ${claims[i - 1].id} both own from ${claims[i].s}`)
  }
}

function expand6 (s: string): string {
  const [head, tail] = s.split('::')
  const h = head === '' ? [] : head.split(':')
  const tl = tail === undefined ? [] : tail === '' ? [] : tail.split(':')
  const mid = new Array<string>(8 - h.length - tl.length).fill('0')
  return [...h, ...mid, ...tl].map((g) => g.padStart(4, '0')).join('')
}

function converge (nodes: FuzzNode[], merge: (to: FuzzNode, from: FuzzNode) => boolean): number {
  for (let round = 1; round <= 50; round++) {
    let changed = false
    for (const x of nodes) for (const y of nodes) if (x !== y && merge(x, y)) changed = true
    if (!changed) return round
  }
  throw new Error('rings did not converge in 50 rounds')
}

for (const seed of [1, 2]) {
  test(`fuzz seed ${seed}: 10,000 random ops, no address held twice, rings converge`, (t) => {
    const stats = run(t, seed, 10_000)
    t.is(stats.ops, 10_000)
    t.true(stats.donations > 0, 'donations happened')
    t.true(stats.exhausted > 0, 'the pool ran out at times')
    t.true(stats.restores > 0, 'snapshots were restored')
    t.true(stats.splitRings > 1, 'rings diverged during the final split')
  })
}
