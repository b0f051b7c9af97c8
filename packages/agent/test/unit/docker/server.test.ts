import test from 'ava'
import { request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSilentLogger } from '../../../src/logging/logger.js'
import { createPluginServer } from '../../../src/docker/server.js'
import { DockerPluginError, PluginRequestError } from '../../../src/docker/errors.js'
import type { DockerPlugin } from '../../../src/docker/plugin.js'

/** POST a body to the plugin socket as dockerd does. */
async function post (socketPath: string, method: string, body: string): Promise<{ status: number, type: string, json: Record<string, unknown> }> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath, path: `/${method}`, method: 'POST', headers: { 'content-type': 'application/vnd.docker.plugins.v1.2+json' } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), json: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

test('the socket speaks the plugin protocol: JSON in the v1.2 content type; Err for network calls, Error for IPAM calls (as libnetwork reads them); 400, 404, 500', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slbdocker-srv-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const plugin: DockerPlugin = {
    methods: () => ['Plugin.Activate', 'NetworkDriver.Join', 'IpamDriver.RequestAddress', 'IpamDriver.ReleasePool'],
    async handle (method, body) {
      if (method === 'Plugin.Activate') return { Implements: ['NetworkDriver', 'IpamDriver'], got: body }
      if (method === 'IpamDriver.ReleasePool') throw new Error('a bug')
      if ((body as { bad?: boolean }).bad === true) throw new PluginRequestError('PoolID', 'required')
      throw new DockerPluginError(`${method} refused`)
    },
    state: () => ({ networks: {}, endpoints: {} }),
    boundNetwork: () => undefined,
    networkCreated: async () => {}
  }
  const socketPath = join(dir, 'scalelb.sock')
  const server = createPluginServer({ plugin, socketPath, logger: createSilentLogger() })
  await server.start()
  t.teardown(async () => { await server.stop() })

  // dockerd activates with an empty body
  const act = await post(socketPath, 'Plugin.Activate', '')
  t.is(act.status, 200)
  t.is(act.type, 'application/vnd.docker.plugins.v1.2+json')
  t.deepEqual(act.json, { Implements: ['NetworkDriver', 'IpamDriver'], got: {} })
  t.deepEqual(await post(socketPath, 'NetworkDriver.Join', '{}'), { status: 200, type: act.type, json: { Err: 'NetworkDriver.Join refused' } })
  t.deepEqual((await post(socketPath, 'IpamDriver.RequestAddress', '{}')).json, { Error: 'IpamDriver.RequestAddress refused' })
  const bad = await post(socketPath, 'IpamDriver.RequestAddress', '{"bad":true}')
  t.is(bad.status, 400)
  t.is(bad.json.Error, 'PoolID: required')
  const notJson = await post(socketPath, 'NetworkDriver.Join', '{')
  t.is(notJson.status, 400)
  t.regex(String(notJson.json.Err), /^body: not valid JSON/)
  t.is((await post(socketPath, 'NetworkDriver.AllocateNetwork', '{}')).status, 404, 'unknown methods are 404, so dockerd treats them as not implemented')
  const bug = await post(socketPath, 'IpamDriver.ReleasePool', '{}')
  t.is(bug.status, 500)
  t.is(bug.json.Error, 'IpamDriver.ReleasePool failed: a bug')
  await server.stop()
  await server.stop()
})
