/**
 * Podman for real: Debian 12's podman 4.3 with its CNI backend runs
 * containers on a 2-host lab through `scalelb-cni` (conflists naming the
 * scalelb network, and the service, or none for a client). A web container
 * on each host becomes a backend of `web`; a client container reaches both
 * through the VIP; `podman rm -f` withdraws each everywhere. Needs root.
 */
import test, { type ImplementationFn } from 'ava'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { isRoot, rootTest } from '@scalelb/test-support'
import { labApi, labDown, labUp, waitFor, type LabHost, type LabState } from '@scalelb/lab'
import { buildPlugin, sandboxHasBackend } from '../support/cni-lab.js'
import { CONTAINER_ULIMITS, PODMAN_SYSTEM_DIRS, absentPaths, buildRootfsTar, podman, podmanMissing, setupPodman, type PodmanHost } from '../support/podman.js'

const PREFIX = `slbcni-${process.pid}`
const IMAGE = `localhost/${PREFIX}-busybox:test`
const TARGET_PORT = 8080
let lab: LabState | undefined
let tmp: string | undefined
let networkId = ''
let vip = ''
const hosts = new Map<string, PodmanHost>()
/** System dirs podman may create that did not exist before the test: removed at the end. */
let madeByUs: string[] = []

function ph (name: string): PodmanHost {
  const p = hosts.get(name)
  if (p === undefined) throw new Error('the lab did not come up (see the first failure)')
  return p
}

/** The conflists of a host: `front-web` (a backend of web) and `front-client` (an endpoint only). */
function conflists (h: LabHost): Record<string, object> {
  const plugin = { type: 'scalelb-cni', network: 'front', socket: h.apiSocket }
  return {
    'front-web': { cniVersion: '1.0.0', name: 'front-web', plugins: [{ ...plugin, service: 'web' }] },
    'front-client': { cniVersion: '1.0.0', name: 'front-client', plugins: [plugin] }
  }
}

