import test from 'ava'
import { createNode, createSeededRng, resolveConfig, retransmitLimit, suspicionRemaining, suspicionTimeoutMin, type GossipNode, type MemberSnapshot, type NodeOutput, type Packet } from '@scalelb/gossip'

/**
 * The protocol's mechanics are checked at memberlist's LAN timings (probe
 * every 1 s, ack within 500 ms, suspicion multiplier 4), whose figures the
 * expectations below spell out; the lan profile's own values are checked once.
 */
const MEMBERLIST_LAN = { probeIntervalMs: 1000, probeTimeoutMs: 500, suspicionMult: 4, suspicionFloorMs: 0 }
const cfg = resolveConfig('lan', MEMBERLIST_LAN)

function snaps (ids: string[], inc = 0): MemberSnapshot[] {
  return ids.map(id => ({ id, addrs: [`mem://${id}`], state: 'alive', inc, restarting: false }))
}

/** A node `a` that knows `others`, started at t=0. */
function nodeWith (others: string[], overrides = {}, id = 'a'): GossipNode {
  const n = createNode({ id, addrs: [`mem://${id}`], cfg: resolveConfig('lan', { ...MEMBERLIST_LAN, ...overrides }), rng: createSeededRng(7) })
  n.seed(0, snaps(others))
  n.start(0)
  return n
}

/** Tick `n` at every wake-up up to `until`, collecting its output. */
function run (n: GossipNode, from: number, until: number, onOut?: (t: number, o: NodeOutput) => void): void {
  let t = from
  for (let i = 0; i < 100_000; i++) {
    const o = n.tick(t)
    onOut?.(t, o)
    if (o.wakeAt > until) return
    t = Math.max(t, o.wakeAt)
  }
}

const pings = (o: NodeOutput, t: Packet['t']): Array<{ to: string, msg: Packet }> => o.send.filter(s => s.msg.t === t)

test('formulas match memberlist (log10)', t => {
  t.is(retransmitLimit(4, 1), 4)
  t.is(retransmitLimit(4, 9), 4)
  t.is(retransmitLimit(4, 10), 8)
  t.is(retransmitLimit(4, 1000), 16)
  t.is(suspicionTimeoutMin(4, 1, 1000), 4000)
  t.is(suspicionTimeoutMin(4, 10, 1000), 4000)
  t.is(suspicionTimeoutMin(4, 1000, 1000), 12000)
  // the floor: never shorter than the longest pause a member must survive
  t.is(suspicionTimeoutMin(6, 20, 500, 6000), 6000)
  t.is(suspicionTimeoutMin(6, 1000, 500, 6000), 9000)
  t.is(suspicionRemaining(4000, 24000, 2, 0), 24000)
  t.is(suspicionRemaining(4000, 24000, 2, 2), 4000)
  const one = suspicionRemaining(4000, 24000, 2, 1)
  t.true(one > 4000 && one < 24000)
  t.is(suspicionRemaining(4000, 24000, 0, 0), 4000)
})

test('lan profile values', t => {
  const lan = resolveConfig('lan')
  t.is(lan.probeIntervalMs, 500)
  t.is(lan.probeTimeoutMs, 250)
  t.is(lan.suspicionMult, 6)
  t.is(lan.suspicionFloorMs, 6000)
  t.is(cfg.gossipIntervalMs, 200)
  t.is(cfg.gossipNodes, 3)
  t.is(cfg.indirectChecks, 3)
  t.is(cfg.suspicionMaxTimeoutMult, 6)
  t.throws(() => resolveConfig('lan', { probeIntervalMs: -1 }), { name: 'InvalidGossipConfigError', message: /probeIntervalMs/ })
  t.throws(() => resolveConfig('lan', { bogus: 1 } as never), { name: 'InvalidGossipConfigError', message: /bogus/ })
  // an inherited property name is not an option either
  t.throws(() => resolveConfig('lan', { toString: 1 } as never), { name: 'InvalidGossipConfigError', message: /toString/ })
})

