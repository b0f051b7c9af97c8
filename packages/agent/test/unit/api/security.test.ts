import test from 'ava'
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApiServer } from '../../../src/api/server.js'
import { runCli } from '../../../src/cli/main.js'
import { createSilentLogger } from '../../../src/logging/logger.js'
import type { Controller } from '../../../src/state/controller.js'
import type { AgentStatus } from '../../../src/types.js'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster, type TestAgent } from '../../support/agents.js'

interface Reply { status: number, body: { error?: { name: string, message: string } } & Record<string, unknown> }

/** One raw request to the agent's loopback TCP API, headers as given. */
async function tcp (a: TestAgent, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: a.agent.apiTcpPort(), method, path, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) } }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Reply['body'] }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

test('TCP control API: token in the data dir (0600), 401 without or with a wrong one, 403 cross-origin or rebound Host, 415 for non-JSON bodies', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add({ apiAddr: '127.0.0.1:0' })
  const tokenFile = join(a.dataDir, 'api.token')
  const token = (await readFile(tokenFile, 'utf8')).trim()
  t.regex(token, /^[0-9a-f]{64}$/)
  t.is((await stat(tokenFile)).mode & 0o777, 0o600)
  const port = a.agent.apiTcpPort() ?? 0
  const host = `127.0.0.1:${port}`
  const json = JSON.stringify({ name: 'n', subnets: ['10.71.0.0/24'] })
  const auth = { authorization: `Bearer ${token}` }

  const none = await tcp(a, 'GET', '/v1/networks', { host })
  t.is(none.status, 401)
  t.is(none.body.error?.name, 'UnauthorizedError')
  t.regex(none.body.error?.message ?? '', /api\.token/)
  t.is((await tcp(a, 'GET', '/v1/networks', { host, authorization: `Bearer ${'0'.repeat(64)}` })).status, 401, 'wrong token')
  t.is((await tcp(a, 'GET', '/v1/networks', { host, authorization: token })).status, 401, 'not a bearer header')

  // a web page's fetch: cross-origin, with or without the token
  const page = await tcp(a, 'POST', '/v1/networks', { host, origin: 'http://evil.example', 'content-type': 'application/json' }, json)
  t.is(page.status, 403)
  t.is(page.body.error?.name, 'ForbiddenError')
  t.is((await tcp(a, 'POST', '/v1/networks', { host, origin: 'http://evil.example', 'content-type': 'text/plain', ...auth }, json)).status, 403)
  t.is((await tcp(a, 'POST', '/v1/networks', { host, origin: 'null', ...auth, 'content-type': 'application/json' }, json)).status, 403)
  // DNS rebinding: the page's own name resolved to 127.0.0.1
  t.is((await tcp(a, 'GET', '/v1/networks', { host: `evil.example:${port}`, ...auth })).status, 403)
  t.is((await tcp(a, 'GET', '/v1/networks', { host: `127.0.0.1.nip.io:${port}`, ...auth })).status, 403)

  // a browser's "simple" POST carries text/plain (or a form type): refused even with the token
  const plain = await tcp(a, 'POST', '/v1/networks', { host, ...auth, 'content-type': 'text/plain' }, json)
  t.is(plain.status, 415)
  t.is(plain.body.error?.name, 'UnsupportedMediaTypeError')
  t.is((await tcp(a, 'POST', '/v1/networks', { host, ...auth }, json)).status, 415, 'a body without a Content-Type')
  t.is(a.agent.controller.listNetworks().length, 0, 'no refused call created anything')

  const ok = await tcp(a, 'POST', '/v1/networks', { host, ...auth, 'content-type': 'application/json; charset=utf-8', origin: `http://localhost:${port}` }, json)
  t.is(ok.status, 201)
  t.is((await tcp(a, 'GET', '/v1/networks', { host: `localhost:${port}`, ...auth })).status, 200)
  t.is((await tcp(a, 'GET', '/v1/status', { host: `[::1]:${port}`, ...auth })).status, 200, 'an IPv6 loopback Host is fine')

  // a restart keeps the token
  await a.agent.stop()
  const again = await cluster.add({ dataDir: a.dataDir, apiAddr: '127.0.0.1:0' })
  t.is((await readFile(join(again.dataDir, 'api.token'), 'utf8')).trim(), token)
})

test('the CLI over --api-addr sends the token from the data dir, SCALELB_API_TOKEN or --api-token-file', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add({ apiAddr: '127.0.0.1:0' })
  const addr = `127.0.0.1:${a.agent.apiTcpPort() ?? 0}`
  const run = async (argv: string[], env: Record<string, string>): Promise<{ code: number, err: string }> => {
    let err = ''
    const code = await runCli(argv, { io: { out: () => {}, err: (s) => { err += s } }, env })
    return { code, err }
  }
  t.is((await run(['network', 'ls'], { SCALELB_API_ADDR: addr, SCALELB_DATA_DIR: a.dataDir })).code, 0)
  const token = (await readFile(join(a.dataDir, 'api.token'), 'utf8')).trim()
  t.is((await run(['network', 'ls', '--api-addr', addr], { SCALELB_API_TOKEN: token, SCALELB_DATA_DIR: '/nonexistent' })).code, 0)
  t.is((await run(['--api-token-file', join(a.dataDir, 'api.token'), 'network', 'ls', '--api-addr', addr], { SCALELB_DATA_DIR: '/nonexistent' })).code, 0)
  const without = await run(['network', 'ls'], { SCALELB_API_ADDR: addr, SCALELB_DATA_DIR: '/nonexistent' })
  t.is(without.code, 1)
  t.regex(without.err, /bearer token is required/)
  t.is((await run(['network', 'ls', '--api-addr', addr, '--api-token-file', '/nonexistent/token'], {})).code, 2)
})

test('the control socket is 0660 and its directory may not be world-writable', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slb-sock-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const init = { controller: {} as unknown as Controller, logger: createSilentLogger(), role: 'manager' as const, members: () => [], status: () => ({}) as unknown as AgentStatus, afterMutation: async () => {}, leave: async () => {} }
  const good = createApiServer({ ...init, socketPath: join(dir, 'ok', 'api.sock') })
  await good.start()
  t.teardown(async () => { await good.stop() })
  t.is((await stat(join(dir, 'ok', 'api.sock'))).mode & 0o777, 0o660)
  await mkdir(join(dir, 'open'))
  await chmod(join(dir, 'open'), 0o777)
  const bad = createApiServer({ ...init, socketPath: join(dir, 'open', 'api.sock') })
  const err = await t.throwsAsync(bad.start())
  t.regex(err?.message ?? '', /world-writable/)
})

test('the control API holds at most its cap of connections per listener', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slb-cap-'))
  const sockets: Socket[] = []
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await rm(dir, { recursive: true, force: true })
  })
  const path = join(dir, 'api.sock')
  const server = createApiServer({ controller: {} as unknown as Controller, logger: createSilentLogger(), role: 'manager', members: () => [], status: () => ({}) as unknown as AgentStatus, afterMutation: async () => {}, leave: async () => {}, socketPath: path, maxConnections: 4 })
  await server.start()
  t.teardown(async () => { await server.stop() })
  let closed = 0
  for (let i = 0; i < 10; i++) {
    const s = connect(path)
    s.on('error', () => {})
    s.on('close', () => { closed++ })
    sockets.push(s)
  }
  await waitFor('the connections over the cap are closed', () => closed >= 6)
  t.is(closed, 6)
})
