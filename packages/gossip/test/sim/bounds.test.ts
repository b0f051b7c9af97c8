// Bounded counters (issue 10, item 3) on the in-memory transport: a member
// with the key sends far-ahead Lamport times and incarnations; honest
// replication and membership carry on, and honest partitions still heal.
import test from 'ava'
import { inject, startCluster } from '../support/cluster.js'
import { pumpUntil } from '@scalelb/test-support'
import { LamportClock } from '../../src/tables/admission.js'

const BOMB = 2 ** 48

test('a Lamport time of 2^48 from a member is refused and counted; later honest writes still reach everyone', async t => {
  const ids = ['a', 'b', 'c', 'm']
  const c = await startCluster(t, ids, 11)
  const honest = ['a', 'b', 'c']
  inject(c, 'm', honest, { t: 'gossip', tb: [{ scope: 'cluster', entries: [['services', 'bomb', 'm', BOMB, 1, 0, { vip: '10.0.0.1' }]] }] })
  await pumpUntil(c.clock, () => false, 200)
  for (const id of honest) {
    t.is(c.get(id).get('cluster', 'services', 'bomb'), undefined, `${id} did not take the entry`)
    t.true((c.get(id).stats().dropped['lamport-jump'] ?? 0) >= 1, `${id} counted it`)
  }
  // writes by each honest node after the bomb: before the bound, a node that adopted 2^48 wrote
  // at 2^48 + 1, which every validator drops, so its writes never left it
  for (const id of honest) c.get(id).set('cluster', 'services', `after-${id}`, { by: id })
  c.get('m').set('cluster', 'services', 'after-m', { by: 'm' })
  const converged = (): boolean => ids.every(x => [...honest, 'm'].every(w => c.get(x).get('cluster', 'services', `after-${w}`)?.status === 'live'))
  t.true(await pumpUntil(c.clock, converged, 10_000), 'every write reaches every node')
  for (const id of ids) t.true(c.get(id).get('cluster', 'services', 'after-a')!.lamport < 2 ** 40, `${id}: clocks stay near honest values`)
  for (const x of c.g.values()) await x.stop()
})

test('a forged left with incarnation 2^48 does not keep the node out, also across its restart', async t => {
  const ids = ['a', 'b', 'c', 'm']
  const c = await startCluster(t, ids, 12)
  const others = ['a', 'c', 'm']
  const bAlive = (): boolean => others.every(id => c.get(id).members().find(x => x.id === 'b')?.state === 'alive')
  inject(c, 'm', ['a', 'c', 'b'], { t: 'gossip', mb: [{ k: 'left', id: 'b', inc: BOMB }] })
  inject(c, 'm', ['a', 'c'], { t: 'gossip', mb: [{ k: 'dead', id: 'b', inc: BOMB, from: 'm' }] })
  await pumpUntil(c.clock, () => false, 200)
  t.true(bAlive(), 'b stays alive in every view')
  t.true((c.get('a').stats().dropped['incarnation-jump'] ?? 0) >= 2, 'a counted the refused updates')
  t.true((c.get('b').stats().dropped['incarnation-jump'] ?? 0) >= 1, 'b counted the claim about itself')
  t.true(c.get('b').members().find(x => x.id === 'b')!.incarnation < 2 ** 20, 'b did not adopt the claim')

  // restart b with the next incarnation, as the agent does: it comes back alive everywhere
  const inc = c.get('b').members().find(x => x.id === 'b')!.incarnation
  await c.get('b').stop()
  inject(c, 'm', ['a', 'c'], { t: 'gossip', mb: [{ k: 'left', id: 'b', inc: BOMB }] })
  const b2 = c.make('b', 1, inc + 1)
  c.g.set('b', b2)
  await b2.start()
  const j = b2.join(['mem://a'])
  await pumpUntil(c.clock, () => false, 100)
  t.is(await j, 1)
  t.true(await pumpUntil(c.clock, bAlive, 20_000), 'alive in every view after the restart')
  c.get('b').set('cluster', 'services', 'b-svc', 1)
  t.true(await pumpUntil(c.clock, () => others.every(id => c.get(id).get('cluster', 'services', 'b-svc')?.status === 'live'), 5000), 'its entries are live')
  for (const x of c.g.values()) await x.stop()
})

test('a forged suspicion within the bound is refuted, and the refutation is taken everywhere', async t => {
  const ids = ['a', 'b', 'c', 'm']
  const c = await startCluster(t, ids, 13)
  const inc = c.get('a').members().find(x => x.id === 'b')!.incarnation
  // the furthest a claim may jump: admitted, so b must refute above it
  inject(c, 'm', ['a', 'c', 'b'], { t: 'gossip', mb: [{ k: 'suspect', id: 'b', inc: inc + 2 ** 20, from: 'm' }] })
  const refuted = (): boolean => ['a', 'c', 'm'].every(id => {
    const r = c.get(id).members().find(x => x.id === 'b')
    return r?.state === 'alive' && r.incarnation > inc + 2 ** 20
  })
  t.true(await pumpUntil(c.clock, refuted, 10_000), 'b refuted above the claim and every member took it')
  for (const x of c.g.values()) await x.stop()
})

test('an honest partition healed after 10,000 writes on one side converges', async t => {
  const ids = ['a', 'b', 'c', 'd']
  const c = await startCluster(t, ids, 14)
  c.net.partition(['a', 'b'], ['c', 'd'])
  for (let i = 0; i < 10_000; i++) c.get('a').set('cluster', 'counters', `k${i % 100}`, i)
  for (let i = 0; i < 10; i++) c.get('c').set('cluster', 'other', `k${i}`, i)
  await pumpUntil(c.clock, () => false, 30_000, { stepMs: 100 })
  c.get('a').set('cluster', 'services', 'late-a', 1)
  c.net.heal()
  const same = (): boolean => {
    const want = JSON.stringify(c.get('a').entries('cluster').map(e => [e.table, e.key, e.lamport, e.status]).sort())
    return ids.every(id => JSON.stringify(c.get(id).entries('cluster').map(e => [e.table, e.key, e.lamport, e.status]).sort()) === want) &&
      ids.every(id => c.get(id).get('cluster', 'counters', 'k99')?.value === 9999 && c.get(id).get('cluster', 'other', 'k9')?.status === 'live')
  }
  t.true(await pumpUntil(c.clock, same, 60_000, { stepMs: 50 }), 'identical tables on both sides')
  // c's side jumped by ~10,000 on heal: well inside the bound, nothing refused
  for (const id of ids) t.is(c.get(id).stats().dropped['lamport-jump'] ?? 0, 0)
  for (const x of c.g.values()) await x.stop()
})

test('LamportClock: a jump beyond the allowance is refused and moves the clock only by what is left; the allowance refills', t => {
  const clock = new LamportClock(1000, 10_000)
  t.true(clock.witness(0, 10))
  t.is(clock.value, 10)
  t.false(clock.witness(0, 5000), 'further than the allowance')
  t.is(clock.value, 1000, 'moved by the allowance left (990)')
  t.false(clock.witness(0, 1001), 'allowance spent')
  t.is(clock.value, 1000)
  t.true(clock.witness(5_000, 1400), 'half the allowance back after half the refill time')
  t.false(clock.witness(5_000, 1200 + 2 ** 40))
  t.true(clock.witness(1_000_000, 2000), 'full again, capped at maxJump')
  t.false(clock.witness(1_000_000, 3002), 'the 500 left do not cover 1002')
  t.is(clock.value, 2500)
  t.is(clock.next(), 2501)
})
