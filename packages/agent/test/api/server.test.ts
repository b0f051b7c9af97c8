import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApiServer } from '../../src/api/server.js'
import { createApiClient } from '../../src/cli/client.js'
import { createSilentLogger } from '../../src/logging/logger.js'
import type { Controller } from '../../src/state/controller.js'

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
