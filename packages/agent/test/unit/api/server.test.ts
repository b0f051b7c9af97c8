import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApiServer } from '../../../src/api/server.js'
import { createApiClient } from '../../../src/api/client.js'
import { createSilentLogger } from '../../../src/logging/logger.js'
import type { Controller } from '../../../src/state/controller.js'

test('a call that does not finish is answered with DeadlineExceededError (503) at its deadline, and its signal is aborted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slb-api-'))
  let seen: AbortSignal | undefined
  // a task add that waits forever unless its signal aborts (as a donation wait does)
  const controller = {
    async addTask (_req: unknown, opts: { signal?: AbortSignal } = {}) {
      seen = opts.signal
      return await new Promise((_resolve, reject) => { opts.signal?.addEventListener('abort', () => { reject(opts.signal?.reason as Error) }) })
    }
  } as unknown as Controller
  const api = createApiServer({
    controller,
    logger: createSilentLogger(),
    socketPath: join(dir, 'api.sock'),
    role: 'manager',
    members: () => [],
    status: () => { throw new Error('unused') },
    afterMutation: async () => {},
    leave: async () => {},
    requestDeadlineMs: 200
  })
  await api.start()
  t.teardown(async () => { await api.stop(); await rm(dir, { recursive: true, force: true }) })
  // the client's own timeout is far longer: the server answers first
  const client = createApiClient({ socketPath: join(dir, 'api.sock') }, 30_000)
  const err = await t.throwsAsync(client.call('POST', '/v1/tasks', { service: 'web', netns: '/run/netns/x' }))
  t.is((err as Error & { status?: number }).status, 503)
  t.regex(err?.message ?? '', /POST \/v1\/tasks did not finish within 200 ms/)
  t.true(seen?.aborted, 'the work was told to stop')
})

test('on a worker, network and service create/rm are refused with 403 naming the rule before the controller is called; reads and tasks go through', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slb-api-'))
  const calls: string[] = []
  const record = (name: string) => (): unknown => { calls.push(name); return name === 'addTask' ? Promise.resolve({ task: { id: 't1' }, created: true }) : name.startsWith('list') ? [] : Promise.resolve() }
  const controller = Object.fromEntries(['createNetwork', 'removeNetwork', 'createService', 'removeService', 'listNetworks', 'listServices', 'addTask', 'removeTask'].map((n) => [n, record(n)])) as unknown as Controller
  const api = createApiServer({ controller, logger: createSilentLogger(), socketPath: join(dir, 'api.sock'), role: 'worker', members: () => [], status: () => { throw new Error('unused') }, afterMutation: async () => {}, leave: async () => {} })
  await api.start()
  t.teardown(async () => { await api.stop(); await rm(dir, { recursive: true, force: true }) })
  const client = createApiClient({ socketPath: join(dir, 'api.sock') })
  for (const [method, path, what] of [
    ['POST', '/v1/networks', 'network create'], ['DELETE', '/v1/networks/front', 'network rm'],
    ['POST', '/v1/services', 'service create'], ['DELETE', '/v1/services/web?force=1', 'service rm']
  ] as const) {
    const err = await t.throwsAsync(client.call(method, path, { name: 'x' })) as Error & { status?: number }
    t.is(err.status, 403, what)
    t.is(err.message, `${what}: only manager nodes may change networks and services; this agent has no --manager-key-file`)
  }
  t.deepEqual(calls, [], 'nothing reached the controller')
  await client.call('GET', '/v1/networks')
  await client.call('GET', '/v1/services')
  await client.call('POST', '/v1/tasks', { service: 'web', ip: '10.0.0.5' })
  await client.call('DELETE', '/v1/tasks/t1')
  t.deepEqual(calls, ['listNetworks', 'listServices', 'addTask', 'removeTask'])
})
