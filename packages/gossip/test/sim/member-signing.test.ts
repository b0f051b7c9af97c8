// Signed membership (issue 10, trust between members): a member holding the
// cluster PSK cannot state `alive` or `left` for another node; suspect/dead
// claims stay unsigned and are refuted by the node's own signed alive.
import test from 'ava'
import { createKeyDirectory, createNode, createSeededRng, decodePacket, decodeRequest, decodeResponse, encodeFrame, resolveConfig, type GossipNode, type Keyring, type MemberSnapshot, type MemberUpdate, type Packet } from '@scalelb/gossip'
import { inject, injectRequest, startCluster, type Cluster } from '../support/cluster.js'
import { pumpUntil } from '@scalelb/test-support'
import { memberSigBytes } from '../../src/membership/signing.js'
import { Sim, type SimNode } from '../../src/sim/engine.js'
import { failure } from '../../src/sim/scenarios.js'

/** `u` signed with `keys` (the subject's key: genuine; anyone else's: forged). */
function signedBy (keys: Keyring, u: MemberUpdate): MemberUpdate {
  return { ...u, sig: keys.sign(memberSigBytes(u)) }
}

const dropped = (c: Cluster, id: string, reason: string): number => c.get(id).stats().dropped[reason] ?? 0

test('a forged left for b (unsigned, signed by the forger, far ahead) is refused and counted on every node; b stays alive', async t => {
  const ids = ['a', 'b', 'c', 'm']
  const c = await startCluster(t, ids, 21, createKeyDirectory())
  const inc = c.view('a', 'b')!.incarnation
  const mKeys = c.keyring('m')!
  inject(c, 'm', ['a', 'b', 'c'], { t: 'gossip', mb: [{ k: 'left', id: 'b', inc }] })
  inject(c, 'm', ['a', 'b', 'c'], { t: 'gossip', mb: [signedBy(mKeys, { k: 'left', id: 'b', inc: inc + 1 })] })
  // the furthest a claim may jump: only the signature keeps it out
  inject(c, 'm', ['a', 'b', 'c'], { t: 'gossip', mb: [signedBy(mKeys, { k: 'left', id: 'b', inc: inc + 2 ** 20 })] })
  await pumpUntil(c.clock, () => false, 500)
  for (const id of ['a', 'b', 'c']) {
    t.is(dropped(c, id, 'member-unsigned'), 1, `${id} counted the unsigned left`)
    t.is(dropped(c, id, 'member-bad-signature'), 2, `${id} counted both forged signatures`)
  }
  for (const id of ['a', 'c', 'm']) t.is(c.view(id, 'b')?.state, 'alive', `${id} sees b alive`)
  t.is(c.view('b', 'b')!.incarnation, inc, 'b had nothing to refute')
  // b itself can still leave: its own signed left is taken everywhere
  const leaving = c.get('b').leave()
  await pumpUntil(c.clock, () => false, 300)
  await leaving
  t.true(await pumpUntil(c.clock, () => ['a', 'c', 'm'].every(id => c.view(id, 'b')?.state === 'left'), 5000), 'b\'s own leave reaches everyone')
  await c.stop()
})

