/**
 * docker-compose.yml end to end: base images built on this machine without
 * any registry (docker/build-base.sh), the agent image from the Dockerfile,
 * `docker-compose up` of 3 agents and a Prometheus; every target up with
 * scalelb_ series and 3 alive members on each. Needs root; installs
 * docker.io + docker-compose from Debian when missing and starts dockerd when
 * none runs (stopping only that one). Removes everything it created.
 */
import test from 'ava'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, isRoot, labRun, spawnDetached, stopProcess, waitFor, type ProcRef } from '../packages/agent/src/lab/index.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const rootTest = isRoot() ? test : test.skip

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
    await waitFor('dockerd answers', 60_000, dockerUp)
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
  const compose = async (args: string[], timeoutMs = 600_000): Promise<string> => {
    const r = await labRun('env', [...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'docker-compose', '-p', project, '-f', join(REPO, 'docker-compose.yml'), ...args], { timeoutMs, allowFail: true })
    if (!r.ok) throw new Error(`docker-compose ${args.join(' ')}: ${r.stderr.slice(-2000)}`)
    return r.stdout
  }
  t.teardown(async () => {
    await compose(['down', '-v', '--rmi', 'all', '--remove-orphans'], 300_000).catch((e: unknown) => t.log(String(e)))
    for (const img of [`scalelb-agent:${tag}`, `scalelb-prometheus:${tag}`, `scalelb-base:${tag}`]) {
      await labRun('docker', ['rmi', '-f', img], { allowFail: true })
    }
  })

  await labRun(join(REPO, 'docker', 'build-base.sh'), [tag], { timeoutMs: 300_000 })
  await compose(['build'])
  await compose(['up', '-d'])

  let health: string[] = []
  try {
    await waitFor('Prometheus reports all 3 agents up', 90_000, async () => {
      const r = await promQuery(port, '/api/v1/targets')
      health = (r?.data?.activeTargets ?? []).map((x: { health: string }) => x.health)
      return health.length === 3 && health.every((h) => h === 'up')
    })
  } catch (err) {
    t.log(await compose(['logs', '--tail', '30'], 60_000).catch((e: unknown) => String(e)))
    throw err
  }
  t.deepEqual(health, ['up', 'up', 'up'])
  let alive: string[] = []
  await waitFor('every agent reports 3 alive members to Prometheus', 120_000, async () => {
    const r = await promQuery(port, `/api/v1/query?query=${encodeURIComponent('scalelb_gossip_members{state="alive"}')}`)
    alive = (r?.data?.result ?? []).map((x: { value: [number, string] }) => x.value[1])
    return alive.length === 3 && alive.every((v) => v === '3')
  })
  t.deepEqual(alive, ['3', '3', '3'], 'the agents converged')
  const series = await promQuery(port, `/api/v1/query?query=${encodeURIComponent('count by (instance) ({__name__=~"scalelb_.+"})')}`)
  t.is(series?.data?.result?.length, 3, 'scalelb_ series from every target')
})
