import test from 'ava'
import { computeDesired } from '../../../src/state/desired.js'
import { readDesiredInputFull } from '../../../src/state/full-read.js'
import { createIncrementalDesired } from '../../../src/state/incremental-desired.js'
import { createTableCache } from '../../../src/state/table-cache.js'
import { createTablesView } from '../../../src/state/view.js'
import { TABLE_ENDPOINTS, TABLE_NETWORKS, TABLE_SERVICES, lbEndpointKey, networkScope, taskEndpointKey } from '../../../src/state/tables.js'
import { pump } from '@scalelb/test-support'
import { startCluster } from '../../support/gossip-cluster.js'

const SCOPE = networkScope('n1')
const NET = { name: 'front', subnets: ['10.1.0.0/24'], vni: 100, options: {} }
const badEndpoint = (mac: string): Record<string, unknown> => ({ kind: 'task', service: 's1', ip: '10.1.0.9', mac, node: 'b', state: 'ready', originMs: 1 })

test('a bad value from a peer is counted once per version, not once per read or status change', async (t) => {
  const { clock, net, get, stop } = await startCluster(['a', 'b'], 7)
  t.teardown(stop)
  const a = get('a')
  const b = get('b')
  const invalid: string[] = []
  const view = createTablesView(a, (table, reason) => invalid.push(`${table}: ${reason}`))
  t.teardown(() => view.close())
  a.joinScope(SCOPE)
  b.joinScope(SCOPE)
  b.set('cluster', TABLE_NETWORKS, 'n1', NET)
  b.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('b', 't1'), badEndpoint('zz'))
  t.true(await pump(clock, 5000, { until: () => invalid.length > 0 }), 'the bad endpoint reached a and was counted')
  for (let i = 0; i < 5; i++) view.desired('a', '')
  view.endpoints('n1')
  t.deepEqual(invalid, ['endpoints: endpoint.mac: invalid'], 'reads do not count it again')

  // b fails: its entries are re-emitted as suspended; the same bad version is not counted again
  net.partition(['b'], ['a'])
  t.true(await pump(clock, 30_000, { until: () => a.get(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('b', 't1'))?.status === 'suspended' }), 'b\'s entries are suspended on a')
  t.is(view.networks().get('n1')?.name, 'front', 'a suspended network stays')
  t.is(invalid.length, 1)
  net.heal()
  b.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('b', 't1'), badEndpoint('yy'))
  t.true(await pump(clock, 30_000, { until: () => invalid.length > 1 }), 'a new bad version is counted')
  t.is(invalid.length, 2)
})

test('leaving a network scope drops its endpoints from the desired state; joining again brings them back', async (t) => {
  const { clock, get, stop } = await startCluster(['a', 'b'], 8)
  t.teardown(stop)
  const a = get('a')
  const b = get('b')
  const view = createTablesView(a)
  t.teardown(() => view.close())
  b.set('cluster', TABLE_NETWORKS, 'n1', NET)
  b.joinScope(SCOPE)
  b.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('b', 't1'), { kind: 'task', service: 's1', ip: '10.1.0.20', mac: '02:00:00:00:00:20', node: 'b', state: 'ready', originMs: 1 })
  a.joinScope(SCOPE)
  a.set(SCOPE, TABLE_ENDPOINTS, lbEndpointKey('a'), { kind: 'lb', ip: '10.1.0.3', mac: '02:00:00:00:00:03', node: 'a', state: 'ready', originMs: 1 })
  a.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('a', 't1'), { kind: 'task', service: 's1', ip: '10.1.0.10', mac: '02:00:00:00:00:10', node: 'a', state: 'ready', originMs: 1 })
  const endpointsOnA = (): number => view.endpoints('n1').length
  t.true(await pump(clock, 10_000, { until: () => endpointsOnA() === 3 }), 'a syncs b\'s endpoint after joining')
  t.deepEqual(view.desired('a', '').desired.get('n1')?.sandbox.lbAddresses, ['10.1.0.3/24'])
  a.leaveScope(SCOPE)
  t.is(view.desired('a', '').desired.size, 0, 'no desired state for a network this node left')
  a.joinScope(SCOPE)
  a.set(SCOPE, TABLE_ENDPOINTS, lbEndpointKey('a'), { kind: 'lb', ip: '10.1.0.3', mac: '02:00:00:00:00:03', node: 'a', state: 'ready', originMs: 2 })
  a.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('a', 't1'), { kind: 'task', service: 's1', ip: '10.1.0.10', mac: '02:00:00:00:00:10', node: 'a', state: 'ready', originMs: 2 })
  t.true(await pump(clock, 10_000, { until: () => view.desired('a', '').desired.has('n1') && endpointsOnA() === 3 }), 'after joining again the network is programmed with b\'s endpoint')
})

