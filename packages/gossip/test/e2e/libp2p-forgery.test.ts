// Forged entries from a member (issue 10, trust between members), on real
// libp2p over loopback. Three honest nodes, M (holding the cluster manager
// key), B and C, sign their entries and check others' under the agent's
// shape of authority policy. The attacker X holds the cluster key and a valid
// node key of its own: it is a member running the same code, and sends
// hand-built frames from its own transport. Every forged frame is followed
// on X's stream by a marker, an entry of X's own that every target applies:
// a target holding the marker has handled the forgeries, so the tests wait
// on it, then look at what the target holds and what it counted.
import test, { type ExecutionContext } from 'ava'
import { waitFor } from '@scalelb/test-support'
import {
  createGossip, createKeyring, createSeededRng, createSystemClock, decodeResponse, encodeFrame, generateSigningKeyPair,
  type Authority, type AuthorityPolicy, type Entry, type Gossip, type Keyring, type NodeId, type Packet, type ScopeName, type WireEntry
} from '../../src/index.js'
import { entryBytes, entryHeader, valuePart } from '../../src/sign/entry.js'
import { MAX_LAMPORT_JUMP } from '../../src/tables/constants.js'
import { createLibp2pTransport, generateClusterKey, generateNodeKey, parseClusterKey, peerIdFromKey, type Libp2pTransport } from '../../src/transport/libp2p.js'

const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
const CLUSTER_KEY = parseClusterKey(generateClusterKey())
const MANAGER_KEY = generateSigningKeyPair()
const NET: ScopeName = 'network:n1'
/** Every wait gives up after this long (ms): the machine is shared, so generous. */
const WAIT_MS = 30_000
/** A forged frame whose marker has not arrived by then is sent again (datagrams may be lost). */
const RESEND_MS = 2000
/** Table of the markers (anyone may write it). */
const MARKER_TABLE = 'probe'

const owner = (node: string): Authority => node.length > 0 ? { kind: 'node', node } : { kind: 'refused', reason: 'key names no node' }

/**
 * The agent's shape of policy: networks and services by managers; a node's
 * `nodes` record, its task endpoints (`<node>/<task>`) and its LB endpoint
 * (`lb:<node>`) by that node; anything else by any member.
 */
const policy: AuthorityPolicy = (scope, table, key) => {
  if (scope === 'cluster') {
    if (table === 'networks' || table === 'services') return { kind: 'manager' }
    if (table === 'nodes') return owner(key)
    return { kind: 'any' }
  }
  if (table === 'endpoints') {
    if (key.startsWith('lb:')) return owner(key.slice(3))
    const slash = key.indexOf('/')
    return slash > 0 ? owner(key.slice(0, slash)) : { kind: 'refused', reason: 'endpoint key names no node' }
  }
  return { kind: 'any' }
}

interface Peer { id: NodeId, g: Gossip, tr: Libp2pTransport, kr: Keyring }

let seeds = 0
let markers = 0

async function startPeer (t: ExecutionContext, opts: { manager?: boolean } = {}): Promise<Peer> {
  const key = await generateNodeKey()
  const id = peerIdFromKey(key)
  const kr = createKeyring({
    self: id,
    privateKey: key.raw,
    managerPublicKey: MANAGER_KEY.publicKey,
    ...(opts.manager === true ? { managerPrivateKey: MANAGER_KEY.privateKey } : {})
  })
  const tr = createLibp2pTransport({ privateKey: key, listen: [LOOPBACK], clusterKey: CLUSTER_KEY })
  const g = createGossip({ transport: tr, clock: createSystemClock(), rng: createSeededRng(++seeds), profile: 'local', keyring: kr, authority: policy })
  t.teardown(async () => {
    await g.stop()
    await tr.stop()
  })
  await g.start()
  return { id, g, tr, kr }
}

const aliveCount = (p: Peer): number => p.g.members().filter(m => m.state === 'alive').length
const drops = (p: Peer, reason: string): number => p.g.stats().dropped[reason] ?? 0
const dropsOf = (peers: Peer[]): Array<Record<string, number>> => peers.map(p => p.g.stats().dropped)

/** `peers` (already started) join through the first one and every one of them joins NET. */
async function form (peers: Peer[]): Promise<void> {
  const [first, ...rest] = peers as [Peer, ...Peer[]]
  await Promise.all(rest.map(async p => await p.g.join(first.tr.addrs())))
  await waitFor(`all ${peers.length} to see each other alive`, () => peers.every(p => aliveCount(p) === peers.length), { timeoutMs: WAIT_MS, detail: () => peers.map(aliveCount) })
  for (const p of peers) p.g.joinScope(NET)
  await waitFor(`all ${peers.length} in ${NET}`, () => peers.every(p => p.g.scopeMembers(NET).length === peers.length), { timeoutMs: WAIT_MS, detail: () => peers.map(p => p.g.scopeMembers(NET).length) })
}

