/**
 * A requester believes "full" only from its donor's answer: a usage the
 * donor wrote before it saw the request (here: "nothing free" while the
 * donor's last address is held by an add that is about to roll back) does
 * not end the request. Two real gossip nodes on the in-memory transport,
 * manual clock; the requester's datagrams to the donor are cut until the
 * donor has rolled back, so the stale usage is sure to arrive first.
 */
import test from 'ava'
import { pump, pumpUntil } from '@scalelb/test-support'
import { usageKey, type UsageValue } from '../../../src/state/ipam-space.js'
import { TABLE_IPAM_USAGE } from '../../../src/state/tables.js'
import { startCluster } from '../../support/gossip-cluster.js'
import { createNetworkOn, ipamNode } from '../../support/ipam-wire.js'

const NET = 'answer00net'


test('a donor\'s usage written before it saw the request does not make the requester answer "full"', async (t) => {
  const [D, R] = ['donor-node', 'requester-node']
  const c = await startCluster([D, R], 7)
  t.teardown(async () => { await c.stop() })
  const { alloc: da, ipam: dIpam } = ipamNode(t, c, D)
  const { alloc: ra, ipam: rIpam } = ipamNode(t, c, R)
  // the donor owns the whole /29 (6 usable) and holds 5 of them
  createNetworkOn(c, D, { alloc: da, ipam: dIpam }, NET, '10.71.0.0/29', 101)
  for (let i = 0; i < 5; i++) da.allocate(NET, 'task', c.clock.now(), `held-${i}`)
  dIpam.publishUsage()
  const seenFree = (free: number) => (): boolean => {
    const e = c.get(R).get('cluster', TABLE_IPAM_USAGE, usageKey(NET, D))
    return e !== undefined && !e.deleted && (e.value as UsageValue).free === free
  }
  t.true(await pumpUntil(c.clock, () => ra.hasNetwork(NET) && ra.tokens(NET).length > 0 && seenFree(1)(), 5_000), 'the requester knows the network and the donor\'s one free address')

  // the requester asks; the donor does not hear it yet, takes its last address for an add of its own and says so
  c.net.dropOneWay(R, D)
  let result: { ip?: string, error?: string } | undefined
  rIpam.allocate(NET, 'task', 'wanted').then((ip) => { result = { ip } }, (err: unknown) => { result = { error: `${(err as Error).name}: ${(err as Error).message}` } })
  const last = da.allocate(NET, 'task', c.clock.now(), 'rolled-back')
  dIpam.publishUsage()
  t.true(await pumpUntil(c.clock, seenFree(0), 5_000), 'the requester hears "nothing free" from the donor')
  await pump(c.clock, 300)
  t.is(result, undefined, 'no answer yet: the donor has not answered the request')

  // the donor's add rolls back; now it hears the request and hands the address over
  da.release(NET, last, c.clock.now(), { cooldown: false })
  dIpam.publishUsage()
  c.net.heal()
  t.true(await pumpUntil(c.clock, () => result !== undefined, 15_000), 'the request is answered')
  t.deepEqual(result, { ip: last }, 'the requester gets the address the donor freed')
  t.true(ra.allocations(NET).some((a) => a.address === last))
  t.false(da.allocations(NET).some((a) => a.address === last))
})