test('a failure while applying an event rebuilds the cache and the desired state from scratch instead of drifting', async (t) => {
  const { clock, get, stop } = await startCluster(['a', 'b'], 9)
  t.teardown(stop)
  const a = get('a')
  const errors: string[] = []
  const cache = createTableCache(a, () => {}, (err) => errors.push(err.message))
  t.teardown(() => cache.close())
  let throwOnce = true
  // subscribed before the incremental state: when it throws, the incremental state misses the change
  cache.subscribe({ endpoint () { if (throwOnce) { throwOnce = false; throw new Error('listener bug') } } })
  const inc = createIncrementalDesired({ cache, self: 'a', localUnderlay: '' })
  t.teardown(() => inc.close())
  a.set('cluster', TABLE_NETWORKS, 'n1', NET)
  a.joinScope(SCOPE)
  a.set(SCOPE, TABLE_ENDPOINTS, lbEndpointKey('a'), { kind: 'lb', ip: '10.1.0.3', mac: '02:00:00:00:00:03', node: 'a', state: 'ready', originMs: 1 })
  a.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('a', 't1'), { kind: 'task', service: 's1', ip: '10.1.0.10', mac: '02:00:00:00:00:10', node: 'a', state: 'ready', originMs: 1 })
  await pump(clock, 100)
  t.deepEqual(errors, ['listener bug'])
  t.is(cache.generation(), 1, 'the cache was rebuilt once')
  const got = inc.compute()
  t.true(got.desired.has('n1'), 'the network is programmed although the first endpoint event was lost to the failure')
  t.deepEqual(got, computeDesired(readDesiredInputFull(a, 'a', '')))
})

test('direct server return: the network option and each endpoint\'s dsr flag reach the desired state, incrementally as in a full read', async (t) => {
  const { clock, get, stop } = await startCluster(['a'], 10)
  t.teardown(stop)
  const a = get('a')
  const cache = createTableCache(a, () => {})
  t.teardown(() => cache.close())
  const inc = createIncrementalDesired({ cache, self: 'a', localUnderlay: '' })
  t.teardown(() => inc.close())
  a.set('cluster', TABLE_NETWORKS, 'n1', { ...NET, options: { dsr: 'true' } })
  a.set('cluster', TABLE_SERVICES, 's1', { name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], vips: { n1: '10.1.0.2' } })
  a.joinScope(SCOPE)
  a.set(SCOPE, TABLE_ENDPOINTS, lbEndpointKey('a'), { kind: 'lb', ip: '10.1.0.3', mac: '02:00:00:00:00:03', node: 'a', state: 'ready', originMs: 1 })
  const task = { kind: 'task', service: 's1', ip: '10.1.0.10', mac: '02:00:00:00:00:10', node: 'a', state: 'ready', originMs: 1, netns: '/run/netns/t1' }
  a.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('a', 't1'), { ...task, dsr: true })
  await pump(clock, 100)
  const got = inc.compute()
  t.deepEqual(got, computeDesired(readDesiredInputFull(a, 'a', '')))
  const sb = got.desired.get('n1')?.sandbox
  t.is(sb?.dsr, true)
  t.deepEqual(sb?.services[0]?.backends, [{ ip: '10.1.0.10', weight: 1, draining: false, dsr: true }])
  // the flag goes (the task re-added where its VIP could not be plumbed): a new spec without it
  a.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('a', 't1'), { ...task, originMs: 2 })
  await pump(clock, 100)
  const next = inc.compute()
  t.deepEqual(next, computeDesired(readDesiredInputFull(a, 'a', '')))
  t.deepEqual(next.desired.get('n1')?.sandbox.services[0]?.backends, [{ ip: '10.1.0.10', weight: 1, draining: false }])
})

