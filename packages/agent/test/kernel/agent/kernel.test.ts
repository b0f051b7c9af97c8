import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { rootTest, waitFor } from '@scalelb/test-support'
import { createLab, netnsWithPrefix, startClient, startServer, type NetnsLab } from '../../support/netns.js'
import { cli, startAgentProcess, type AgentProcess } from '../../e2e/agent/process.js'

async function links (netns: string): Promise<string[]> {
  const r = await execa('ip', ['-n', netns, '-j', 'link', 'show'])
  return (JSON.parse(r.stdout) as Array<{ ifname: string }>).map((l) => l.ifname).filter((n) => n !== 'lo')
}

async function nftTables (netns: string): Promise<string> {
  return (await execa('ip', ['netns', 'exec', netns, 'nft', 'list', 'tables'])).stdout.trim()
}

rootTest.serial(`agent with the nft programmer: VIP spreads over 3 task netns, drain, restart keeps connections, network delete leaves nothing`, async (t) => {
  const lab: NetnsLab = await createLab('ag')
  const dataDir = await mkdtemp(join(tmpdir(), 'slb-kern-'))
  const socket = join(dataDir, 'api.sock')
  let agent: AgentProcess | undefined
  t.teardown(async () => {
    await agent?.stop('SIGKILL')
    // the agent's LB netns carry the lab prefix, so the lab cleanup removes them too
    await lab.cleanup()
    await rm(dataDir, { recursive: true, force: true })
  })
  await execa('ip', ['-n', lab.host, 'link', 'set', 'lo', 'up'])
  const args = ['--insecure', '--programmer', 'nft', '--netns-prefix', lab.prefix, '--data-dir', dataDir,
    '--listen', '/ip4/127.0.0.1/tcp/0', '--metrics-addr', '127.0.0.1:0', '--profile', 'local', '--log-level', 'debug']
  const start = async (): Promise<AgentProcess> => {
    const p = startAgentProcess(args, lab.host)
    // held before it is ready, so a start that times out is still stopped by the teardown
    agent = p
    await waitFor('agent ready', async () => {
      if (p.child.exitCode !== null) throw new Error(`agent exited: ${p.output()}`)
      const r = await cli(socket, 'status', '--json')
      return r.code === 0 && (JSON.parse(r.out) as { ready: boolean }).ready
    }, { timeoutMs: 30_000 })
    return p
  }
  agent = await start()
  t.teardown(() => { if (!t.passed) t.log(agent?.output().split('\n').slice(-40).join('\n')) })

  const ok = async (...argv: string[]): Promise<string> => {
    const r = await cli(socket, ...argv)
    t.is(r.code, 0, `${argv.join(' ')}: ${r.err}`)
    return r.out.trim()
  }
  await ok('network', 'create', 'front', '--subnet', '10.77.0.0/24')
  await ok('service', 'create', 'web', '--port', '80:8080/tcp', '--network', 'front')
  await ok('service', 'create', 'client', '--port', '9/tcp', '--network', 'front')
  const vip = (JSON.parse(await ok('service', 'inspect', 'web')) as { vips: Array<{ vip: string }> }).vips[0]?.vip as string

  const taskIds: Record<string, string> = {}
  for (const name of ['t1', 't2', 't3']) {
    const ns = await lab.netns(name)
    await startServer(lab, ns, name, 8080)
    taskIds[name] = (await ok('task', 'add', 'web', '--netns', `/run/netns/${ns}`, '--id', name)).split(' ')[0] as string
  }
  const clientNs = await lab.netns('cl')
  await ok('task', 'add', 'client', '--netns', `/run/netns/${clientNs}`, '--id', 'cl')
  const client = startClient(lab, clientNs)

  let spread: Record<string, number> = {}
  await waitFor('connections to the VIP reach all 3 tasks', async () => {
    spread = await client.spread(vip, 80, 30)
    return ['t1', 't2', 't3'].every((n) => (spread[n] ?? 0) > 0)
  }, { timeoutMs: 20_000 })
  t.deepEqual(Object.keys(spread).sort(), ['t1', 't2', 't3'], JSON.stringify(spread))

  // drain t1: no new connection reaches it
  await ok('task', 'drain', 't1')
  await waitFor('t1 drained', async () => (await client.spread(vip, 80, 12)).t1 === undefined, { timeoutMs: 20_000 })
  const afterDrain = await client.spread(vip, 80, 30)
  t.false('t1' in afterDrain, JSON.stringify(afterDrain))
  t.true((afterDrain.t2 ?? 0) > 0 && (afterDrain.t3 ?? 0) > 0, JSON.stringify(afterDrain))

  // restart: an open connection keeps working while the agent is down and after it adopted the kernel state
  const server = await client.open('c1', vip, 80)
  t.true(['t2', 't3'].includes(server))
  t.is(await client.send('c1', 'before'), `${server}:before`)
  t.is(await agent.stop('SIGTERM'), 0, 'SIGTERM exits 0')
  t.is(await client.send('c1', 'down'), `${server}:down`, 'kernel state stays while the agent is stopped')
  agent = await start()
  t.is(await client.send('c1', 'after'), `${server}:after`, 'the restarted agent adopted the state without cutting the connection')
  const afterRestart = await client.spread(vip, 80, 20)
  t.false('t1' in afterRestart, `drain survives the restart: ${JSON.stringify(afterRestart)}`)

  // delete the network: no LB netns, veth, bridge, address or nft table left
  await ok('network', 'rm', 'front', '--force')
  await waitFor('kernel state removed', async () => {
    const lbNs = (await netnsWithPrefix(lab.prefix)).filter((n) => n.startsWith(`${lab.prefix}lb-`))
    return lbNs.length === 0 && (await links(lab.host)).length === 0 && await nftTables(lab.host) === ''
  }, { timeoutMs: 20_000 })
  t.deepEqual(await links(lab.host), [], 'no bridge or veth left in the host netns')
  t.is(await nftTables(lab.host), '', 'no nft table left')
  for (const name of ['t1', 't2', 't3', 'cl']) t.deepEqual(await links(`${lab.prefix}${name}`), [], `no veth left in task netns ${name}`)
  t.is(await agent.stop('SIGTERM'), 0)
})