/** Honest M (manager), B, C and the attacker X, all members of the cluster and of NET. */
async function cluster (t: ExecutionContext): Promise<{ m: Peer, b: Peer, c: Peer, x: Peer, honest: Peer[] }> {
  const m = await startPeer(t, { manager: true })
  const b = await startPeer(t)
  const c = await startPeer(t)
  const x = await startPeer(t)
  await form([m, b, c, x])
  return { m, b, c, x, honest: [m, b, c] }
}

/** `w` with a signature by `kr`'s node key: valid only where `kr` holds the key that `w`'s origin names. */
function signed (kr: Keyring, scope: ScopeName, w: WireEntry): WireEntry {
  const deleted = w[5] === 1
  const sig = kr.sign(entryBytes(entryHeader(scope, w[0], w[1], w[2], w[3], w[4], deleted), valuePart(deleted, w[6])))
  return [...w.slice(0, 7), sig] as unknown as WireEntry
}

/** A new marker of X's in `scope`. */
function marker (x: Peer, scope: ScopeName): WireEntry {
  const n = ++markers
  return signed(x.kr, scope, [MARKER_TABLE, `m${n}`, x.id, 1, n, 0, n])
}

/**
 * Send the packets `build(mark)` makes from X's transport to each target, in
 * order on one stream, until every target holds its own marker: a signed
 * entry in `scope` carried last (after anything forged), one per target, so a
 * target holds it only once it handled X's frames itself (a marker shared by
 * all targets reached one of them relayed by another before X's own frames, and
 * that target never saw the forgery). Unanswered targets get them again every
 * RESEND_MS.
 */
