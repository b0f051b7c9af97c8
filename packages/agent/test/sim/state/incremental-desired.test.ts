import { isDeepStrictEqual } from 'node:util'
import test from 'ava'
import { createSeededRng, type Gossip, type Rng } from '@scalelb/gossip'
import { computeDesired, type DesiredResult } from '../../../src/state/desired.js'
import { readDesiredInputFull } from '../../../src/state/full-read.js'
import { createTablesView } from '../../../src/state/view.js'
import { pump } from '@scalelb/test-support'
import { startCluster } from '../../support/gossip-cluster.js'
import { TABLE_ENDPOINTS, TABLE_NETWORKS, TABLE_NODES, TABLE_SERVICES, lbEndpointKey, networkScope, taskEndpointKey } from '../../../src/state/tables.js'

const IDS = ['a', 'b', 'c'] as const
const SELF = 'a'
const UNDERLAY = '192.168.50.1'
const NETS = ['n1', 'n2', 'n3']
const SVCS = ['s1', 's2', 's3', 's4', 's5']
const TASKS = ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8']
const MACS = ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03']

function pick<T> (rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng.next() * xs.length)] as T
}

/** Subnet of a network: two variants, so a network update can move addresses in or out. */
function subnetOf (rng: Rng, n: string): string[] {
  const i = NETS.indexOf(n) + 1
  return rng.next() < 0.8 ? [`10.${i}.0.0/24`] : [`10.${i}.0.0/25`, `fd00:${i}::/64`]
}

/**
 * A network `m` of `a` takes a piece of network `n`'s /24, created later (as
 * two nodes creating networks in a partition): `m` is conflicted while `n` exists.
 */
function conflictWrite (rng: Rng, g: Map<string, Gossip>): string {
  const writer = pick(rng, IDS)
  const joined = NETS.filter((x) => (g.get(SELF) as Gossip).scopes().includes(networkScope(x)))
  const m = pick(rng, joined.length > 0 ? joined : NETS)
  const n = pick(rng, NETS.filter((x) => x !== m))
  const subnets = [`10.${NETS.indexOf(m) + 1}.0.0/25`, `10.${NETS.indexOf(n) + 1}.0.128/26`]
  ;(g.get(writer) as Gossip).set('cluster', TABLE_NETWORKS, m, { name: `net-${m}`, subnets, vni: 100, options: {}, createdMs: 3 })
  return `${writer} sets network ${m} overlapping ${n}`
}

function ipIn (rng: Rng, n: string): string {
  return `10.${NETS.indexOf(n) + 1}.0.${1 + Math.floor(rng.next() * 160)}`
}

/** One random table write by one node (sometimes an invalid value). */
function randomWrite (rng: Rng, g: Map<string, Gossip>): string {
  const writer = pick(rng, IDS)
  const gw = g.get(writer) as Gossip
  const r = rng.next()
  const bad = rng.next() < 0.08
  if (r < 0.12) {
    const n = pick(rng, NETS)
    if (rng.next() < 0.2) {
      gw.delete('cluster', TABLE_NETWORKS, n)
      return `${writer} deletes network ${n}`
    }
    gw.set('cluster', TABLE_NETWORKS, n, bad ? { name: n, subnets: ['nope'], vni: 1 } : { name: `net-${n}`, subnets: subnetOf(rng, n), vni: 100 + Math.floor(rng.next() * 3), options: {}, createdMs: Math.floor(rng.next() * 3) })
    return `${writer} sets network ${n}${bad ? ' (invalid)' : ''}`
  }
  if (r < 0.3) {
    const s = pick(rng, SVCS)
    if (rng.next() < 0.15) {
      gw.delete('cluster', TABLE_SERVICES, s)
      return `${writer} deletes service ${s}`
    }
    const vips: Record<string, string> = {}
    for (const n of NETS) if (rng.next() < 0.6) vips[n] = rng.next() < 0.1 ? `10.${NETS.indexOf(n) + 1}.0.5` : `10.${NETS.indexOf(n) + 1}.0.${200 + SVCS.indexOf(s)}`
    const ports = [{ proto: rng.next() < 0.5 ? 'tcp' : 'udp', port: 80 + Math.floor(rng.next() * 2), targetPort: 8080 }]
    gw.set('cluster', TABLE_SERVICES, s, bad ? { name: s, ports: [{ proto: 'sctp', port: 1, targetPort: 1 }], vips } : { name: `svc-${s}`, ports, vips })
    return `${writer} sets service ${s}${bad ? ' (invalid)' : ''}`
  }
  if (r < 0.36) {
    const id = pick(rng, IDS)
    const underlay = rng.next() < 0.2 ? '0.0.0.0' : `192.168.50.${1 + Math.floor(rng.next() * 3)}`
    if (rng.next() < 0.1) {
      gw.delete('cluster', TABLE_NODES, id)
      return `${writer} deletes node ${id}`
    }
    gw.set('cluster', TABLE_NODES, id, bad ? { underlay: 'x', version: '1' } : { underlay, version: '0.1.0' })
    return `${writer} sets node ${id}`
  }
  if (r < 0.46) {
    const scope = networkScope(pick(rng, NETS))
    if (gw.scopes().includes(scope)) {
      gw.leaveScope(scope)
      return `${writer} leaves ${scope}`
    }
    gw.joinScope(scope)
    return `${writer} joins ${scope}`
  }
  // endpoint writes: only in a scope the writer joined
  const scopes = gw.scopes().filter((s) => s !== 'cluster') as Array<`network:${string}`>
  if (scopes.length === 0) {
    gw.joinScope(networkScope(pick(rng, NETS)))
    return `${writer} joins a first scope`
  }
  const scope = pick(rng, scopes)
  const n = scope.slice('network:'.length)
  if (rng.next() < 0.15) {
    const v = { kind: 'lb', ip: ipIn(rng, n), mac: pick(rng, MACS), node: writer, state: 'ready', originMs: 1 }
    gw.set(scope, TABLE_ENDPOINTS, lbEndpointKey(writer), bad ? { ...v, mac: 'zz' } : v)
    return `${writer} sets its LB in ${scope}`
  }
  const key = taskEndpointKey(writer, pick(rng, TASKS))
  if (rng.next() < 0.25) {
    gw.delete(scope, TABLE_ENDPOINTS, key)
    return `${writer} deletes ${key} in ${scope}`
  }
  const v: Record<string, unknown> = {
    kind: 'task', service: pick(rng, SVCS), ip: ipIn(rng, n), mac: pick(rng, MACS), node: bad ? 'someone-else' : writer,
    state: rng.next() < 0.2 ? 'draining' : 'ready', originMs: Math.floor(rng.next() * 1000)
  }
  if (rng.next() < 0.3) v.weight = Math.floor(rng.next() * 4)
  if (writer === SELF && rng.next() < 0.5) v.netns = `/run/netns/${key}`
  // an endpoint-only task (a container on the network, backend of nothing)
  if (rng.next() < 0.15) delete v.service
  gw.set(scope, TABLE_ENDPOINTS, key, v)
  return `${writer} sets ${key} in ${scope}${bad ? ' (invalid)' : ''}`
}

