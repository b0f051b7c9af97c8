import test from 'ava'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import { connectionBudget, readOpenFileLimit } from '../../../src/api/fd-budget.js'
import { createSilentLogger } from '../../../src/logging/logger.js'
import { createAgentMetrics } from '../../../src/metrics.js'
import { createStatusServer, type StatusServerInit } from '../../../src/status/server.js'
import type { AgentStatus } from '../../../src/types.js'
import { waitFor } from '@scalelb/test-support'

const STATUS: AgentStatus = {
  node: 'n1', version: '0.1.0', ready: true, role: 'worker', admission: 'open',
  reconciler: { synced: true, transactions: 1, failures: 0, kernelObjects: 3, sandboxes: 1, lastSyncDurationMs: 1 },
  gossip: { members: { alive: 3 }, scopes: ['cluster', 'network:x'] },
  networks: 2, services: 1, localTasks: 1, networkErrors: [{ networkId: 'x', network: 'front', error: 'boom' }], listen: ['/ip4/10.0.0.1/tcp/7946']
}

function server (init: Partial<StatusServerInit> = {}): ReturnType<typeof createStatusServer> & { metricsText: () => Promise<string> } {
  const metrics = createAgentMetrics({ node: 'n1', sources: { reconciler: () => STATUS.reconciler, members: () => [], gossipStats: () => ({ messagesSent: {}, messagesReceived: {}, bytesSent: 0, bytesReceived: 0, dropped: {}, syncs: 0, entries: {}, flow: { written: 0, writtenBytes: 0, learnedPush: 0, learnedSync: 0, broadcastsSent: 0, broadcastsQueued: 0, broadcastsPruned: 0 } }) as never, ipam: () => ({ vip: 0, task: 0, lb: 0, free: 0, cooling: 0 }) } })
  const s = createStatusServer({ host: '127.0.0.1', port: 0, metrics, logger: createSilentLogger(), ready: () => true, status: () => STATUS, ...init })
  return Object.assign(s, { metricsText: async () => await metrics.registry.metrics() })
}

async function get (host: string, port: number, path: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request({ host, port, path, agent: false }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

test('connection budget: the constant, capped by a share of RLIMIT_NOFILE, never below the floor', (t) => {
  t.is(readOpenFileLimit('Limit  Soft Limit  Hard Limit  Units\nMax open files            1024                 4096                 files\n'), 1024)
  t.is(readOpenFileLimit('Max open files            unlimited            unlimited            files\n'), undefined)
  t.is(connectionBudget(256, 0.25, 1024), 256)
  t.is(connectionBudget(256, 0.25, 512), 128)
  t.is(connectionBudget(256, 0.25, 20), 16)
  t.is(connectionBudget(256, 0.25, undefined), 256)
  t.true((readOpenFileLimit() ?? 1) > 0, 'this process has a readable limit')
})

test('status server: a flood of idle connections is held to the cap, the excess closed and counted, /healthz still answers', async (t) => {
  const s = server({ maxConnections: 20 })
  await s.start()
  const sockets: Socket[] = []
  t.teardown(async () => {
    for (const x of sockets) x.destroy()
    await s.stop()
  })
  let closed = 0
  await Promise.all(Array.from({ length: 300 }, async () => await new Promise<void>((resolve) => {
    const c = connect(s.port(), '127.0.0.1')
    sockets.push(c)
    c.on('close', () => { closed++ })
    c.on('error', () => {})
    c.once('connect', () => resolve())
    c.once('error', () => resolve())
  })))
  await waitFor('the server closed the connections over its cap', () => closed >= 300 - 20)
  t.true(s.connections() <= 20, `held ${s.connections()}`)
  t.is((await get('127.0.0.1', s.port(), '/healthz')).status, 200, 'a new client evicts the idlest flood connection')
  const text = await s.metricsText()
  const evicted = Number(/scalelb_status_connections_dropped_total\{reason="evicted"\} (\d+)/.exec(text)?.[1])
  t.true(evicted >= 280, `evicted ${evicted}`)
})

const external = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address

;(external === undefined ? test.skip : test)(`/v1/status off loopback shows only node, version, ready and member counts unless --status-detail full${external === undefined ? ' (skipped: no non-loopback IPv4 address)' : ''}`, async (t) => {
  const summary = server({ host: '0.0.0.0' })
  const full = server({ host: '0.0.0.0', statusDetail: 'full' })
  await summary.start()
  await full.start()
  t.teardown(async () => { await summary.stop(); await full.stop() })
  const remote = JSON.parse((await get(external as string, summary.port(), '/v1/status')).body) as Record<string, unknown>
  t.deepEqual(remote, { node: 'n1', version: '0.1.0', ready: true, gossip: { members: { alive: 3 } } })
  t.deepEqual(JSON.parse((await get('127.0.0.1', summary.port(), '/v1/status')).body), STATUS, 'loopback gets everything')
  t.deepEqual(JSON.parse((await get(external as string, full.port(), '/v1/status')).body), STATUS, 'full when configured')
})
