import test from 'ava'
import { SCOPES_TABLE, type Authority } from '@scalelb/gossip'
import { createAuthorityPolicy, mayWrite } from '../../../src/state/authority.js'
import { lbEndpointKey, taskEndpointKey } from '../../../src/state/tables.js'
import { usageKey } from '../../../src/state/ipam-space.js'
import { tokenKey } from '../../../src/state/ipam.js'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster } from '../../support/agents.js'

const NODE = '12D3KooWLRWMhRg6arrRFyhaPyLCy7mfcAYZLNFPMoJKUa9517Ln'
const NET = 'a1b2c3d4e5f6a1b2c3d4e5f6'
const SCOPE = `network:${NET}` as const

test('every key the agent writes has the writer the policy names', (t) => {
  const policy = createAuthorityPolicy()
  const node: Authority = { kind: 'node', node: NODE }
  const cases: Array<[string, Authority, Authority]> = [
    ['nodes', policy('cluster', 'nodes', NODE), node],
    ['scopes', policy('cluster', SCOPES_TABLE, NODE), node],
    ['networks', policy('cluster', 'networks', NET), { kind: 'manager' }],
    ['services', policy('cluster', 'services', 'svc1'), { kind: 'manager' }],
    ['ipam-usage', policy('cluster', 'ipam-usage', usageKey(NET, NODE)), node],
    ['ipam-requests', policy('cluster', 'ipam-requests', usageKey(NET, NODE)), node],
    ['ipam ring token', policy('cluster', 'ipam', tokenKey(NET, '10.1.0.0')), { kind: 'any' }],
    ['task endpoint', policy(SCOPE, 'endpoints', taskEndpointKey(NODE, 'web-1')), node],
    ['LB endpoint', policy(SCOPE, 'endpoints', lbEndpointKey(NODE)), node]
  ]
  for (const [what, got, want] of cases) t.deepEqual(got, want, what)
})

test('unknown tables and scopes, and keys that name no owner, are refused with a reason', (t) => {
  const policy = createAuthorityPolicy()
  const reason = (a: Authority): string => a.kind === 'refused' ? a.reason : `not refused: ${a.kind}`
  t.is(reason(policy('cluster', 'secrets', 'x')), 'unknown cluster table secrets')
  t.is(reason(policy(SCOPE, 'networks', NET)), 'unknown network table networks')
  t.is(reason(policy('other:x' as 'cluster', 'nodes', NODE)), 'unknown scope other:x')
  t.is(reason(policy(SCOPE, 'endpoints', 'web-1')), 'endpoint key must be <node>/<task> or lb:<node>', 'a bare task ID (older agents)')
  t.is(reason(policy(SCOPE, 'endpoints', `${NODE}/a/b`)), 'endpoint key must be <node>/<task> or lb:<node>')
  t.is(reason(policy('cluster', 'ipam-usage', NET)), 'ipam-usage key must be <network>/<node>')
  t.is(reason(policy('cluster', 'ipam-requests', `${NET}/`)), 'ipam-requests key must be <network>/<node>')
  t.is(reason(policy('cluster', 'ipam-usage', `/${NODE}`)), 'ipam-usage key must be <network>/<node>')
  t.is(reason(policy('cluster', 'nodes', '')), 'nodes key must be a node ID')
})

test('without a cluster key (--insecure) any member changes networks and services; node-owned keys stay owned', (t) => {
  const open = createAuthorityPolicy({ clusterChanges: 'any' })
  t.deepEqual(open('cluster', 'networks', NET), { kind: 'any' })
  t.deepEqual(open('cluster', 'services', 'svc1'), { kind: 'any' })
  t.deepEqual(open(SCOPE, 'endpoints', taskEndpointKey(NODE, 'web-1')), { kind: 'node', node: NODE })
})

test('every entry a manager and a worker write while running networks, services and tasks is one the policy lets its writer write', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const m = await cluster.add()
  const w = await cluster.add({ role: 'worker' })
  const policy = createAuthorityPolicy()
  const managers = new Set([m.agent.id])
  const written = new Set<string>()
  const refused: string[] = []
  // every entry each node learns or writes, deletes included
  const unsubscribe = [m, w].map((x) => x.agent.gossip.onEntry(({ entry: e }) => {
    written.add(`${e.table}${e.deleted ? ' (deleted)' : ''}`)
    if (!mayWrite(policy(e.scope, e.table, e.key), e.origin, managers.has(e.origin))) refused.push(`${e.scope} ${e.table} ${e.key} by ${e.origin === m.agent.id ? 'the manager' : 'the worker'}`)
  }))
  await w.agent.gossip.join([`mem://${m.agent.id}`])
  await m.agent.controller.createNetwork({ name: 'front', subnets: ['10.50.0.0/24'] })
  await m.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], networks: ['front'] })
  await waitFor('the worker learns the service', () => w.agent.controller.listServices().length === 1)
  const tw = await w.agent.controller.addTask({ service: 'web', netns: '/run/netns/w1' })
  await m.agent.controller.addTask({ service: 'web', ip: '10.50.0.200', id: 'm1' })
  await w.agent.controller.removeTask(tw.task.id)
  await m.agent.controller.removeService('web', { force: true })
  await waitFor('the worker sees the service go', () => w.agent.controller.listServices().length === 0)
  await m.agent.controller.removeNetwork('front', { force: true })
  await waitFor('the worker sees the network go', () => w.agent.controller.listNetworks().length === 0)
  for (const u of unsubscribe) u()
  t.deepEqual(refused, [])
  for (const table of ['nodes', 'scopes', 'networks', 'networks (deleted)', 'services', 'services (deleted)', 'ipam', 'ipam (deleted)', 'ipam-usage', 'ipam-requests', 'endpoints', 'endpoints (deleted)']) {
    t.true(written.has(table), `checked ${table} (saw ${[...written].sort().join(', ')})`)
  }
})

test('mayWrite: a worker writes its own keys and ring tokens, never a manager key or another node\'s', (t) => {
  const policy = createAuthorityPolicy()
  const other = '12D3KooWPdAuCU867QgEHSggBSVDs8bvCXTgeLs3b2hv6QvDFAuR'
  t.true(mayWrite(policy(SCOPE, 'endpoints', taskEndpointKey(NODE, 't')), NODE, false))
  t.false(mayWrite(policy(SCOPE, 'endpoints', taskEndpointKey(other, 't')), NODE, true), 'not even a manager writes another node\'s endpoint')
  t.false(mayWrite(policy('cluster', 'networks', NET), NODE, false))
  t.true(mayWrite(policy('cluster', 'networks', NET), NODE, true))
  t.true(mayWrite(policy('cluster', 'ipam', tokenKey(NET, '10.0.0.0')), NODE, false))
  t.false(mayWrite(policy(SCOPE, 'endpoints', 'old-task-id'), NODE, true))
})
