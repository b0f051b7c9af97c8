// Admission: where the cluster requires it, a member is accepted only with a
// manager's signature over its ID. A holder of the cluster key that makes a
// node key of its own (or comes back under a new one after a revocation)
// signs validly, but cannot join, read the member list or the tables, or
// write; an admission made with another key, or for another ID, is refused.
import test from 'ava'
import { admissionBytes, createKeyDirectory, createKeyring, generateSigningKeyPair, type KeyDirectory, type Keyring } from '@scalelb/gossip'
import { pumpUntil } from '@scalelb/test-support'
import { memberSigBytes } from '../../src/membership/signing.js'
import { inject, injectRequest, startCluster, type Cluster } from '../support/cluster.js'

const dropped = (c: Cluster, id: string, reason: string): number => c.get(id).stats().dropped[reason] ?? 0

/** A directory whose members all require admission; `outsiders` get none (and, like an attacker's node, do not require it). */
function admitting (outsiders: string[]): KeyDirectory {
  const dir = createKeyDirectory()
  return { ...dir, add: (id, opts) => outsiders.includes(id) ? dir.add(id, opts) : dir.add(id, { ...opts, admitted: true, admissionRequired: true }) }
}

test('admitted members join through a seed and learn each other from its snapshots and relays, which carry each admission', async t => {
  const c = await startCluster(t, ['a', 'b', 'c', 'd'], 41, admitting([]))
  for (const id of ['a', 'b', 'c', 'd']) {
    t.is(dropped(c, id, 'member-not-admitted'), 0, `${id} refused no member`)
    t.is(c.get(id).members().filter((m) => m.state === 'alive').length, 4)
  }
  await c.stop()
})

test('a node with the cluster key but no admission is refused: not a member anywhere, answered nothing, its writes not taken', async t => {
  const c = await startCluster(t, ['a', 'b', 'c'], 42, admitting(['x']))
  c.get('a').set('cluster', 'things', 'k', 'secret')
  t.true(await pumpUntil(c.clock, () => c.get('c').get('cluster', 'things', 'k') !== undefined, 5000))
  const x = c.make('x')
  await x.start()
  const joined = x.join(['mem://b']).catch(() => 0)
  await pumpUntil(c.clock, () => false, 200)
  await joined
  x.set('cluster', 'things', 'evil', 'x wrote this')
  await pumpUntil(c.clock, () => false, 5000)
  for (const id of ['a', 'b', 'c']) {
    t.is(c.view(id, 'x'), undefined, `${id} does not hold x as a member`)
    t.is(c.get(id).get('cluster', 'things', 'evil'), undefined, `${id} did not take x's write`)
  }
  t.true(dropped(c, 'b', 'member-not-admitted') > 0, 'b refused x\'s alive')
  t.true(dropped(c, 'b', 'not-admitted-peer') > 0, 'b answered x\'s push-pull with nothing')
  t.deepEqual(x.members().map((m) => m.id), ['x'], 'x learned no member')
  t.is(x.get('cluster', 'things', 'k'), undefined, 'x read no table')
  // x asks a member for a table sync straight away: answered empty
  const before = dropped(c, 'a', 'not-admitted-peer')
  injectRequest(c, 'x', ['a'], { t: 'sync', req: { scope: 'cluster', digest: [] } })
  await pumpUntil(c.clock, () => false, 500)
  t.true(dropped(c, 'a', 'not-admitted-peer') > before, 'a refused x\'s sync request')
  await x.stop()
  await c.stop()
})

test('an alive carrying an admission for another ID or signed by a non-manager key is refused; the genuine one is taken', async t => {
  const dir = admitting(['x'])
  const c = await startCluster(t, ['a', 'b'], 43, dir)
  const xk = c.keyring('x') as Keyring
  const alive = (adm: Uint8Array): { k: 'alive', id: string, inc: number, addrs: string[], sig: Uint8Array, adm: Uint8Array } => {
    const u = { k: 'alive' as const, id: 'x', inc: 1, addrs: ['mem://x'] }
    return { ...u, sig: xk.sign(memberSigBytes(u)), adm }
  }
  const admOfA = (c.keyring('a') as Keyring).admission as Uint8Array
  inject(c, 'b', ['a'], { t: 'gossip', mb: [alive(admOfA)] })
  inject(c, 'b', ['a'], { t: 'gossip', mb: [alive(xk.sign(new Uint8Array(8)))] })
  await pumpUntil(c.clock, () => false, 300)
  t.is(dropped(c, 'a', 'member-bad-admission'), 2, 'a\'s admission on x, and one x signed itself')
  t.is(c.view('a', 'x'), undefined)
  inject(c, 'b', ['a'], { t: 'gossip', mb: [{ k: 'suspect', id: 'b', inc: 0, from: 'x', adm: admOfA } as never] })
  await pumpUntil(c.clock, () => false, 300)
  t.true((c.get('a').stats().dropped.signature ?? 0) > 0, 'an admission on a suspect is malformed')
  // signed by the cluster's manager key, for x: taken
  const mgr = createKeyring({ self: 'm', privateKey: generateSigningKeyPair().privateKey, managerPublicKey: dir.managerKey.publicKey, managerPrivateKey: dir.managerKey.privateKey })
  inject(c, 'b', ['a'], { t: 'gossip', mb: [alive(mgr.signManager(admissionBytes('x')))] })
  t.true(await pumpUntil(c.clock, () => c.view('a', 'x') !== undefined, 1000), 'a holds x once its alive carries a manager\'s admission')
  await c.stop()
})
