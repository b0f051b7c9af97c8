/**
 * docker-compose.yml end to end: base images built on this machine without
 * any registry (docker/build-base.sh), the agent image from the Dockerfile,
 * `docker-compose up` of 3 agents and a Prometheus; every target up with
 * scalelb_ series and 3 alive members on each; then the README's walk-through:
 * `scalelb` in a container, a network, a service, tasks in namespaces inside
 * two agent containers, and a client in a third reaching both through the VIP. Needs root; installs
 * docker.io + docker-compose from Debian when missing and starts dockerd when
 * none runs (stopping only that one). Removes everything it created.
 */
import { rootTest } from '@scalelb/test-support'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, labRun, spawnDetached, stopProcess, type ProcRef } from '../packages/lab/src/index.js'
import { waitFor } from '@scalelb/test-support'

const REPO = fileURLToPath(new URL('..', import.meta.url))

async function has (cmd: string): Promise<boolean> {
  return (await labRun('sh', ['-c', `command -v ${cmd}`], { allowFail: true })).ok
}

async function dockerUp (): Promise<boolean> {
  return (await labRun('docker', ['info', '--format', '{{.ServerVersion}}'], { allowFail: true, timeoutMs: 20_000 })).ok
}

async function promQuery (port: number, path: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) })
    return r.ok ? await r.json() : undefined
  } catch {
    return undefined
  }
}