async function deliver (x: Peer, targets: Peer[], build: (mark: WireEntry) => Packet[], scope: ScopeName): Promise<void> {
  const marks = targets.map(() => marker(x, scope))
  const frames = marks.map(mark => build(mark).map(p => encodeFrame(p)))
  const held = (i: number): boolean => (targets[i] as Peer).g.get(scope, MARKER_TABLE, (marks[i] as WireEntry)[1]) !== undefined
  const all = (): boolean => targets.every((_, i) => held(i))
  const deadline = Date.now() + WAIT_MS
  while (!all()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for the forged frames to be handled: ${JSON.stringify(dropsOf(targets))}`)
    targets.forEach((p, i) => { if (!held(i)) for (const f of frames[i] as Uint8Array[]) x.tr.send(p.id, f) })
    const next = Date.now() + RESEND_MS
    while (Date.now() < next && !all()) await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** Forged table entries of one scope, then a marker, in one message from X to each target. */
async function forge (x: Peer, targets: Peer[], scope: ScopeName, entries: WireEntry[]): Promise<void> {
  await deliver(x, targets, mark => [{ t: 'gossip', tb: [{ scope, entries: [...entries, mark] }] }], scope)
}

/** An endpoints value as the agent writes it. */
function endpoint (node: NodeId, ip: string, weight = 1): Record<string, unknown> {
  return { kind: 'task', service: 'web', ip, mac: '02:00:00:00:00:01', node, state: 'ready', weight, originMs: 0 }
}

const valueOf = <V>(p: Peer, scope: ScopeName, table: string, key: string): V | undefined => p.g.get<V>(scope, table, key)?.value

test.serial('a task endpoint under an invented origin is applied nowhere and not relayed', async t => {
  t.timeout(120_000)
  const { m, b, c, x, honest } = await cluster(t)
  // a well-formed node ID whose key X does not hold, an ID that names no key at all, and a key pair
  // X made for the purpose (its signature is valid, but the node was never a member)
  const ghost = peerIdFromKey(await generateNodeKey())
  const freshKey = await generateNodeKey()
  const fresh = peerIdFromKey(freshKey)
  const forged: WireEntry[] = [
    signed(x.kr, NET, ['endpoints', `${ghost}/web.1`, ghost, 10, 1, 0, endpoint(ghost, '10.0.0.66', 1000)]),
    signed(x.kr, NET, ['endpoints', 'ghost/web.2', 'ghost', 10, 1, 0, endpoint('ghost', '10.0.0.67', 1000)]),
    ['endpoints', `${ghost}/web.3`, ghost, 10, 1, 0, endpoint(ghost, '10.0.0.68', 1000)],
    signed(createKeyring({ self: fresh, privateKey: freshKey.raw }), NET, ['endpoints', `${fresh}/web.4`, fresh, 10, 1, 0, endpoint(fresh, '10.0.0.69', 1000)])
  ]
  // to M only: whatever M relayed would reach B and C
  await forge(x, [m], NET, forged)
  for (const w of forged) t.is(m.g.get(NET, 'endpoints', w[1]), undefined, `M applied ${w[1]}`)
  // none of these origins is a member: refused before their signatures are even looked at
  t.true(drops(m, 'unknown-origin') >= 4, JSON.stringify(m.g.stats().dropped))
  // M's gossip since then has reached B and C, with nothing forged in it
  m.g.set(NET, 'endpoints', `${m.id}/web.1`, endpoint(m.id, '10.0.0.1'))
  await waitFor('M\'s endpoint to reach B and C', () => [b, c].every(p => p.g.get(NET, 'endpoints', `${m.id}/web.1`)?.status === 'live'), { timeoutMs: WAIT_MS })
  for (const p of honest) {
    t.deepEqual(p.g.entries(NET, 'endpoints').map(e => e.key), [`${m.id}/web.1`])
  }
  for (const p of [b, c]) t.deepEqual([drops(p, 'bad-signature'), drops(p, 'unsigned'), drops(p, 'unknown-origin')], [0, 0, 0], 'B and C were never sent a forged entry')
})

test.serial('a tombstone of B\'s endpoint signed by the attacker, under its own ID or under B\'s, leaves the endpoint on every node', async t => {
  t.timeout(120_000)
  const { b, x, honest } = await cluster(t)
  const key = `${b.id}/web.1`
  b.g.set(NET, 'endpoints', key, endpoint(b.id, '10.0.0.2'))
  await waitFor('B\'s endpoint to reach everyone', () => honest.every(p => p.g.get(NET, 'endpoints', key)?.status === 'live'), { timeoutMs: WAIT_MS })
  const held = b.g.get(NET, 'endpoints', key) as Entry
  const lamport = held.lamport + 100
  await forge(x, honest, NET, [
    signed(x.kr, NET, ['endpoints', key, x.id, lamport, 1, 1, 0]),
    signed(x.kr, NET, ['endpoints', key, b.id, lamport, held.seq + 1, 1, 0])
  ])
  for (const p of honest) {
    const e = p.g.get<{ ip: string }>(NET, 'endpoints', key)
    t.is(e?.status, 'live', `B's endpoint on ${p === b ? 'B' : 'another node'}`)
    t.is(e?.origin, b.id)
    t.is(e?.value?.ip, '10.0.0.2')
    t.true(drops(p, 'not-owner') >= 1 && drops(p, 'bad-signature') >= 1, JSON.stringify(p.g.stats().dropped))
  }
  // B still owns it: its next write replaces it everywhere
  b.g.set(NET, 'endpoints', key, endpoint(b.id, '10.0.0.2', 5))
  await waitFor('B\'s update to reach everyone', () => honest.every(p => valueOf<{ weight: number }>(p, NET, 'endpoints', key)?.weight === 5), { timeoutMs: WAIT_MS })
})

test.serial('service and network changes and a network deletion signed by a non-manager are refused everywhere; the manager\'s stay', async t => {
  t.timeout(120_000)
  const { m, x, honest } = await cluster(t)
  const network = { name: 'front', subnets: ['10.0.0.0/24'], vni: 100, options: {} }
  const service = { name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], vips: { n1: '10.0.0.10' } }
  m.g.set('cluster', 'networks', 'n1', network)
  m.g.set('cluster', 'services', 'svc1', service)
  await waitFor('the manager\'s network and service to reach everyone', () => honest.every(p => p.g.get('cluster', 'networks', 'n1') !== undefined && p.g.get('cluster', 'services', 'svc1') !== undefined), { timeoutMs: WAIT_MS })
  const net = m.g.get('cluster', 'networks', 'n1') as Entry
  const svc = m.g.get('cluster', 'services', 'svc1') as Entry
  const before = honest.map(p => drops(p, 'not-manager'))
  await forge(x, honest, 'cluster', [
    // the VIP moved to an address of the attacker's choosing
    signed(x.kr, 'cluster', ['services', 'svc1', x.id, svc.lamport + 100, 1, 0, { ...service, vips: { n1: '10.0.0.66' } }]),
    // the network's subnet changed, then the network deleted, then a network of its own
    signed(x.kr, 'cluster', ['networks', 'n1', x.id, net.lamport + 100, 2, 0, { ...network, subnets: ['10.66.0.0/16'] }]),
    signed(x.kr, 'cluster', ['networks', 'n1', x.id, net.lamport + 101, 3, 1, 0]),
    signed(x.kr, 'cluster', ['networks', 'evil', x.id, 10, 4, 0, { ...network, name: 'evil' }])
  ])
  for (const [i, p] of honest.entries()) {
    t.deepEqual(valueOf(p, 'cluster', 'services', 'svc1'), service)
    t.deepEqual(valueOf(p, 'cluster', 'networks', 'n1'), network)
    t.is(p.g.get('cluster', 'networks', 'n1')?.origin, m.id)
    t.is(p.g.get('cluster', 'networks', 'evil'), undefined)
    t.true(drops(p, 'not-manager') - (before[i] as number) >= 4, JSON.stringify(p.g.stats().dropped))
  }
  // the manager can still change them
  m.g.set('cluster', 'services', 'svc1', { ...service, vips: { n1: '10.0.0.11' } })
  await waitFor('the manager\'s VIP change to reach everyone', () => honest.every(p => valueOf<{ vips: Record<string, string> }>(p, 'cluster', 'services', 'svc1')?.vips.n1 === '10.0.0.11'), { timeoutMs: WAIT_MS })
})

