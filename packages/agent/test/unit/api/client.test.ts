/**
 * The typed client and the server speak the contract (api/contract.ts): each
 * client method reaches its handler with the parameters, query and body it
 * was given, and answers the route's status and body.
 */
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApiServer } from '../../../src/api/server.js'
import { createApiClient, type ApiClient } from '../../../src/api/client.js'
import { API_ROUTES, ROUTE_NAMES, buildPath, matchPath, parseQuery, pathParamNames } from '../../../src/api/contract.js'
import { ApiClientError, exitCodeOf, httpStatusOf, isRefusal, ValidationError } from '../../../src/errors.js'
import { isPort } from '../../../src/state/tables.js'
import { createSilentLogger } from '../../../src/logging/logger.js'
import type { Controller } from '../../../src/state/controller.js'
import type { AgentStatus, MemberInfo } from '../../../src/types.js'

interface Fixture { client: ApiClient, socket: string, calls: unknown[][], mutations: () => number, leaves: () => number }

/** The HTTP status of one call (the client shows only the body). */
async function statusOf (socketPath: string, method: string, path: string, body?: unknown): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

/** A server over a controller that records each call (name and arguments) and answers with them. */
async function serve (t: { teardown: (fn: () => Promise<void>) => void }): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'slb-client-'))
  const calls: unknown[][] = []
  let mutations = 0
  let leaves = 0
  const controller = new Proxy({}, {
    get: (_o, name: string) => (...args: unknown[]) => {
      // the signal is the server's own; not part of what the client sent
      const sent = args.map((a) => (a !== null && typeof a === 'object' && 'signal' in a ? '(signal)' : a))
      calls.push([name, ...sent])
      if (name === 'addTask') return Promise.resolve({ task: { id: (args[0] as { id: string }).id }, created: (args[0] as { id: string }).id !== 'again' })
      if (name.startsWith('remove')) return Promise.resolve()
      return { called: name, args: sent }
    }
  }) as unknown as Controller
  const api = createApiServer({
    controller,
    logger: createSilentLogger(),
    socketPath: join(dir, 'api.sock'),
    role: 'manager',
    members: () => [{ id: 'm1' } as MemberInfo],
    status: () => ({ node: 'n1' }) as AgentStatus,
    afterMutation: async () => { mutations++ },
    leave: async () => { leaves++ }
  })
  await api.start()
  t.teardown(async () => { await api.stop(); await rm(dir, { recursive: true, force: true }) })
  return { client: createApiClient({ socketPath: join(dir, 'api.sock') }), socket: join(dir, 'api.sock'), calls, mutations: () => mutations, leaves: () => leaves }
}

test('every client method reaches its handler with the parameters (any characters), query and validated body it was given', async (t) => {
  const { client, calls, mutations } = await serve(t)
  const ref = 'a b/c?d%'
  t.deepEqual(await client.inspectNetwork(ref), { called: 'inspectNetwork', args: [ref] } as never)
  t.deepEqual(await client.removeNetwork(ref, { force: true }), { removed: ref })
  t.deepEqual(await client.removeService('web'), { removed: 'web' })
  await client.listTasks({ service: 'web&x=1' })
  await client.listTasks()
  await client.createNetwork({ name: 'n', subnets: ['10.1.0.0/24'] })
  await client.createService({ name: 'web', ports: ['80:8080', { port: 53, proto: 'udp' }], networks: ['n'] })
  await client.setTaskState('t 1', { state: 'draining' })
  await client.revokeMember('n 1', { reason: 'stolen' })
  t.deepEqual(await client.unrevokeMember('n 1'), { unrevoked: 'n 1' })
  t.deepEqual(calls, [
    ['inspectNetwork', ref],
    ['removeNetwork', ref, { force: true }],
    ['removeService', 'web', { force: false }],
    ['listTasks', { service: 'web&x=1' }],
    ['listTasks', { service: undefined }],
    ['createNetwork', { name: 'n', subnets: ['10.1.0.0/24'] }],
    ['createService', { name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }, { proto: 'udp', port: 53, targetPort: 53 }], networks: ['n'] }, '(signal)'],
    ['setTaskState', 't 1', 'draining'],
    ['revokeMember', 'n 1', 'stolen'],
    ['unrevokeMember', 'n 1']
  ])
  t.is(mutations(), 7, 'each change is persisted before its answer, reads are not')
})

