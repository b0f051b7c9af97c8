/**
 * The Docker network + IPAM plugin against real dockerd 20.10 (Debian
 * docker.io): a 2-host netns lab, each host with its agent (--docker-plugin)
 * and its own dockerd. `docker network create -d scalelb` on both binds the
 * cluster network; labelled containers on both hosts become backends of
 * service web; a third container reaches both through the VIP; `docker rm -f`
 * withdraws a backend everywhere; examples/compose-app's `web` through
 * docker-compose 1.29. Needs root, docker.io, docker-compose and busybox-static.
 */
import test from 'ava'
import { isRoot } from '@scalelb/test-support'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { labApi, labDown, labLeftovers, labRun, labUp, startAgent, stopProcess, waitFor, type LabHost, type LabState } from '../packages/lab/src/index.js'
import { docker, dockerMissing, importBusybox, startDockerd, stopDockerd, type TestDockerd } from './helpers/dockerd.js'

const SUBNET = '10.77.0.0/24'
const NETWORK = 'front'
const missing = isRoot ? await dockerMissing() : 'needs root'
const serial = missing === undefined ? test.serial : test.serial.skip
const title = (s: string): string => missing === undefined ? s : `${s} (skipped: ${missing})`

let tmp: string | undefined
let lab: LabState | undefined
const dockerds: TestDockerd[] = []
let image = ''

function dockerOf (name: string): TestDockerd {
  const d = dockerds.find((x) => x.host.name === name)
  if (d === undefined) throw new Error(`no dockerd on ${name} (see the first failure)`)
  return d
}

/** (Re)start the agent of `h` with the plugin on `d`'s plugin directory and socket (a restart keeps kernel state and tasks). */
async function restartAgent (h: LabHost, d: TestDockerd): Promise<void> {
  const state = lab as LabState
  await stopProcess({ pid: h.pid as number, pidStart: h.pidStart as string })
  const peer = state.hosts.find((x) => x !== h) as LabHost
  await startAgent(state, h, { join: [peer.listen], extraArgs: ['--profile', 'local', '--docker-plugin', '--docker-plugin-socket', join(d.pluginDir, 'scalelb.sock'), '--docker-socket', d.socket] })
  await waitFor(`the agent of ${h.name} answers`, async () => await labApi.agentStatus(h).then(() => true, () => false), { timeoutMs: 30_000 })
}

test.before(async () => {
  if (missing !== undefined) return
  tmp = await mkdtemp(join(tmpdir(), 'slbdocker-'))
  lab = await labUp({ nodes: 2, stateDir: join(tmp, 'lab'), mode: 'netns', agentArgs: ['--profile', 'local'] })
  image = `${lab.prefix}-busybox:test`
  const [h1, h2] = lab.hosts as [LabHost, LabHost]
  for (const h of [h1, h2]) {
    const d = await startDockerd(h, join(tmp, `docker-${h.name}`))
    dockerds.push(d)
    await restartAgent(h, d)
    await waitFor(`the plugin socket of ${h.name}`, async () => (await docker(d, ['network', 'ls'], true)).ok && (await labApi.agentStatus(h).then(() => true, () => false)), { timeoutMs: 30_000 })
    await importBusybox(d, image)
  }
})

test.after.always(async () => {
  const problems: string[] = []
  for (const d of dockerds) problems.push(...await stopDockerd(d, image, NETWORK))
  if (lab !== undefined) {
    await labDown(lab)
    const left = await labLeftovers(lab.prefix)
    if (left.netns.length + left.links.length > 0) problems.push(`lab leftovers: ${[...left.netns, ...left.links].join(', ')}`)
  }
  if (tmp !== undefined) {
    // dockerd's mounts lived in its private mount namespace: none may show here
    const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').filter((l) => l.includes(tmp as string))
    if (mounts.length > 0) problems.push(`mounts left: ${mounts.join('; ')}`)
    else await rm(tmp, { recursive: true, force: true })
  }
  if (problems.length > 0) throw new Error(problems.join('; '))
})

let lastFailure = ''

