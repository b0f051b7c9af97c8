import test from 'ava'
import { request } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster } from '../../support/agents.js'
import { startFakeDockerd } from '../../support/fake-dockerd.js'

/** The plugin calls dockerd 20.10 made (recorded), by step. */
interface Call { method: string, body: Record<string, unknown> }
const fixtures = JSON.parse(readFileSync(new URL('../../unit/docker/fixtures/dockerd-20.10.json', import.meta.url), 'utf8')) as Record<string, Call[]>
const run = fixtures.containerRun as Call[]
const DOCKER_NET = (fixtures.networkCreate as Call[])[2]?.body.NetworkID as string
const ENDPOINT = run[2]?.body.EndpointID as string
const CONTAINER = 'c'.repeat(64)

async function call (socketPath: string, c: Call): Promise<Record<string, unknown>> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath, path: `/${c.method}`, method: 'POST' }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => { resolve(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) })
    })
    req.on('error', reject)
    req.end(JSON.stringify(c.body))
  })
}

test('an agent with --docker-plugin, driven by the recorded dockerd calls and a stand-in Engine API: network, address, endpoint-only task, label membership, withdraw, resync', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const pluginSocket = join(cluster.dir, 'plugins', 'scalelb.sock')
  const dockerd = await startFakeDockerd(join(cluster.dir, 'docker.sock'))
  t.teardown(async () => { await dockerd.close() })
  dockerd.networks.set(DOCKER_NET, 'front')
  const a = await cluster.add({ flags: { 'docker-plugin': true, 'docker-plugin-socket': pluginSocket, 'docker-socket': join(cluster.dir, 'docker.sock') } })
  await waitFor('the label follower is connected', () => dockerd.streamsOpened() === 1)
  const webTasks = (): Array<{ id: string }> => a.agent.controller.listTasks().filter((x) => x.service === 'web')

  for (const c of [...fixtures.handshake as Call[], ...fixtures.networkCreate as Call[]]) t.is((await call(pluginSocket, c)).Err, undefined)
  // dockerd hands CreateEndpoint the address IPAM answered (the recording has the one of its run)
  const answers: Array<Record<string, unknown>> = []
  for (const c of run) {
    const body = c.method === 'NetworkDriver.CreateEndpoint' ? { ...c.body, Interface: { ...(c.body.Interface as object), Address: answers[0]?.Address } } : c.body
    answers.push(await call(pluginSocket, { method: c.method, body }))
  }
  t.deepEqual(answers.map((x) => x.Err ?? x.Error), [undefined, undefined, undefined, undefined, undefined], JSON.stringify(answers))
  const ip = (answers[0]?.Address as string).split('/')[0] as string
  const net = a.agent.controller.inspectNetwork('front')
  t.deepEqual(net.subnets, ['10.20.0.0/24'], 'created under the Docker network\'s name')
  t.truthy(net.lbIp)
  t.is((answers[2] as { Gateway: string }).Gateway, net.lbIp as string, 'the gateway is this node\'s LB IP')
  const task = a.agent.controller.listTasks().find((x) => x.id === ENDPOINT)
  t.like(task, { service: undefined, endpoints: [{ network: 'front', ip }] })
  t.is(a.agent.allocator.allocations(net.id).find((x) => x.address === ip)?.owner, ENDPOINT, 'the IPAM reservation became the task\'s')

  // docker run --label scalelb.service=web --label scalelb.port=80:8080/tcp: start event, then inspect
  dockerd.containers.set(CONTAINER, { Id: CONTAINER, Labels: { 'scalelb.service': 'web', 'scalelb.port': '80:8080/tcp' }, NetworkSettings: { Networks: { front: { NetworkID: DOCKER_NET, EndpointID: ENDPOINT } } } })
  dockerd.emit({ Type: 'container', Action: 'start', Actor: { ID: CONTAINER, Attributes: { 'scalelb.service': 'web', 'scalelb.port': '80:8080/tcp' } } })
  await waitFor('the endpoint is a backend of web', () => webTasks().some((x) => x.id === ENDPOINT))
  t.deepEqual(a.agent.controller.inspectService('web').ports, [{ proto: 'tcp', port: 80, targetPort: 8080 }], 'created from scalelb.port')

  dockerd.emit({ Type: 'container', Action: 'die', Actor: { ID: CONTAINER, Attributes: {} } })
  await waitFor('die withdraws it', () => webTasks().length === 0)

  // dockerd restarts while the container runs: the resync after reconnecting makes it a backend again
  dockerd.endStreams()
  await waitFor('reconnected', () => dockerd.streamsOpened() === 2)
  await waitFor('the resync found the running container', () => webTasks().length === 1)

  // docker rm -f: Leave, DeleteEndpoint, ReleaseAddress
  dockerd.containers.delete(CONTAINER)
  for (const c of fixtures.containerRm as Call[]) {
    const body = c.method === 'IpamDriver.ReleaseAddress' ? { ...c.body, Address: ip } : c.body
    const r = await call(pluginSocket, { method: c.method, body })
    t.is(r.Err ?? r.Error, undefined)
  }
  t.false(a.agent.controller.listTasks().some((x) => x.id === ENDPOINT))
  t.deepEqual(a.agent.allocator.allocations(net.id).filter((x) => x.kind === 'task'), [], 'the address is released')
  for (const c of fixtures.networkRm as Call[]) await call(pluginSocket, c)
  t.is(a.agent.controller.inspectNetwork('front').name, 'front', 'the cluster network stays')
})