/** Every spec that equals the previous one for the same service is the same object. */
function identityKept (prev: DesiredResult | undefined, cur: DesiredResult): string | undefined {
  if (prev === undefined) return undefined
  for (const [id, d] of cur.desired) {
    const p = prev.desired.get(id)
    if (p === undefined) continue
    if (isDeepStrictEqual(p, d) && p !== d) return `network ${id} equal but a new object`
    const old = new Map(p.sandbox.services.map((s) => [s.id, s]))
    for (const s of d.sandbox.services) {
      const o = old.get(s.id)
      if (o !== undefined && o !== s && isDeepStrictEqual(o, s)) return `service ${s.id} on ${id} equal but a new object`
    }
  }
  return undefined
}

for (const seed of [1, 2, 3]) {
  test(`incremental desired state equals the from-scratch computation after every change (seed ${seed}, real gossip on a memory network)`, async (t) => {
    const { clock, net, g, get, stop } = await startCluster(IDS, seed)
    t.teardown(stop)
    const a = get(SELF)
    const invalid: string[] = []
    const view = createTablesView(a, (table, reason) => invalid.push(`${table}: ${reason}`))
    t.teardown(() => view.close())
    const rng = createSeededRng(`steps:${seed}`)
    let events = 0
    a.onEntry(() => { events++ })
    let prev: DesiredResult | undefined
    let lastStep = 'start'
    let checks = 0
    let nonEmpty = 0
    let conflicted = 0
    let bad: string | undefined
    const check = (): boolean => {
      const inc = view.desired(SELF, UNDERLAY)
      const ref = computeDesired(readDesiredInputFull(a, SELF, UNDERLAY))
      checks++
      if (inc.desired.size > 0) nonEmpty++
      if (ref.skipped.some((x) => x.reason === 'subnet-conflict')) conflicted++
      if (!isDeepStrictEqual(inc, ref)) {
        bad = `after "${lastStep}"`
        t.deepEqual(inc, ref, bad)
        return false
      }
      const lost = identityKept(prev, inc)
      if (lost !== undefined) {
        bad = `after "${lastStep}": ${lost}`
        return false
      }
      prev = inc
      return true
    }
    let victim: string | undefined
    for (let step = 0; step < 300 && bad === undefined; step++) {
      const r = rng.next()
      if (r < 0.03 && victim === undefined) {
        // a member fails: its entries go suspended on `a` (and are reaped later if it stays away)
        victim = pick(rng, IDS.slice(1))
        net.partition([victim], IDS.filter((x) => x !== victim))
        lastStep = `partition ${victim}`
        const v = victim
        await pump(clock, 20_000, { each: check, until: () => a.members().find((m) => m.id === v)?.state === 'dead' })
        continue
      }
      if (r < 0.08 && victim !== undefined) {
        net.heal()
        lastStep = `heal ${victim}`
        victim = undefined
        await pump(clock, 3000, { each: check })
        continue
      }
      lastStep = step % 100 === 50 ? conflictWrite(rng, g) : randomWrite(rng, g)
      if (!check()) break
      await pump(clock, Math.floor(rng.next() * 400), { each: check })
    }
    t.is(bad, undefined, bad)
    t.true(checks > 300, `compared ${checks} times`)
    t.true(nonEmpty > checks / 10, `a desired state with networks was compared ${nonEmpty} times (the run exercises programming)`)
    t.true(conflicted > 0, 'networks with local tasks were in a subnet conflict')
    t.true(invalid.length > 0, 'invalid values were written and counted')
    t.log(`${events} entry events, ${checks} comparisons, ${nonEmpty} with programmed networks, ${conflicted} with a subnet conflict, ${invalid.length} invalid versions`)
  })
}