test('a silent member is probed, indirectly probed by 3 helpers, suspected, then declared dead', t => {
  const others = ['b', 'c', 'd', 'e', 'f', 'g']
  const n = nodeWith(others)
  let firstPing: { t: number, to: string, seq: number } | undefined
  const pingReqs: Array<{ t: number, to: string }> = []
  let suspectAt: number | undefined
  let deadAt: number | undefined
  n.onMember(ev => {
    if (ev.member.id !== firstPing?.to) return
    if (ev.member.state === 'suspect') suspectAt ??= n.member(ev.member.id)?.since
    if (ev.member.state === 'dead') deadAt ??= ev.member.since
  })
  // everyone but the first probe target answers every ping
  run(n, 0, 60_000, (now, o) => {
    for (const p of pings(o, 'ping')) {
      if (firstPing === undefined) firstPing = { t: now, to: p.to, seq: p.msg.seq as number }
      if (p.to !== firstPing.to) n.handle(now, p.to, { t: 'ack', seq: p.msg.seq as number })
    }
    for (const p of pings(o, 'ping-req')) if (p.msg.target === firstPing?.to) pingReqs.push({ t: now, to: p.to })
  })
  t.truthy(firstPing)
  const fp = firstPing as { t: number, to: string }
  const reqs = pingReqs.filter(r => r.t < fp.t + 1000)
  t.is(reqs.length, 3, 'three indirect probes')
  t.true(reqs.every(r => r.t === fp.t + 500 && r.to !== fp.to))
  t.is(suspectAt, fp.t + 1000, 'suspected when the probe round ends')
  // n = 7 live: min = 4 * max(1, log10 7) * 1 s = 4 s; k = 2; max = 24 s; other probe failures of a
  // single node are not independent confirmations, so the timeout is the max
  t.is(deadAt, (suspectAt as number) + 24_000)
})

test('independent confirmations shrink the suspicion timeout to the minimum (Lifeguard)', t => {
  const n = nodeWith(['b', 'c', 'd', 'e', 'f', 'g'])
  n.handle(1000, 'c', { t: 'gossip', mb: [{ k: 'suspect', id: 'b', inc: 0, from: 'c' }] })
  t.is(n.member('b')?.state, 'suspect')
  n.handle(1100, 'd', { t: 'gossip', mb: [{ k: 'suspect', id: 'b', inc: 0, from: 'd' }] })
  // a repeated confirmation from the same node does not count
  n.handle(1150, 'd', { t: 'gossip', mb: [{ k: 'suspect', id: 'b', inc: 0, from: 'd' }] })
  n.handle(1200, 'e', { t: 'gossip', mb: [{ k: 'suspect', id: 'b', inc: 0, from: 'e' }] })
  // min = 4 s from the start of the suspicion
  n.tick(4999)
  t.is(n.member('b')?.state, 'suspect')
  n.tick(5000)
  t.is(n.member('b')?.state, 'dead')
})

test('a suspected node refutes with a higher incarnation', t => {
  const n = nodeWith(['b', 'c'])
  t.is(n.incarnation(), 0)
  const before = n.health()
  const o = n.handle(10, 'b', { t: 'gossip', mb: [{ k: 'suspect', id: 'a', inc: 0, from: 'b' }] })
  t.is(n.incarnation(), 1)
  t.true(n.health() > before, 'refuting raises the local health score')
  // the refutation rides on the next packets
  const out = n.tick(10_000)
  const carried = [...o.send, ...out.send].flatMap(s => s.msg.mb ?? [])
  t.true(carried.some(u => u.k === 'alive' && u.id === 'a' && u.inc === 1))
  // and peers accept it over their suspicion
  const m = nodeWith(['a', 'c'], {}, 'm')
  m.handle(0, 'c', { t: 'gossip', mb: [{ k: 'suspect', id: 'a', inc: 0, from: 'c' }] })
  t.is(m.member('a')?.state, 'suspect')
  m.handle(5, 'a', { t: 'gossip', mb: [{ k: 'alive', id: 'a', inc: 0 }] })
  t.is(m.member('a')?.state, 'suspect', 'same incarnation does not clear suspicion')
  m.handle(10, 'a', { t: 'gossip', mb: [{ k: 'alive', id: 'a', inc: 1 }] })
  t.is(m.member('a')?.state, 'alive')
})

test('buddy ping: a probe of a suspect tells it at once', t => {
  const n = nodeWith(['b'])
  n.handle(0, 'c', { t: 'gossip', mb: [{ k: 'suspect', id: 'b', inc: 0, from: 'c' }] })
  let buddy: Packet | undefined
  run(n, 0, 5000, (_now, o) => { for (const p of pings(o, 'ping')) buddy ??= p.msg })
  t.truthy(buddy)
  t.deepEqual(buddy?.mb?.[0], { k: 'suspect', id: 'b', inc: 0, from: 'a' })
})