async function ok (p: PodmanHost, args: string[]): Promise<string> {
  const r = await podman(p, args)
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} on ${p.host.name}: exit ${r.code}: ${r.stderr}`)
  return r.stdout.trim()
}

const missing = await podmanMissing()
/** Root, and podman with its CNI plugins and a static busybox installed; else skipped naming what is missing. */
const podmanTest = missing.length === 0 ? rootTest.serial : (title: string, impl: ImplementationFn<[]>) => { test.skip(`${title} (skipped: needs ${missing.join(', ')})`, impl) }

test.before(async () => {
  if (!isRoot || missing.length > 0) return
  await buildPlugin()
  madeByUs = await absentPaths(PODMAN_SYSTEM_DIRS)
  tmp = await mkdtemp(join(tmpdir(), `${PREFIX}-`))
  lab = await labUp({ nodes: 2, stateDir: join(tmp, 'lab'), mode: 'netns', agentArgs: ['--profile', 'local'] })
  const [h1, h2] = lab.hosts as [LabHost, LabHost]
  networkId = (await labApi.createNetwork(h1, 'front', ['10.99.0.0/24'])).id
  vip = labApi.vipOn(await labApi.createService(h1, 'web', ['front'], [`80:${TARGET_PORT}/tcp`]), 'front') as string
  await waitFor('h2 learns the service', async () => await labApi.inspectService(h2, 'web').then(() => true, () => false), { timeoutMs: 30_000 })
  const tar = await buildRootfsTar(tmp)
  for (const h of [h1, h2]) {
    const p = await setupPodman(h, join(tmp, `podman-${h.name}`), conflists(h))
    hosts.set(h.name, p)
    await ok(p, ['import', tar, IMAGE])
  }
})

test.after.always(async () => {
  for (const p of hosts.values()) {
    await podman(p, ['rm', '-af', '-t', '0'])
    await podman(p, ['rmi', '-af'])
  }
  if (lab !== undefined) await labDown(lab)
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true })
  for (const dir of madeByUs) await rm(dir, { recursive: true, force: true })
})

/** Run a web container answering its name on TARGET_PORT; its ID. */
async function runWeb (p: PodmanHost, name: string): Promise<string> {
  return await ok(p, ['run', '-d', '--name', `${PREFIX}-${name}`, '--network', 'front-web', ...CONTAINER_ULIMITS, IMAGE,
    'sh', '-c', `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p ${TARGET_PORT} -h /www`])
}

/** The container's address on front, as its host's agent has it (the container ID is the task ID). */
async function addressOf (p: PodmanHost, id: string): Promise<string> {
  const t = await labApi.hostApi(p.host).inspectTask(id)
  return t.endpoints.find((e) => e.networkId === networkId)?.ip as string
}

podmanTest('podman run --network front-web on two hosts: a client container reaches both through the VIP; podman rm -f withdraws each everywhere', async (t) => {
  const p1 = ph('h1')
  const p2 = ph('h2')
  const web1 = await runWeb(p1, 'web1')
  const web2 = await runWeb(p2, 'web2')
  t.regex(web1, /^[0-9a-f]{64}$/)
  const task1 = await labApi.hostApi(p1.host).inspectTask(web1)
  t.like(task1, { id: web1, service: 'web' })
  t.regex(task1.netns ?? '', /^\/run\/netns\//, 'podman\'s netns for the container')
  const task2 = await labApi.hostApi(p2.host).inspectTask(web2)
  const ip1 = await addressOf(p1, web1)
  const ip2 = await addressOf(p2, web2)
  t.is(await ok(p1, ['inspect', '-f', '{{(index .NetworkSettings.Networks "front-web").IPAddress}}', web1]), ip1, 'podman shows the address from our result')
  for (const p of [p1, p2]) {
    await waitFor(`${p.host.name}'s sandbox balances to both`, async () => await sandboxHasBackend(p.host, networkId, ip1, TARGET_PORT) && await sandboxHasBackend(p.host, networkId, ip2, TARGET_PORT), { timeoutMs: 30_000 })
  }

  const client = async (p: PodmanHost): Promise<Record<string, number>> => {
    const out = await ok(p, ['run', '--rm', '--network', 'front-client', ...CONTAINER_ULIMITS, IMAGE,
      // busybox-static's wget crashes without the host's NSS libraries; nc does not
      'sh', '-c', `for i in $(seq 1 24); do r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${vip} 80 | tail -n 1); echo "\${r:-error}"; done`])
    const counts: Record<string, number> = {}
    for (const line of out.split('\n').map((l) => l.trim()).filter((l) => l !== '')) counts[line] = (counts[line] ?? 0) + 1
    return counts
  }
  const seen = await client(p2)
  t.deepEqual(Object.keys(seen).sort(), ['web1', 'web2'], JSON.stringify(seen))

  await ok(p1, ['rm', '-f', '-t', '0', web1])
  t.false((await labApi.listTasks(p1.host)).some((x) => x.id === web1), 'h1\'s agent dropped the task')
  for (const p of [p1, p2]) await waitFor(`${p.host.name}'s sandbox drops web1`, async () => !await sandboxHasBackend(p.host, networkId, ip1, TARGET_PORT), { timeoutMs: 30_000 })
  t.deepEqual(Object.keys(await client(p1)), ['web2'], 'only web2 answers, from h1 too')

  await ok(p2, ['rm', '-f', '-t', '0', web2])
  await waitFor('h1\'s sandbox drops web2', async () => !await sandboxHasBackend(p1.host, networkId, ip2, TARGET_PORT), { timeoutMs: 30_000 })
  t.deepEqual((await labApi.listTasks(p1.host)).filter((x) => x.service !== undefined), [], 'no backend left on any host')
  const left: string[] = await readdir('/run/netns').catch(() => [])
  t.deepEqual([task1.netns, task2.netns].filter((n) => n !== undefined && left.includes(basename(n))), [], 'podman removed the containers\' namespaces')
})