test('a forged left through a push-pull snapshot leaves that member out; the rest of the snapshot is merged', async t => {
  const ids = ['a', 'b', 'c', 'm']
  const c = await startCluster(t, ids, 22, createKeyDirectory())
  const inc = c.view('a', 'b')!.incarnation
  const mInc = c.view('a', 'm')!.incarnation
  const mKeys = c.keyring('m')!
  const bAlive = signedBy(c.keyring('b')!, { k: 'alive', id: 'b', inc, addrs: ['mem://b'] })
  // m's own alive at a higher incarnation (its word: taken), plus three forgeries about b and one about a stranger
  const mAlive = signedBy(mKeys, { k: 'alive', id: 'm', inc: mInc + 5, addrs: ['mem://m'] })
  const members: MemberSnapshot[] = [
    { id: 'm', addrs: ['mem://m'], state: 'alive', inc: mInc + 5, restarting: false, sig: mAlive.sig! },
    { id: 'b', addrs: [], state: 'left', inc: inc + 1, restarting: false },
    { id: 'z', addrs: ['mem://z'], state: 'alive', inc: 0, restarting: false }
  ]
  injectRequest(c, 'm', ['a', 'c'], { t: 'push-pull', join: false, members })
  // b's genuine alive signature does not cover a left
  injectRequest(c, 'm', ['a', 'c'], { t: 'push-pull', join: false, members: [{ id: 'b', addrs: [], state: 'left', inc, restarting: false, sig: bAlive.sig! }] })
  injectRequest(c, 'm', ['a', 'c'], { t: 'push-pull', join: false, members: [{ id: 'b', addrs: [], state: 'left', inc: inc + 1000, restarting: false, sig: signedBy(mKeys, { k: 'left', id: 'b', inc: inc + 1000 }).sig! }] })
  await pumpUntil(c.clock, () => false, 500)
  for (const id of ['a', 'c']) {
    t.is(c.view(id, 'b')?.state, 'alive', `${id} keeps b alive`)
    // (m itself refutes the higher incarnation: its own word it does not remember)
    t.true(c.view(id, 'm')!.incarnation >= mInc + 5, `${id} merged the rest of the snapshot`)
    t.is(c.view(id, 'z'), undefined, `${id} did not learn an unsigned stranger`)
    t.is(dropped(c, id, 'member-unsigned'), 2, `${id}: the unsigned left and the unsigned stranger`)
    t.is(dropped(c, id, 'member-bad-signature'), 2, `${id}: the alive signature on a left, m's signature`)
  }
  await c.stop()
})

test('a forged alive for b with other addresses is refused; b\'s addresses and incarnation are unchanged everywhere', async t => {
  const ids = ['a', 'b', 'c', 'm']
  const c = await startCluster(t, ids, 23, createKeyDirectory())
  const inc = c.view('a', 'b')!.incarnation
  const evil = ['mem://m']
  // unsigned; signed by m; b's real signature on other addresses (tampered in relay)
  const tampered = { ...signedBy(c.keyring('b')!, { k: 'alive' as const, id: 'b', inc: inc + 1, addrs: ['mem://b'] }), addrs: evil }
  inject(c, 'm', ['a', 'b', 'c'], { t: 'gossip', mb: [{ k: 'alive', id: 'b', inc: inc + 1, addrs: evil }] })
  inject(c, 'm', ['a', 'b', 'c'], { t: 'gossip', mb: [signedBy(c.keyring('m')!, { k: 'alive', id: 'b', inc: inc + 2, addrs: evil })] })
  inject(c, 'm', ['a', 'b', 'c'], { t: 'gossip', mb: [tampered] })
  injectRequest(c, 'm', ['a', 'c'], { t: 'push-pull', join: false, members: [{ id: 'b', addrs: evil, state: 'alive', inc: inc + 3, restarting: false }] })
  await pumpUntil(c.clock, () => false, 500)
  for (const id of ['a', 'c']) {
    t.deepEqual(c.view(id, 'b')?.addrs, ['mem://b'], `${id} keeps b's addresses`)
    t.is(c.view(id, 'b')?.incarnation, inc)
    t.is(dropped(c, id, 'member-unsigned'), 2)
    t.is(dropped(c, id, 'member-bad-signature'), 2)
  }
  t.is(c.view('b', 'b')!.incarnation, inc, 'b refuted nothing: nobody took the claims')
  t.is(dropped(c, 'b', 'member-unsigned') + dropped(c, 'b', 'member-bad-signature'), 3, 'b counted the claims about itself')
  await c.stop()
})