test('statuses: 201 for a create, 200 for a task that existed, 202 for leave (run after the answer); refusals carry the error name and field', async (t) => {
  const { client, socket, leaves } = await serve(t)
  t.is(await statusOf(socket, 'POST', '/v1/networks', { name: 'n', subnets: ['10.1.0.0/24'] }), 201)
  t.is(await statusOf(socket, 'POST', '/v1/tasks', { service: 'web', id: 'new', ip: '10.0.0.5' }), 201)
  t.is(await statusOf(socket, 'POST', '/v1/tasks', { service: 'web', id: 'again', ip: '10.0.0.5' }), 200)
  t.is(await statusOf(socket, 'DELETE', '/v1/tasks/t1'), 200)
  t.deepEqual(await client.addTask({ service: 'web', id: 'again', ip: '10.0.0.5' }), { id: 'again' } as never)
  t.is(await statusOf(socket, 'POST', '/v1/leave'), 202)
  t.deepEqual(await client.leave(), { leaving: true })
  t.deepEqual(await client.members(), [{ id: 'm1' }] as never)
  t.is((await client.status()).node, 'n1')
  const err = await t.throwsAsync(client.createNetwork({ name: 'n', subnets: ['10.1.0.0/33'] }))
  t.true(err instanceof ApiClientError)
  const e = err as ApiClientError
  t.deepEqual([e.status, e.errorName, e.field, e.message], [400, 'ValidationError', 'subnets[0]', 'subnets[0]: bad CIDR "10.1.0.0/33"'])
  const state = await t.throwsAsync(client.setTaskState('t1', { state: 'gone' as 'ready' })) as ApiClientError
  t.deepEqual([state.status, state.field, state.message], [400, 'state', 'state: must be ready or draining'])
  const wrong = await t.throwsAsync(client.call('PUT', '/v1/networks')) as ApiClientError
  t.deepEqual([wrong.status, wrong.errorName], [405, 'MethodNotAllowed'])
  const none = await t.throwsAsync(client.call('GET', '/v1/networks/')) as ApiClientError
  t.deepEqual([none.status, none.errorName, none.field], [404, 'NotFoundError', 'path'])
  t.is(leaves(), 2)
})

test('each route\'s path is built and matched back to the same route and parameters, and to no other route of its method', (t) => {
  for (const name of ROUTE_NAMES) {
    const r = API_ROUTES[name]
    const params = pathParamNames(r.path).map((p, i) => `${p}/${i} x`)
    const path = buildPath(r, params)
    for (const other of ROUTE_NAMES) {
      const o = API_ROUTES[other]
      const m = matchPath(o.path, path)
      if (other === name) t.deepEqual(Object.values(m ?? {}).map(decodeURIComponent), params, name)
      else if (o.method === r.method) t.is(m, undefined, `${name} path matched ${other}`)
    }
  }
  t.is(buildPath(API_ROUTES.removeNetwork, ['n'], { force: false }), '/v1/networks/n')
  t.is(buildPath(API_ROUTES.removeNetwork, ['n'], { force: true }), '/v1/networks/n?force=1')
  t.deepEqual(parseQuery(API_ROUTES.removeNetwork.query, new URLSearchParams('force=true')), { force: true })
  t.deepEqual(parseQuery(API_ROUTES.removeNetwork.query, new URLSearchParams('force=yes')), { force: false })
  t.is(matchPath('/v1/tasks/:id/state', '/v1/tasks//state'), undefined, 'an empty segment is no parameter')
})

test('a route with a request body has a validator, a route without has none; every change says whether only managers may make it', async (t) => {
  for (const name of ['createNetwork', 'createService', 'addTask', 'setTaskState', 'revokeMember'] as const) {
    const load = API_ROUTES[name].body
    if (load === undefined) { t.fail(`${name} has no validator`); continue }
    const validate = await load()
    t.throws(() => validate([]), { instanceOf: ValidationError }, name)
  }
  const withBody = ROUTE_NAMES.filter((n) => 'body' in API_ROUTES[n])
  t.deepEqual(withBody, ['createNetwork', 'createService', 'publishService', 'addTask', 'setTaskState', 'revokeMember'])
  t.deepEqual(ROUTE_NAMES.filter((n) => 'managerOnly' in API_ROUTES[n]), ['createNetwork', 'removeNetwork', 'createService', 'removeService', 'publishService', 'resignManagerEntries', 'revokeMember', 'unrevokeMember'])
})

test('error meanings: HTTP status, refusal and CLI exit code by name; unknown errors are failures', (t) => {
  const named = (name: string): Error => Object.assign(new Error('x'), { name })
  t.deepEqual(['ValidationError', 'UnauthorizedError', 'ManagerRequiredError', 'NotManagerError', 'NotFoundError', 'NetworkFullError', 'UnsupportedMediaTypeError', 'DeadlineExceededError', 'TypeError', 'constructor'].map((n) => httpStatusOf(named(n))), [400, 401, 403, 403, 404, 409, 415, 503, 500, 500])
  t.deepEqual(['ValidationError', 'ConflictError', 'NotManagerError', 'DeadlineExceededError', 'TypeError'].map((n) => isRefusal(named(n))), [true, true, false, false, false])
  t.deepEqual(['UsageError', 'ConfigError', 'ApiClientError', 'ValidationError'].map((n) => exitCodeOf(named(n))), [2, 2, 1, 1])
})

test('isPort: integers 1..65535 only', (t) => {
  t.deepEqual([1, 80, 65535].map(isPort), [true, true, true])
  t.deepEqual([0, 65536, 1.5, '80', -1, Number.NaN, undefined].map(isPort), [false, false, false, false, false, false, false])
})