test('a task that changes, is suspended, comes back or is removed is seen so by every read of the cache and by the desired state, in a service too large for a small key bag', async (t) => {
  const { clock, net, get, stop } = await startCluster(['a', 'b'], 10)
  t.teardown(stop)
  const a = get('a')
  const b = get('b')
  const cache = createTableCache(a)
  t.teardown(() => cache.close())
  const inc = createIncrementalDesired({ cache, self: 'a', localUnderlay: '' })
  t.teardown(() => inc.close())
  const task = (i: number, ip = `10.1.0.${100 + i}`): Record<string, unknown> => ({ kind: 'task', service: 's1', ip, mac: '02:00:00:00:01:00', node: 'b', state: 'ready', originMs: 1 })
  b.set('cluster', TABLE_NETWORKS, 'n1', NET)
  b.set('cluster', TABLE_SERVICES, 's1', { name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], vips: { n1: '10.1.0.2' } })
  b.joinScope(SCOPE)
  a.joinScope(SCOPE)
  a.set(SCOPE, TABLE_ENDPOINTS, lbEndpointKey('a'), { kind: 'lb', ip: '10.1.0.3', mac: '02:00:00:00:00:03', node: 'a', state: 'ready', originMs: 1 })
  a.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('a', 't0'), { kind: 'task', service: 's1', ip: '10.1.0.10', mac: '02:00:00:00:00:10', node: 'a', state: 'ready', originMs: 1 })
  const n = 40
  for (let i = 0; i < n; i++) b.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('b', `t${i}`), task(i))
  const k5 = taskEndpointKey('b', 't5')
  const k6 = taskEndpointKey('b', 't6')
  const backends = (): string[] => inc.compute().desired.get('n1')?.sandbox.services[0]?.backends.map((x) => x.ip) ?? []
  const agree = (what: string): void => {
    t.deepEqual(inc.compute(), computeDesired(readDesiredInputFull(a, 'a', '')), `${what}: the incremental state equals the reference`)
    const records = cache.endpoints('n1')
    t.deepEqual([...records?.keys() ?? []], [...records?.entries() ?? []].map(([k]) => k), `${what}: keys and entries agree`)
    for (const [k, r] of records ?? []) {
      t.is(r.key, k)
      t.deepEqual(records?.get(k), r, `${what}: get(${k}) equals the iterated record`)
      t.is(records?.value(k), r.value)
    }
  }
  t.true(await pump(clock, 10_000, { until: () => backends().length === n + 1 }), 'every task of b reached a')
  agree('loaded')

  b.set(SCOPE, TABLE_ENDPOINTS, k5, task(5, '10.1.0.99'))
  t.true(await pump(clock, 10_000, { until: () => cache.endpoints('n1')?.value(k5)?.ip === '10.1.0.99' }), 'the changed address reached a')
  t.true(backends().includes('10.1.0.99') && !backends().includes('10.1.0.105'), 'the backend moved to the new address')
  agree('changed')

  b.delete(SCOPE, TABLE_ENDPOINTS, k6)
  t.true(await pump(clock, 10_000, { until: () => cache.endpoints('n1')?.has(k6) === false }), 'the removal reached a')
  t.false(backends().includes('10.1.0.106'))
  t.is(cache.endpoints('n1')?.get(k6), undefined)
  t.is(cache.endpoints('n1')?.value(k6), undefined)
  agree('removed')

  net.partition(['b'], ['a'])
  t.true(await pump(clock, 30_000, { until: () => cache.endpoints('n1')?.get(k5)?.status === 'suspended' }), 'b\'s tasks are suspended on a')
  t.deepEqual(backends(), ['10.1.0.10'], 'only a\'s own task is a backend while b is unreachable')
  t.is(cache.endpoints('n1')?.value(k5)?.ip, '10.1.0.99', 'a suspended task keeps its value')
  t.is(cache.endpoints('n1')?.size, n + 1, 'suspended tasks are still listed')
  agree('suspended')

  net.heal()
  t.true(await pump(clock, 60_000, { until: () => cache.endpoints('n1')?.get(k5)?.status === 'live' }), 'b\'s tasks are live again')
  t.is(backends().length, n, 'every task of b but the removed one is a backend again')
  agree('back')
})

test('the cache reads endpoints through to gossip\'s records: it hands out gossip\'s value objects and keeps something per endpoint only for a version that failed validation', async (t) => {
  const { clock, get, stop } = await startCluster(['a', 'b'], 9)
  t.teardown(stop)
  const a = get('a')
  const b = get('b')
  const cache = createTableCache(a)
  t.teardown(() => { cache.close() })
  const changes: Array<[string, string | undefined, string | undefined]> = []
  cache.subscribe({ endpoint: (_n, key, prev, next) => { changes.push([key, prev?.value.ip, next?.value.ip]) } })
  a.joinScope(SCOPE)
  b.joinScope(SCOPE)
  const ep = (i: number): Record<string, unknown> => ({ kind: 'task', service: 's1', ip: `10.1.0.${i}`, mac: '02:00:00:00:00:20', node: 'b', state: 'ready', originMs: 1 })
  for (let i = 0; i < 20; i++) b.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('b', `t${i}`), ep(20 + i))
  b.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('b', 'bad'), badEndpoint('zz'))
  t.true(await pump(clock, 10_000, { until: () => cache.endpoints('n1')?.size === 20 && a.entries(SCOPE, TABLE_ENDPOINTS).length === 21 }))
  const records = cache.endpoints('n1')!
  const k0 = taskEndpointKey('b', 't0')
  t.is<unknown, unknown>(records.value(k0), a.get(SCOPE, TABLE_ENDPOINTS, k0)?.value, 'gossip\'s own value object')
  t.deepEqual([...records.over.keys()], [taskEndpointKey('b', 'bad')], 'nothing kept per valid endpoint')
  t.is(records.get(taskEndpointKey('b', 'bad')), undefined)
  t.false(records.has(taskEndpointKey('b', 'bad')))
  // a new version: the listener gets the previous value (from gossip's event, the cache kept no copy) and the new one
  changes.length = 0
  b.set(SCOPE, TABLE_ENDPOINTS, k0, ep(99))
  t.true(await pump(clock, 10_000, { until: () => changes.length > 0 }))
  t.deepEqual(changes, [[k0, '10.1.0.20', '10.1.0.99']])
  t.is(records.value(k0)?.ip, '10.1.0.99')
  // the bad key gets a good version: shown, and nothing is kept for it any more
  b.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey('b', 'bad'), ep(50))
  t.true(await pump(clock, 10_000, { until: () => records.size === 21 }))
  t.is(records.over.size, 0)
  b.delete(SCOPE, TABLE_ENDPOINTS, k0)
  t.true(await pump(clock, 10_000, { until: () => records.size === 20 }))
  t.false(records.has(k0))
  t.is([...records.keys()].length, 20)
})