test('a forged dead for b as far ahead as the bound allows: b refutes with a signed alive that every node takes', async t => {
  const ids = ['a', 'b', 'c', 'd', 'm']
  const c = await startCluster(t, ids, 24, createKeyDirectory())
  const inc = c.view('a', 'b')!.incarnation
  const claim = inc + 2 ** 20
  let taken = 0
  for (const id of ['a', 'c', 'd']) c.get(id).onMember(ev => { if (ev.member.id === 'b' && ev.member.state === 'dead') taken++ })
  // b is not told: it learns of the claim only from the nodes that took it
  inject(c, 'm', ['a', 'c', 'd'], { t: 'gossip', mb: [{ k: 'dead', id: 'b', inc: claim, from: 'm' }] })
  const refuted = (): boolean => ['a', 'c', 'd', 'm'].every(id => c.view(id, 'b')?.state === 'alive' && c.view(id, 'b')!.incarnation > claim)
  t.true(await pumpUntil(c.clock, refuted, 10_000), 'every node sees b alive above the claim')
  t.is(taken, 3, 'the claim was taken first (unsigned, within the bound)')
  for (const id of ids) t.is(dropped(c, id, 'member-unsigned') + dropped(c, id, 'member-bad-signature'), 0, `${id} took b's refutation as signed`)
  await c.stop()
})

test('a restarted node (same key) is taken back, with a higher incarnation or after losing it; another key under its ID is not', async t => {
  const ids = ['a', 'b', 'c']
  const c = await startCluster(t, ids, 25, createKeyDirectory())
  const others = ['a', 'c']
  const backAbove = (inc: number) => (): boolean => others.every(id => c.view(id, 'b')?.state === 'alive' && !c.view(id, 'b')!.restarting && c.view(id, 'b')!.incarnation > inc)
  const restart = async (gen: number, incarnation: number): Promise<void> => {
    const b = c.make('b', gen, incarnation)
    c.g.set('b', b)
    await b.start()
    const j = b.join(['mem://a'])
    await pumpUntil(c.clock, () => false, 100)
    t.is(await j, 1)
  }
  // 1. announced restart, back with the next incarnation (as the agent does)
  const stopping = c.get('b').stop({ restart: true })
  await pumpUntil(c.clock, () => false, 200)
  await stopping
  const inc1 = c.view('a', 'b')!.incarnation
  t.true(c.view('a', 'b')!.restarting, 'the signed restart announcement was taken')
  await restart(1, inc1 + 1)
  t.true(await pumpUntil(c.clock, backAbove(inc1), 10_000), 'alive again at the next incarnation')
  // 2. crash, back at incarnation 0: it refutes its own earlier signed alive
  const inc2 = c.view('a', 'b')!.incarnation
  await c.get('b').stop()
  await restart(2, 0)
  t.true(await pumpUntil(c.clock, backAbove(inc2), 10_000), 'alive again above its old incarnation')
  for (const id of ids) t.is(dropped(c, id, 'member-unsigned') + dropped(c, id, 'member-bad-signature'), 0)
  // 3. an impostor with another key under b's ID: its alive is refused, b's addresses stay
  const inc3 = c.view('a', 'b')!.incarnation
  const impostor = createKeyDirectory().add('b')
  const fake: Packet = { t: 'gossip', mb: [signedBy(impostor, { k: 'alive', id: 'b', inc: inc3 + 1, addrs: ['mem://c'] })] }
  inject(c, 'c', ['a'], fake)
  inject(c, 'a', ['c'], fake)
  await pumpUntil(c.clock, () => false, 200)
  for (const id of others) {
    t.is(c.view(id, 'b')!.incarnation, inc3)
    t.deepEqual(c.view(id, 'b')!.addrs, ['mem://b'])
    t.is(dropped(c, id, 'member-bad-signature'), 1)
  }
  await c.stop()
})

/** Sans-IO nodes with keys from one directory; `knows` seeds them with each other (unsigned, as a local list). */
function signedNodes (ids: string[], knows: Record<string, string[]>): Map<string, GossipNode> {
  const dir = createKeyDirectory()
  const cfg = resolveConfig('lan', { pushPullIntervalMs: 0 })
  const nodes = new Map<string, GossipNode>()
  for (const id of ids) {
    const n = createNode({ id, addrs: [`mem://${id}`], cfg, rng: createSeededRng(id), keyring: dir.add(id) })
    n.seed(0, (knows[id] ?? []).map(o => ({ id: o, addrs: [`mem://${o}`], state: 'alive', inc: 0, restarting: false })))
    n.start(0)
    nodes.set(id, n)
  }
  return nodes
}

