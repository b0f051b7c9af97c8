// Revocation: a member the cluster's managers revoked still holds the cluster
// key and its node key, so it signs validly; every node that applies the
// revocation holds it left, suspends what it wrote, and refuses its alive,
// its traffic and its newer entries, also when a third member relays them.
import test from 'ava'
import { createKeyDirectory } from '@scalelb/gossip'
import { pumpUntil } from '@scalelb/test-support'
import { memberSigBytes } from '../../src/membership/signing.js'
import { inject, startCluster, type Cluster } from '../support/cluster.js'

const dropped = (c: Cluster, id: string, reason: string): number => c.get(id).stats().dropped[reason] ?? 0

test('a revoked member is held left, its entries withdrawn; its own and relayed writes and its alive are refused; withdrawn, it is back', async t => {
  const c = await startCluster(t, ['a', 'b', 'c', 'm'], 31, createKeyDirectory())
  c.get('m').set('cluster', 'things', 'k1', 'before')
  t.true(await pumpUntil(c.clock, () => ['a', 'b', 'c'].every((id) => c.get(id).get('cluster', 'things', 'k1')?.value === 'before'), 5000), 'm\'s entry reached everyone')

  // a and c revoke m; b has not heard of it yet (it relays m's next write)
  c.get('a').revoke(['m'])
  c.get('c').revoke(['m'])
  for (const id of ['a', 'c']) {
    t.is(c.view(id, 'm')?.state, 'left', `${id} holds m left at once`)
    t.is(c.get(id).get('cluster', 'things', 'k1')?.status, 'deleted', `${id} withdrew m's entry (as a left member's)`)
  }
  c.get('m').set('cluster', 'things', 'k2', 'after')
  t.true(await pumpUntil(c.clock, () => c.get('b').get('cluster', 'things', 'k2') !== undefined, 5000), 'b (not revoking) took m\'s new write')
  await pumpUntil(c.clock, () => false, 3000)
  for (const id of ['a', 'c']) {
    t.is(c.get(id).get('cluster', 'things', 'k2'), undefined, `${id} never took m's write`)
    t.true(dropped(c, id, 'revoked-origin') > 0, `${id} refused m's write as b relayed it`)
    t.true(dropped(c, id, 'revoked-peer') > 0, `${id} dropped m's own packets`)
    t.is(c.view(id, 'm')?.state, 'left', `${id} still holds m left (m's refutations refused)`)
  }
  // m's genuine signed alive, far newer, relayed by b: refused
  const inc = c.view('b', 'm')!.incarnation
  const u = { k: 'alive' as const, id: 'm', inc: inc + 1, addrs: ['mem://m'] }
  const before = dropped(c, 'a', 'member-revoked')
  inject(c, 'b', ['a'], { t: 'gossip', mb: [{ ...u, sig: c.keyring('m')!.sign(memberSigBytes(u)) }] })
  await pumpUntil(c.clock, () => false, 500)
  t.true(dropped(c, 'a', 'member-revoked') > before, 'an alive of m relayed by b is refused')
  t.is(c.view('a', 'm')?.state, 'left')

  // withdrawn: m is forgotten, then learned again from its own signed alive; its entries are taken again
  c.get('a').revoke([])
  c.get('c').revoke([])
  t.true(await pumpUntil(c.clock, () => ['a', 'c'].every((id) => c.view(id, 'm')?.state === 'alive'), 20_000), 'm is alive again on a and c')
  t.true(await pumpUntil(c.clock, () => ['a', 'c'].every((id) => c.get(id).get('cluster', 'things', 'k2')?.value === 'after' && c.get(id).get('cluster', 'things', 'k1')?.status === 'live'), 20_000), 'm\'s entries are live again')
  await c.stop()
})

test('revoking this node itself or an unknown id changes nothing of this node; a later join of the unknown id is refused', async t => {
  const c = await startCluster(t, ['a', 'b', 'c'], 32, createKeyDirectory())
  c.get('a').revoke(['a', 'z'])
  t.is(c.view('a', 'a')?.state, 'alive', 'a does not revoke itself')
  const d = c.make('z')
  await d.start()
  const joined = d.join(['mem://b']).catch(() => 0)
  await pumpUntil(c.clock, () => false, 200)
  await joined
  t.true(await pumpUntil(c.clock, () => c.view('b', 'z')?.state === 'alive', 10_000), 'b (no revocation) takes z')
  await pumpUntil(c.clock, () => false, 3000)
  t.not(c.view('a', 'z')?.state, 'alive', 'a never takes z as alive')
  t.true(dropped(c, 'a', 'member-revoked') > 0 || dropped(c, 'a', 'revoked-peer') > 0, 'a refused z')
  await d.stop()
  await c.stop()
})