rootTest('docker-compose: 3 agents join each other and Prometheus scrapes them all (needs root and Docker)', async (t) => {
  t.timeout(15 * 60_000)
  if (!await has('docker') || !await has('docker-compose') || !await has('dockerd')) {
    await labRun('apt-get', ['update', '-qq'], { timeoutMs: 300_000 })
    await labRun('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'docker.io', 'docker-compose'], { timeoutMs: 600_000 })
  }
  let dockerd: ProcRef | undefined
  if (!await dockerUp()) {
    const logDir = mkdtempSync(join(tmpdir(), 'slb-dockerd-'))
    // no iptables (a DROP policy on FORWARD would cut other tests' bridges) and no docker0: the
    // compose network is a user-defined bridge, its published port goes through docker-proxy
    dockerd = spawnDetached({ argv: ['dockerd', '--iptables=false', '--bridge=none'], logFile: join(logDir, 'dockerd.log') })
    t.teardown(async () => {
      if (dockerd !== undefined) await stopProcess(dockerd, { graceMs: 20_000 })
      rmSync(logDir, { recursive: true, force: true })
    })
    await waitFor('dockerd answers', dockerUp, { timeoutMs: 60_000 })
  }
  if (!existsSync(join(REPO, 'packages', 'agent', 'dist', 'cli', 'bin.js'))) {
    await labRun(process.execPath, [join(REPO, 'scripts', 'tsc.mjs'), '-b'], { timeoutMs: 300_000 })
  }

  const id = randomBytes(3).toString('hex')
  const tag = `t${id}`
  const project = `slbc${id}`
  const port = await freePort()
  const env = {
    SCALELB_TAG: tag,
    SCALELB_PROMETHEUS_PORT: String(port),
    SCALELB_SUBNET_PREFIX: `10.${200 + (parseInt(id.slice(0, 2), 16) % 50)}.${parseInt(id.slice(2, 4), 16)}`
  }
  const composeRun = async (args: string[], timeoutMs: number): Promise<{ ok: boolean, stdout: string, stderr: string }> => {
    return await labRun('env', [...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'docker-compose', '-p', project, '-f', join(REPO, 'docker-compose.yml'), ...args], { timeoutMs, allowFail: true })
  }
  const compose = async (args: string[], timeoutMs = 600_000): Promise<string> => {
    const r = await composeRun(args, timeoutMs)
    if (!r.ok) throw new Error(`docker-compose ${args.join(' ')}: ${r.stderr.slice(-2000)}`)
    return r.stdout
  }
  t.teardown(async () => {
    const down = ['down', '-v', '--rmi', 'all', '--remove-orphans']
    if (!(await composeRun(down, 300_000)).ok) {
      // a container that did not stop in time (a loaded machine) blocks `down`: force-remove this project's containers, then again
      const ids = (await labRun('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`], { allowFail: true })).stdout.split('\n').filter((x) => x !== '')
      if (ids.length > 0) await labRun('docker', ['rm', '-f', '-v', ...ids], { allowFail: true, timeoutMs: 120_000 })
      const again = await composeRun(down, 300_000)
      if (!again.ok) t.log(`docker-compose down: ${again.stderr.slice(-2000)}`)
    }
    for (const img of [`scalelb-agent:${tag}`, `scalelb-prometheus:${tag}`, `scalelb-base:${tag}`]) {
      await labRun('docker', ['rmi', '-f', img], { allowFail: true })
    }
  })

  await labRun(join(REPO, 'docker', 'build-base.sh'), [tag], { timeoutMs: 300_000 })
  await compose(['build'])
  await compose(['up', '-d'])

  let health: string[] = []
  try {
    await waitFor('Prometheus reports all 3 agents up', async () => {
      const r = await promQuery(port, '/api/v1/targets')
      health = (r?.data?.activeTargets ?? []).map((x: { health: string }) => x.health)
      return health.length === 3 && health.every((h) => h === 'up')
    }, { timeoutMs: 90_000 })
  } catch (err) {
    t.log(await compose(['logs', '--tail', '30'], 60_000).catch((e: unknown) => String(e)))
    throw err
  }
  t.deepEqual(health, ['up', 'up', 'up'])
  let alive: string[] = []
  await waitFor('every agent reports 3 alive members to Prometheus', async () => {
    const r = await promQuery(port, `/api/v1/query?query=${encodeURIComponent('scalelb_gossip_members{state="alive"}')}`)
    alive = (r?.data?.result ?? []).map((x: { value: [number, string] }) => x.value[1])
    return alive.length === 3 && alive.every((v) => v === '3')
  }, { timeoutMs: 120_000 })
  t.deepEqual(alive, ['3', '3', '3'], 'the agents converged')
  const series = await promQuery(port, `/api/v1/query?query=${encodeURIComponent('count by (instance) ({__name__=~"scalelb_.+"})')}`)
  t.is(series?.data?.result?.length, 3, 'scalelb_ series from every target')

  // the README's walk-through: the CLI on the image's PATH finds its agent's socket
  const exec = async (svc: string, ...argv: string[]): Promise<string> => await compose(['exec', '-T', svc, ...argv], 60_000)
  const members = JSON.parse(await exec('agent1', 'scalelb', 'members', '--json')) as Array<{ state: string }>
  t.deepEqual(members.map((m) => m.state), ['alive', 'alive', 'alive'], 'scalelb members in agent1')
  await exec('agent1', 'scalelb', 'network', 'create', 'front', '--subnet', '10.20.0.0/24')
  await exec('agent1', 'scalelb', 'service', 'create', 'web', '--port', '80:8080/tcp', '--network', 'front')
  await exec('agent1', 'scalelb', 'service', 'create', 'client', '--port', '7/tcp', '--network', 'front')
  // agent1 holds the manager key; agent2 is a worker
  const refused = await composeRun(['exec', '-T', 'agent2', 'scalelb', 'network', 'create', 'back', '--subnet', '10.21.0.0/24'], 60_000)
  t.false(refused.ok)
  t.regex(refused.stderr + refused.stdout, /network create: only manager nodes may change networks and services/)
  // a node's first task on a network waits for an address donation by gossip; on a loaded machine
  // that can outlast the CLI's 30 s: a repeated add of the same task is idempotent, so retry (logged)
  const addTask = async (svc: string, service: string, task: string): Promise<void> => {
    await exec(svc, 'ip', 'netns', 'add', task)
    for (let attempt = 1; ; attempt++) {
      const r = await composeRun(['exec', '-T', svc, 'scalelb', 'task', 'add', service, '--netns', `/run/netns/${task}`, '--id', task], 60_000)
      if (r.ok) return
      if (attempt === 3 || !/no answer within/.test(r.stderr)) throw new Error(`task add ${task} on ${svc}: ${r.stderr}`)
      t.log(`task add ${task} on ${svc}, attempt ${attempt}: ${r.stderr}`)
    }
  }
  for (const [svc, task] of [['agent2', 'web1'], ['agent3', 'web2']] as const) {
    await addTask(svc, 'web', task)
    await compose(['exec', '-T', '-d', svc, 'ip', 'netns', 'exec', task, 'node', '-e', `require('http').createServer((q, s) => s.end('${task} on ${svc}\\n')).listen(8080)`])
  }
  await addTask('agent1', 'client', 'c1')
  const vip = (JSON.parse(await exec('agent1', 'scalelb', 'service', 'inspect', 'web')) as { vips: Array<{ vip: string }> }).vips[0]?.vip
  t.truthy(vip)
  const seen = new Set<string>()
  try {
    await waitFor('a client on agent1 reaches both web tasks (agent2, agent3) through the VIP', async () => {
      const r = await composeRun(['exec', '-T', 'agent1', 'ip', 'netns', 'exec', 'c1', 'node', '-e', `fetch('http://${vip ?? ''}/').then((r) => r.text()).then((t) => process.stdout.write(t))`], 20_000)
      if (r.ok) seen.add(r.stdout.trim())
      return seen.size === 2
    }, { timeoutMs: 120_000 })
  } catch (err) {
    t.log(`answers so far: ${JSON.stringify([...seen])}`)
    for (const svc of ['agent1', 'agent2', 'agent3']) {
      const r = await composeRun(['exec', '-T', svc, 'sh', '-c', 'scalelb members; scalelb task ls; ip -all netns exec nft list ruleset'], 60_000)
      t.log(`${svc}:\n${r.stdout}\n${r.stderr}`)
    }
    throw err
  }
  t.deepEqual([...seen].sort(), ['web1 on agent2', 'web2 on agent3'])
})