/** Tick `from` until it sends `to` a packet carrying a member update about `about`; deliver it encoded. */
function relay (nodes: Map<string, GossipNode>, from: string, to: string, about: string, now: number): MemberUpdate | undefined {
  const src = nodes.get(from) as GossipNode
  for (let t = now; t < now + 5000; t += 50) {
    const hit = src.tick(t).send.find(s => s.to === to && s.msg.mb?.some(u => u.id === about))
    if (hit === undefined) continue
    const bytes = encodeFrame(hit.msg)
    ;(nodes.get(to) as GossipNode).receive(t, from, bytes)
    const r = decodePacket(bytes, 65536)
    return r.ok ? r.value.mb?.find(u => u.id === about) : undefined
  }
  return undefined
}

test('a signed alive reaches c only through b, with a\'s signature unchanged, by gossip and by push-pull', t => {
  // a and c never talk: c knows only b
  const nodes = signedNodes(['a', 'b', 'c', 'd'], { a: ['b'], b: ['a', 'c'] })
  const a = nodes.get('a') as GossipNode
  a.setAddrs(['mem://a-moved'])
  const first = relay(nodes, 'a', 'b', 'a', 10)
  t.is(first?.inc, 1)
  const relayed = relay(nodes, 'b', 'c', 'a', 100)
  t.truthy(relayed?.sig)
  t.deepEqual(relayed?.sig, first?.sig, 'b relays a\'s signature as is')
  const c = nodes.get('c') as GossipNode
  t.like(c.member('a'), { state: 'alive', incarnation: 1, addrs: ['mem://a-moved'] })
  t.deepEqual(c.stats().dropped, {})
  // d learns a from c's push-pull answer alone: the snapshot carries a's signature
  const d = nodes.get('d') as GossipNode
  const { response } = c.receiveRequest(200, 'd', encodeFrame(d.pushPullRequest(true)))
  t.truthy(response)
  d.receiveResponse(200, 'c', response as Uint8Array)
  t.like(d.member('a'), { state: 'alive', incarnation: 1, addrs: ['mem://a-moved'] })
  t.deepEqual(d.stats().dropped, {})
})

test('a dead member\'s snapshot carries its last signed alive: a node new to it learns it, suspected at the claim\'s incarnation', t => {
  const nodes = signedNodes(['a', 'b', 'd'], { a: ['b'], b: ['a'] })
  ;(nodes.get('a') as GossipNode).setAddrs(['mem://a'])
  t.is(relay(nodes, 'a', 'b', 'a', 10)?.inc, 1)
  const b = nodes.get('b') as GossipNode
  b.handle(20, 'c', { t: 'gossip', mb: [{ k: 'dead', id: 'a', inc: 7, from: 'c' }] })
  t.like(b.member('a'), { state: 'dead', incarnation: 7 })
  const d = nodes.get('d') as GossipNode
  const { response } = b.receiveRequest(30, 'd', encodeFrame(d.pushPullRequest(true)))
  const res = decodeResponse(response as Uint8Array, 1 << 20)
  const snap = res.ok && res.value.t === 'push-pull' ? res.value.members.find(m => m.id === 'a') : undefined
  t.like(snap, { state: 'dead', inc: 7, sigInc: 1, addrs: ['mem://a'] })
  t.is(snap?.sig?.byteLength, 64)
  d.receiveResponse(30, 'b', response as Uint8Array)
  t.like(d.member('a'), { state: 'suspect', incarnation: 7, addrs: ['mem://a'] })
  t.deepEqual(d.stats().dropped, {})
  // and a's refutation (signed, above the claim) clears it
  ;(nodes.get('a') as GossipNode).handle(40, 'b', { t: 'gossip', mb: [{ k: 'dead', id: 'a', inc: 7, from: 'c' }] })
  t.is((nodes.get('a') as GossipNode).incarnation(), 8)
  t.is(relay(nodes, 'a', 'b', 'a', 50)?.inc, 8)
  t.like(b.member('a'), { state: 'alive', incarnation: 8 })
})