test('local health: failed probes without nacks raise it, acks lower it', t => {
  const n = nodeWith(['b', 'c', 'd', 'e'])
  run(n, 0, 3500)
  // each failed round adds the number of missing nacks (3 helpers, none answered)
  t.true(n.health() >= 3, `health ${n.health()} after unanswered probes`)
  let before: number | undefined
  let count = 0
  run(n, 3500, 13_500, (now, o) => {
    for (const p of pings(o, 'ping')) {
      before ??= n.health()
      count++
      n.handle(now, p.to, { t: 'ack', seq: p.msg.seq as number })
    }
  })
  t.true(before !== undefined && n.health() < before, 'acks lower the score')
  // probe intervals stretch with the score: 1 s at health 0, here (health + 1) s
  t.true(count <= 5, `probed ${count} times in 10 s with a raised score`)
})

test('a member that announced a restart stays live through the grace, then is failed', t => {
  const n = nodeWith(['b', 'c', 'd'])
  n.handle(100, 'b', { t: 'gossip', mb: [{ k: 'alive', id: 'b', inc: 1, restarting: true }] })
  t.true(n.member('b')?.restarting)
  n.handle(200, 'c', { t: 'gossip', mb: [{ k: 'dead', id: 'b', inc: 1, from: 'c' }] })
  n.handle(200, 'c', { t: 'gossip', mb: [{ k: 'suspect', id: 'b', inc: 1, from: 'c' }] })
  t.is(n.member('b')?.state, 'alive', 'peers keep it live')
  n.tick(30_099)
  t.is(n.member('b')?.state, 'alive')
  n.tick(30_100)
  t.is(n.member('b')?.state, 'dead', 'failed when it did not come back within restartGrace')
  // it comes back with a higher incarnation
  n.handle(40_000, 'b', { t: 'gossip', mb: [{ k: 'alive', id: 'b', inc: 2 }] })
  t.is(n.member('b')?.state, 'alive')
  t.false(n.member('b')?.restarting)
})

test('a restarted node with the same ID refutes its old incarnation', t => {
  const n = createNode({ id: 'a', addrs: ['mem://a'], cfg, rng: createSeededRng(1) })
  n.start(0)
  // a peer remembers us at incarnation 5, restarting
  n.handleResponse(10, 'b', { t: 'push-pull', members: [{ id: 'a', addrs: [], state: 'alive', inc: 5, restarting: true }, { id: 'b', addrs: ['mem://b'], state: 'alive', inc: 0, restarting: false }] })
  t.is(n.incarnation(), 6)
  t.is(n.member('b')?.state, 'alive')
})

test('left members stay left; dead members are remembered for reconnectTimeout and re-dialled', t => {
  const n = nodeWith(['b', 'c', 'd'], { reconnectTimeoutMs: 60_000, reconnectIntervalMs: 1000, pushPullIntervalMs: 0 })
  n.handle(10, 'b', { t: 'gossip', mb: [{ k: 'left', id: 'b', inc: 0 }] })
  t.is(n.member('b')?.state, 'left')
  n.handle(11, 'c', { t: 'gossip', mb: [{ k: 'alive', id: 'b', inc: 0 }] })
  t.is(n.member('b')?.state, 'left', 'a stale alive does not revive a left member')
  n.handle(20, 'd', { t: 'gossip', mb: [{ k: 'dead', id: 'c', inc: 0, from: 'd' }] })
  t.is(n.member('c')?.state, 'dead')
  const redials: string[] = []
  run(n, 20, 50_000, (now, o) => {
    for (const r of o.requests) if (r.req.t === 'push-pull') redials.push(r.to)
    for (const p of pings(o, 'ping')) n.handle(now, p.to, { t: 'ack', seq: p.msg.seq as number })
  })
  t.true(redials.length > 0 && redials.every(id => id === 'c'), `redials: ${redials.join(',')}`)
  t.truthy(n.member('c'), 'still remembered before reconnectTimeout')
  run(n, 50_000, 75_000, (now, o) => { for (const p of pings(o, 'ping')) n.handle(now, p.to, { t: 'ack', seq: p.msg.seq as number }) })
  t.is(n.member('c'), undefined, 'forgotten after reconnectTimeout')
  t.is(n.member('b'), undefined)
})