/** HTTP GET through the VIP from a throwaway container on h1: the answering container's hostname. */
async function getVip (vip: string): Promise<string | undefined> {
  // busybox-static's wget crashes in a bare root filesystem (glibc NSS); nc speaks HTTP/1.0 well enough
  const r = await docker(dockerOf('h1'), ['run', '--rm', '--network', NETWORK, image, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${vip} 80`], true)
  const body = r.stdout.split('\n').at(-1)?.trim() ?? ''
  if (!r.ok || body === '') lastFailure = `${r.stderr} ${r.stdout}`
  return r.ok && body !== '' ? body : undefined
}

/** What a user would look at when the VIP does not answer. */
async function diagnose (t: { log: (...a: unknown[]) => void }, containers: string[]): Promise<void> {
  t.log('last wget failure:', lastFailure)
  for (const d of dockerds) {
    t.log(d.host.name, 'tasks:', JSON.stringify(await labApi.listTasks(d.host).catch((e: unknown) => String(e))))
    for (const c of containers) {
      const r = await docker(d, ['exec', c, 'ip', 'addr'], true)
      if (r.ok) t.log(d.host.name, c.slice(0, 12), r.stdout, (await docker(d, ['exec', c, 'ip', 'route'], true)).stdout)
    }
  }
}

serial(title('docker network create -d scalelb on two hosts binds one cluster network; a wrong subnet fails naming both'), async (t) => {
  const d1 = dockerOf('h1')
  const d2 = dockerOf('h2')
  await docker(d1, ['network', 'create', '-d', 'scalelb', '--ipam-driver', 'scalelb', '--subnet', SUBNET, NETWORK])
  const h2 = d2.host
  await waitFor('h2 knows network front', async () => (await labApi.listNetworks(h2)).some((n) => n.name === NETWORK), { timeoutMs: 30_000 })
  const bad = await docker(d2, ['network', 'create', '-d', 'scalelb', '--ipam-driver', 'scalelb', '--subnet', '10.77.0.0/16', 'wide'], true)
  t.false(bad.ok)
  t.regex(bad.stderr, /10\.77\.0\.0\/16 overlaps subnet 10\.77\.0\.0\/24 of scalelb network front/)
  await docker(d2, ['network', 'create', '-d', 'scalelb', '--ipam-driver', 'scalelb', '--subnet', SUBNET, NETWORK])
  const nets = (await labApi.listNetworks(h2)).filter((n) => n.name === NETWORK)
  t.is(nets.length, 1)
  t.deepEqual(nets[0]?.subnets, [SUBNET])
})

serial(title('labelled containers on both hosts are backends of web; a third container reaches both through the VIP; rm -f withdraws'), async (t) => {
  const serve = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
  const labels = ['--label', 'scalelb.service=web', '--label', 'scalelb.port=80:8080/tcp']
  const c1 = (await docker(dockerOf('h1'), ['run', '-d', '--network', NETWORK, ...labels, image, ...serve])).stdout
  const h2 = dockerOf('h2').host
  await waitFor('h2 knows service web', async () => await labApi.inspectService(h2, 'web').then(() => true, () => false), { timeoutMs: 30_000 })
  const c2 = (await docker(dockerOf('h2'), ['run', '-d', '--network', NETWORK, ...labels, image, ...serve])).stdout
  const vip = labApi.vipOn(await labApi.inspectService(dockerOf('h1').host, 'web'), NETWORK) as string
  t.truthy(vip)
  // the container's address is scalelb's: h1 lists the task of its endpoint with that address
  const ip1 = (await docker(dockerOf('h1'), ['inspect', '-f', `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`, c1])).stdout
  const tasks = await labApi.listTasks(dockerOf('h1').host)
  t.true(tasks.some((x) => x.service === 'web' && x.endpoints.some((e) => e.ip === ip1)), JSON.stringify(tasks))

  const seen = new Set<string>()
  await waitFor('both web containers answer through the VIP', async () => {
    const who = await getVip(vip)
    if (who !== undefined) seen.add(who)
    return seen.has(c1.slice(0, 12)) && seen.has(c2.slice(0, 12))
  }, { timeoutMs: 60_000 }).catch(async (err: unknown) => {
    t.log('answered:', [...seen])
    await diagnose(t, [c1, c2])
    throw err
  })
  t.pass('both backends answered')

  // --ip: the address asked for, from scalelb's allocator (h1 created the network: it owns the low addresses)
  const fixed = await docker(dockerOf('h1'), ['run', '--rm', '--network', NETWORK, '--ip', '10.77.0.50', image, 'ip', '-4', 'addr', 'show', 'eth0'])
  t.regex(fixed.stdout, /inet 10\.77\.0\.50\/24/)

  // the agent of h2 restarts: its records of the Docker network and endpoints survive, so rm -f still withdraws
  await restartAgent(h2, dockerOf('h2'))
  await docker(dockerOf('h2'), ['rm', '-f', c2])
  const h1Node = (await labApi.agentStatus(dockerOf('h1').host)).node
  await waitFor('h1 no longer lists the h2 backend', async () => !(await labApi.listTasks(dockerOf('h1').host)).some((x) => x.service === 'web' && x.node !== h1Node), { timeoutMs: 30_000 })
  for (let i = 0; i < 6; i++) t.is(await getVip(vip), c1.slice(0, 12))
})

serial(title('examples/compose-app: docker-compose up web gives two more backends through the VIP; down withdraws them'), async (t) => {
  const d1 = dockerOf('h1')
  const file = join(import.meta.dirname, '..', 'examples', 'compose-app', 'docker-compose.yml')
  const compose = async (...args: string[]): Promise<void> => {
    await labRun('env', [`DOCKER_HOST=unix://${d1.socket}`, `IMAGE=${image}`, 'docker-compose', '-f', file, '-p', `${lab?.prefix ?? 'slbdocker'}app`, ...args], { timeoutMs: 180_000 })
  }
  await compose('up', '-d', 'web')
  const ids = (await docker(d1, ['ps', '-q', '--filter', 'label=com.docker.compose.service=web'])).stdout.split('\n').filter((x) => x !== '')
  t.is(ids.length, 2)
  const vip = labApi.vipOn(await labApi.inspectService(d1.host, 'web'), NETWORK) as string
  const seen = new Set<string>()
  await waitFor('both compose backends answer through the VIP', async () => {
    const who = await getVip(vip)
    if (who !== undefined) seen.add(who)
    return ids.every((id) => seen.has(id.slice(0, 12)))
  }, { timeoutMs: 60_000 }).catch(async (err: unknown) => {
    t.log('answered:', [...seen])
    await diagnose(t, ids)
    throw err
  })
  await compose('down')
  const h1Tasks = async (): Promise<number> => (await labApi.listTasks(d1.host)).filter((x) => x.service === 'web').length
  await waitFor('only the first container is a backend again', async () => await h1Tasks() === 1, { timeoutMs: 30_000 })
  t.is(await h1Tasks(), 1)
})
