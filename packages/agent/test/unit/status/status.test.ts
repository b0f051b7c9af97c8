import test from 'ava'
import { spawnSync } from 'node:child_process'
import { request } from 'node:http'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster } from '../../support/agents.js'

const hasPromtool = spawnSync('promtool', ['--version']).status === 0

async function http (port: number, method: string, path: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

test('status server: health, readiness, read-only status, and mutating calls refused', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add({ statusServer: true })
  const port = a.agent.statusPort()
  t.is((await http(port, 'GET', '/healthz')).status, 200)
  await waitFor('ready', async () => (await http(port, 'GET', '/readyz')).status === 200)
  const st = JSON.parse((await http(port, 'GET', '/v1/status')).body) as { node: string }
  t.is(st.node, a.agent.id)
  t.is((await http(port, 'POST', '/v1/networks')).status, 405, 'no mutating call on the status address')
  t.is((await http(port, 'DELETE', '/v1/networks/x')).status, 405)
  t.is((await http(port, 'GET', '/v1/networks')).status, 404, 'the control API is not served here')
})

test('metrics carry the agent figures after real activity', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add({ statusServer: true })
  await a.agent.controller.createNetwork({ name: 'm', subnets: ['10.60.0.0/24'] })
  await a.agent.controller.createService({ name: 's', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], networks: ['m'] })
  await a.agent.controller.addTask({ service: 's', netns: '/run/netns/m1' })
  await a.agent.flush()
  const text = (await http(a.agent.statusPort(), 'GET', '/metrics')).body
  for (const name of ['scalelb_lb_sync_duration_seconds_count', 'scalelb_lb_transactions_total', 'scalelb_lb_kernel_objects', 'scalelb_network_programming_duration_seconds_count', 'scalelb_gossip_members{state="alive"}', 'scalelb_ipam_addresses{kind="task"}', 'scalelb_build_info', 'process_cpu_user_seconds_total']) {
    t.true(text.includes(name), `${name} present`)
  }
  t.regex(text, /scalelb_ipam_addresses\{kind="task"\} 1\n/)
  t.regex(text, /scalelb_ipam_addresses\{kind="lb"\} 1\n/)
  t.regex(text, /scalelb_gossip_members\{state="alive"\} 1\n/)
  t.notRegex(text, /scalelb_lb_transactions_total 0\n/)
  t.notRegex(text, /scalelb_network_programming_duration_seconds_count 0\n/)
})

;(hasPromtool ? test : test.skip)(`/metrics passes promtool check metrics${hasPromtool ? '' : ' (skipped: promtool not installed)'}`, async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add({ statusServer: true })
  await a.agent.controller.createNetwork({ name: 'p', subnets: ['10.61.0.0/24'] })
  const text = (await http(a.agent.statusPort(), 'GET', '/metrics')).body
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text })
  t.is(r.status, 0, `${r.stdout.toString()}${r.stderr.toString()}`)
})