test('a member held dead that talks to us gets a push-pull (healed partition), at most once per reconnect interval', t => {
  const n = nodeWith(['b', 'c'])
  n.handle(0, 'c', { t: 'gossip', mb: [{ k: 'dead', id: 'b', inc: 0, from: 'c' }] })
  t.is(n.member('b')?.state, 'dead')
  const o1 = n.handle(100, 'b', { t: 'gossip' })
  t.deepEqual(o1.requests.map(r => [r.to, r.req.t]), [['b', 'push-pull']])
  t.deepEqual(n.handle(200, 'b', { t: 'gossip' }).requests, [])
  // b's state says it is alive at a higher incarnation (it refuted): it is alive again here
  n.handleResponse(300, 'b', { t: 'push-pull', members: [{ id: 'b', addrs: ['mem://b'], state: 'alive', inc: 1, restarting: false }] })
  t.is(n.member('b')?.state, 'alive')
  t.deepEqual(n.handle(400, 'c', { t: 'gossip' }).requests, [], 'live senders trigger nothing')
})

test('local health scales the probe timeout too: a node with score h waits (h + 1) x probeTimeout before indirect probes; buddy: a suspect is told in the probe', t => {
  const n = nodeWith(['b', 'c', 'd', 'e'])
  run(n, 0, 3500)
  const h = n.health()
  t.true(h >= 3)
  // the next direct ping, then when its ping-reqs go out
  let pingAt: number | undefined
  let pingReqAt: number | undefined
  let target: string | undefined
  let hAt = -1
  run(n, 3500, 20_000, (now, o) => {
    for (const p of pings(o, 'ping')) if (pingAt === undefined) { pingAt = now; target = p.to; hAt = n.health() }
    if (pingAt !== undefined && pingReqAt === undefined && pings(o, 'ping-req').some(p => p.msg.target === target)) pingReqAt = now
  })
  t.true(pingAt !== undefined && pingReqAt !== undefined)
  t.true(hAt >= 1)
  t.is((pingReqAt as number) - (pingAt as number), cfg.probeTimeoutMs * (hAt + 1), `health ${hAt}`)
  // every member is suspect by now: each probe carries the suspicion of its target first
  const o = n.tick(40_000)
  for (const p of pings(o, 'ping')) t.like(p.msg.mb?.[0], { k: 'suspect', id: p.to })
})

/** Tick `n` at every wake-up from `from` up to `until`, every member answering its pings at once. */
function runAnswered (n: GossipNode, from: number, until: number): void {
  let t = from
  for (let i = 0; i < 100_000; i++) {
    const o = n.tick(t)
    for (const p of pings(o, 'ping')) n.handle(t, p.to, { t: 'ack', seq: p.msg.seq as number })
    if (o.wakeAt > until) return
    t = Math.max(t, o.wakeAt)
  }
}

test('a node that stalled passes no verdict before reading what arrived meanwhile: a suspicion due during the stall waits one probe interval, once', t => {
  const stalledRun = (refute: boolean): string | undefined => {
    // suspicionMult 2: k = 0, so the timeout is min = 2 s from the start
    const n = nodeWith(['b', 'c', 'd', 'e', 'f', 'g'], { suspicionMult: 2 })
    runAnswered(n, 0, 1000)
    n.handle(1000, 'c', { t: 'gossip', mb: [{ k: 'suspect', id: 'b', inc: 0, from: 'c' }] })
    runAnswered(n, 1000, 2000)
    t.is(n.member('b')?.state, 'suspect')
    // paused from 2 s to 6 s: the verdict due at 3 s is put off to 7 s, not passed at once
    n.tick(6000)
    t.is(n.member('b')?.state, 'suspect', 'no verdict on the first tick after the stall')
    // the refutation that arrived during the stall is read now
    if (refute) n.handle(6000, 'b', { t: 'gossip', mb: [{ k: 'alive', id: 'b', inc: 1 }] })
    runAnswered(n, 6000, 9000)
    return n.member('b')?.state
  }
  t.is(stalledRun(true), 'alive')
  // without a refutation the verdict comes one probe interval later
  t.is(stalledRun(false), 'dead')
})

test('a helper nacks within the probe timeout, so its nack reaches the prober before the round ends and a crashed target costs the prober no health', t => {
  const n = nodeWith(['b', 'c', 'd', 'e'])
  // a asks helper-side: c is asked to probe b for d
  const o = n.handle(0, 'd', { t: 'ping-req', seq: 9, target: 'b' })
  t.is(pings(o, 'ping').length, 1)
  let nackAt: number | undefined
  let tt = 0
  for (let i = 0; i < 100 && nackAt === undefined; i++) {
    const out = n.tick(tt)
    if (out.send.some(s => s.msg.t === 'nack' && s.to === 'd')) nackAt = tt
    tt = Math.max(tt + 1, out.wakeAt)
  }
  t.is(nackAt, Math.floor(cfg.probeTimeoutMs * 0.8))
})