test('codec: signatures are 64-byte binaries on alive/left and snapshots only; anything else is dropped as `signature`', t => {
  const sig = new Uint8Array(64).fill(7)
  const ok = decodePacket(encodeFrame({ t: 'gossip', mb: [{ k: 'left', id: 'b', inc: 1, sig }] }), 65536)
  t.true(ok.ok)
  const got = ok.ok ? ok.value.mb?.[0]?.sig : undefined
  t.deepEqual(got, sig)
  t.is(got?.constructor, Uint8Array, 'a copy, not a view into the frame')
  const bad = (mb: unknown): unknown => decodePacket(encodeFrame({ t: 'gossip', mb } as Packet), 65536)
  t.like(bad([{ k: 'alive', id: 'b', inc: 1, sig: new Uint8Array(63) }]), { ok: false, reason: 'signature', field: 'mb[0].sig' })
  t.like(bad([{ k: 'alive', id: 'b', inc: 1, sig: 'x'.repeat(64) }]), { ok: false, reason: 'signature', field: 'mb[0].sig' })
  t.like(bad([{ k: 'dead', id: 'b', inc: 1, from: 'c', sig }]), { ok: false, reason: 'signature', field: 'mb[0].sig' })
  const snap = (m: Record<string, unknown>): unknown => decodeRequest(encodeFrame({ t: 'push-pull', join: false, members: [{ id: 'b', addrs: [], state: 'alive', inc: 1, restarting: false, ...m }] } as never), 65536)
  t.like(snap({ sig, sigInc: 0, sigRestarting: true }), { ok: true, value: { members: [{ sig, sigInc: 0, sigRestarting: true }] } })
  t.like(snap({ sig: new Uint8Array(65) }), { ok: false, reason: 'signature', field: 'members[0].sig' })
  t.like(snap({ sig, sigInc: -1 }), { ok: false, reason: 'schema', field: 'members[0].sigInc' })
  // a node never throws on them and counts the drop
  const n = createNode({ id: 'a', addrs: [], cfg: resolveConfig('lan'), rng: createSeededRng(1), keyring: createKeyDirectory().add('a') })
  n.receive(0, 'b', encodeFrame({ t: 'gossip', mb: [{ k: 'left', id: 'b', inc: 1, sig: new Uint8Array(3) }] }))
  t.is(n.stats().dropped.signature, 1)
})

test('the simulator signs by default: 20 nodes detect every crash; a forged left is refused there, taken (until refuted) when run --unsigned', t => {
  const r = failure({ nodes: 20, seed: 26, countBytes: false }, 4)
  t.is(r.detected, 4)
  t.is(r.false_positives, 0)
  const forgedLeft = (unsigned: boolean): { tookLeft: number, refused: number } => {
    const sim = new Sim({ nodes: 20, seed: 27, countBytes: false, unsigned })
    const victim = (sim.nodes[3] as SimNode).id
    const forger = (sim.nodes[7] as SimNode).id
    let tookLeft = 0
    for (const sn of sim.nodes) sn.node.onMember(ev => { if (ev.member.id === victim && ev.member.state === 'left') tookLeft++ })
    sim.runUntil(3000)
    for (const sn of sim.nodes) if (sn.index !== 3 && sn.index !== 7) sim.apply(sn, sn.node.handle(sim.now, forger, { t: 'gossip', mb: [{ k: 'left', id: victim, inc: 1 }] }))
    sim.runUntil(10_000)
    t.true(sim.nodes.every(sn => sn.index === 3 || sn.node.member(victim)?.state === 'alive'), 'the victim is alive everywhere in the end')
    return { tookLeft, refused: sim.nodes.reduce((n, sn) => n + (sn.node.stats().dropped['member-unsigned'] ?? 0), 0) }
  }
  t.deepEqual(forgedLeft(false), { tookLeft: 0, refused: 18 })
  t.true(forgedLeft(true).tookLeft >= 18, 'unsigned, every node took the forged left')
})

test('a node given another node\'s keyring refuses to start: it could only sign facts nobody accepts', t => {
  const keys = createKeyDirectory().add('b')
  t.throws(() => createNode({ id: 'a', addrs: [], cfg: resolveConfig('lan'), rng: createSeededRng(1), keyring: keys }), { name: 'InvalidGossipConfigError', message: /keyring.*b.*\(a\)/ })
})