test.serial('a Lamport bomb under another\'s ID moves no clock; one of the attacker\'s own key is refused; later writes replicate everywhere', async t => {
  t.timeout(120_000)
  const { m, b, x, honest } = await cluster(t)
  // under B's ID with X's signature: refused before it is allowed to move anyone's clock
  await forge(x, honest, 'cluster', [signed(x.kr, 'cluster', ['tasks', 'bomb-1', b.id, 2 ** 48 - 1, 1, 0, 'x'])])
  for (const p of honest) t.true(drops(p, 'bad-signature') >= 1, JSON.stringify(p.g.stats().dropped))
  m.g.set('cluster', 'tasks', 'after-1', 1)
  await waitFor('a write after the first bomb to reach everyone', () => honest.every(p => p.g.get('cluster', 'tasks', 'after-1')?.status === 'live'), { timeoutMs: WAIT_MS })
  const first = m.g.get('cluster', 'tasks', 'after-1') as Entry
  t.true(first.lamport < MAX_LAMPORT_JUMP, `M's clock moved to ${first.lamport}`)
  // X's own key, correctly signed: refused as a jump, and the clocks move by at most the jump allowance
  await forge(x, honest, 'cluster', [signed(x.kr, 'cluster', ['tasks', 'bomb-2', x.id, 2 ** 48 - 1, 1, 0, 'x'])])
  for (const p of honest) t.true(drops(p, 'lamport-jump') >= 1, JSON.stringify(p.g.stats().dropped))
  b.g.set('cluster', 'tasks', 'after-2', 2)
  await waitFor('a write after the second bomb to reach everyone', () => honest.every(p => p.g.get('cluster', 'tasks', 'after-2')?.status === 'live'), { timeoutMs: WAIT_MS })
  m.g.set('cluster', 'tasks', 'after-1', 3)
  await waitFor('an update after the second bomb to reach everyone', () => honest.every(p => valueOf(p, 'cluster', 'tasks', 'after-1') === 3), { timeoutMs: WAIT_MS })
  for (const p of honest) {
    t.is(p.g.get('cluster', 'tasks', 'bomb-1'), undefined)
    t.is(p.g.get('cluster', 'tasks', 'bomb-2'), undefined)
    t.true((p.g.get('cluster', 'tasks', 'after-1') as Entry).lamport <= 2 * MAX_LAMPORT_JUMP)
  }
})

test.serial('signatures survive relaying and anti-entropy: C, which never heard from M, takes M\'s entries from B; a relay that alters one is refused', async t => {
  t.timeout(120_000)
  const m = await startPeer(t, { manager: true })
  const b = await startPeer(t)
  await form([m, b])
  const network = { name: 'front', subnets: ['10.0.0.0/24'], vni: 100, options: {} }
  m.g.set('cluster', 'networks', 'n1', network)
  // more than a certificate's worth (tables CERT_MIN_ENTRIES): B may pass M's certificate on
  const keys = Array.from({ length: 40 }, (_, i) => `${m.id}/web.${i}`)
  for (const [i, k] of keys.entries()) m.g.set(NET, 'endpoints', k, endpoint(m.id, `10.0.1.${i}`))
  await waitFor('M\'s entries to reach B', () => b.g.get('cluster', 'networks', 'n1') !== undefined && keys.every(k => b.g.get(NET, 'endpoints', k) !== undefined), { timeoutMs: WAIT_MS })
  // M is gone before C exists: whatever C holds of M's came from B
  await m.g.stop()
  const c = await startPeer(t)
  await c.g.join(b.tr.addrs())
  c.g.joinScope(NET)
  await waitFor('M\'s entries to reach C through B', () => c.g.get('cluster', 'networks', 'n1') !== undefined && keys.every(k => c.g.get(NET, 'endpoints', k) !== undefined), { timeoutMs: WAIT_MS, detail: () => ({ entries: c.g.stats().entries, dropped: c.g.stats().dropped }) })
  await waitFor('C to sync', () => c.g.stats().syncs > 0, { timeoutMs: WAIT_MS })
  t.deepEqual(valueOf(c, 'cluster', 'networks', 'n1'), network)
  for (const [i, k] of keys.entries()) t.is(valueOf<{ ip: string }>(c, NET, 'endpoints', k)?.ip, `10.0.1.${i}`)
  t.deepEqual(['unsigned', 'bad-signature', 'not-manager', 'not-owner', 'bad-cert'].map(r => drops(c, r)), [0, 0, 0, 0, 0])

  // X joins, asks B for everything (as any member may) and relays M's entries to C, altered
  const x = await startPeer(t)
  await x.g.join(b.tr.addrs())
  await waitFor('X to know C', () => x.g.members().some(mb => mb.id === c.id && mb.state === 'alive'), { timeoutMs: WAIT_MS })
  const ask = async (scope: ScopeName): Promise<WireEntry[]> => {
    const r = decodeResponse(await x.tr.request(b.id, encodeFrame({ t: 'sync', req: { scope, digest: [] } })), 1 << 24)
    if (!r.ok || r.value.t !== 'sync') throw new Error(`B's sync answer: ${JSON.stringify(r)}`)
    return r.value.res.entries
  }
  const ep = (await ask(NET)).find(w => w[1] === keys[0])
  const nw = (await ask('cluster')).find(w => w[0] === 'networks' && w[1] === 'n1')
  if (ep?.[7] === undefined || nw?.[7] === undefined) throw new Error('B did not return M\'s signed entries')
  // newer versions with the original signatures: values (and Lamport times) that M never signed
  await forge(x, [c], NET, [[ep[0], ep[1], ep[2], ep[3] + 1, ep[4], 0, endpoint(m.id, '10.0.0.66', 1000), ep[7]] as WireEntry])
  await forge(x, [c], 'cluster', [[nw[0], nw[1], nw[2], nw[3] + 1, nw[4], 0, { ...network, subnets: ['10.66.0.0/16'] }, nw[7]] as WireEntry])
  t.is(valueOf<{ ip: string }>(c, NET, 'endpoints', keys[0] as string)?.ip, '10.0.1.0')
  t.deepEqual(valueOf(c, 'cluster', 'networks', 'n1'), network)
  t.true(drops(c, 'bad-signature') >= 1 && drops(c, 'not-manager') >= 1, JSON.stringify(c.g.stats().dropped))
})

// a `left` is only believed when signed by the member that leaves
test.serial('a forged left for B does not make B leave', async t => {
  t.timeout(120_000)
  const { m, b, c, x, honest } = await cluster(t)
  const seenLeft: string[] = []
  for (const [name, p] of [['M', m], ['C', c]] as const) {
    p.g.onMember(ev => { if (ev.member.id === b.id && ev.member.state === 'left') seenLeft.push(name) })
  }
  const inc = m.g.members().find(mb => mb.id === b.id)?.incarnation ?? 0
  // within the incarnation-jump bound: only a signature check tells it from B's own leave
  await deliver(x, [m, c], mark => [
    { t: 'gossip', mb: [{ k: 'left', id: b.id, inc: inc + 1000 }] },
    { t: 'gossip', tb: [{ scope: 'cluster', entries: [mark] }] }
  ], 'cluster')
  t.true(drops(m, 'member-unsigned') >= 1 && drops(c, 'member-unsigned') >= 1, JSON.stringify(dropsOf([m, c])))
  b.g.set('cluster', 'tasks', 'after-left', 1)
  await waitFor('B\'s write after the forged left to reach everyone', () => honest.every(p => p.g.get('cluster', 'tasks', 'after-left')?.status === 'live'), { timeoutMs: WAIT_MS })
  t.deepEqual(seenLeft, [], 'B was taken for left')
  for (const p of [m, c, x]) t.is(p.g.members().find(mb => mb.id === b.id)?.state, 'alive')
})
