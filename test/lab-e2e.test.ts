/**
 * End-to-end on a real kernel: a 5-host `scalelb lab` (network namespaces on
 * an underlay bridge, one agent process each, VXLAN overlay, nftables LB
 * sandboxes), a real Prometheus scraping it, then chaos: SIGKILL, partition,
 * packet loss, agent restart under a long connection. Needs root.
 */
import test from 'ava'
import { isRoot, rootTest } from '@scalelb/test-support'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import {
  addUnderlayHelper, aliveMembers, httpGetIn, isRunning, labRun, labApi, labDown, labHeal, labLeftovers, labLoss, labPartition,
  labScripts, labUp, saveLab, spawnDetached, startAgent, stopProcess, waitMembers, type LabHost
} from '../packages/lab/src/index.js'
import {
  addTask, assertNoDuplicateAddresses, host, hostsWithTasks, kernelLbIps, removeTask, taskViews, target, waitReach, type Cluster
} from './helpers/cluster.js'
import { waitFor } from '@scalelb/test-support'

const NODES = 5
const serial = rootTest.serial
const WEB = ['web-1', 'web-2', 'web-3']
const API = ['api-1', 'api-2']
const DB = ['db-1', 'db-2']
let c: Cluster | undefined
let tmpParent: string | undefined

function cluster (): Cluster {
  if (c === undefined) throw new Error('the lab did not come up (see the first failure)')
  return c
}

function clientNs (cl: Cluster, hostNames?: string[]): string[] {
  return [...cl.clients].filter(([h]) => hostNames === undefined || hostNames.includes(h)).map(([, ns]) => ns)
}

function dbClients (cl: Cluster): string[] {
  return DB.map((d) => cl.tasks.get(d)?.netns as string)
}

test.before(async () => {
  if (!isRoot) return
  tmpParent = await mkdtemp(join(tmpdir(), 'slb-e2e-'))
  const dir = join(tmpParent, 'lab')
  const state = await labUp({ nodes: NODES, stateDir: dir, mode: 'netns', agentArgs: ['--profile', 'local'] })
  const cl: Cluster = { state, networks: new Map(), vips: new Map(), tasks: new Map(), taskNetworks: new Map(), clients: new Map() }
  c = cl
  const h1 = state.hosts[0] as LabHost
  for (const [name, subnet] of [['front', '10.91.0.0/16'], ['back', '10.92.0.0/24']] as const) {
    cl.networks.set(name, (await labApi.createNetwork(h1, name, [subnet])).id)
  }
  for (const [name, net, port] of [['web', 'front', '80:8080/tcp'], ['api', 'front', '80:8080/tcp'], ['db', 'back', '80:8080/tcp'], ['client', 'front', '7:7/tcp']] as const) {
    const s = await labApi.createService(h1, name, [net], [port])
    cl.vips.set(name, new Map(s.vips.map((v) => [v.network, v.vip])))
  }
  for (const [i, w] of WEB.entries()) await addTask(cl, `h${i + 1}`, 'web', w, 'front')
  await addTask(cl, 'h4', 'api', 'api-1', 'front')
  await addTask(cl, 'h5', 'api', 'api-2', 'front')
  await addTask(cl, 'h2', 'db', 'db-1', 'back')
  await addTask(cl, 'h3', 'db', 'db-2', 'back')
  for (const h of state.hosts) cl.clients.set(h.name, (await addTask(cl, h.name, 'client', `client-${h.name}`, 'front', false)).netns)
})

test.after.always(async () => {
  if (c !== undefined) await labDown(c.state)
  if (tmpParent !== undefined) await rm(tmpParent, { recursive: true, force: true })
})

serial('a real Prometheus scraping the lab: every target up, scalelb_gossip_members{state="alive"} = 5 on every target', async (t) => {
  const cl = cluster()
  const mon = await addUnderlayHelper(cl.state, 'mon')
  const pdir = join(cl.state.dir, 'helpers', 'prometheus')
  await mkdir(join(pdir, 'data'), { recursive: true })
  const targets = cl.state.hosts.map((h) => `'${h.metricsAddr}'`).join(', ')
  await writeFile(join(pdir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: scalelb\n    static_configs:\n      - targets: [${targets}]\n`)
  const ref = spawnDetached({
    argv: ['prometheus', `--config.file=${join(pdir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(pdir, 'data')}`, '--web.listen-address=127.0.0.1:9090'],
    netns: mon.netns,
    logFile: join(pdir, 'prometheus.log')
  })
  cl.state.processes.push({ role: 'prometheus', name: 'prometheus', pid: ref.pid, pidStart: ref.pidStart, netns: mon.netns })
  await saveLab(cl.state)
  t.teardown(async () => { await stopProcess(ref) })
  const api = async (path: string): Promise<any> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const body = await httpGetIn(mon.netns, `http://127.0.0.1:9090${path}`)
    return body === undefined ? undefined : JSON.parse(body)
  }
  let health: string[] = []
  await waitFor('Prometheus sees every target up', async () => {
    const r = await api('/api/v1/targets')
    health = (r?.data?.activeTargets ?? []).map((x: { health: string }) => x.health)
    return health.length === NODES && health.every((x) => x === 'up')
  }, { timeoutMs: 60_000 })
  t.deepEqual(health, Array(NODES).fill('up'))
  let values: string[] = []
  await waitFor('Prometheus has scalelb_gossip_members{state="alive"} of every target', async () => {
    const r = await api(`/api/v1/query?query=${encodeURIComponent('scalelb_gossip_members{state="alive"}')}`)
    values = (r?.data?.result ?? []).map((x: { value: [number, string] }) => x.value[1])
    return values.length === NODES && values.every((v) => v === String(NODES))
  }, { timeoutMs: 30_000 })
  t.deepEqual(values, Array(NODES).fill(String(NODES)), 'every agent reports 5 alive members')
  let instances = 0
  await waitFor('Prometheus has scalelb_ series from every target', async () => {
    const r = await api(`/api/v1/query?query=${encodeURIComponent('count by (instance) ({__name__=~"scalelb_.+"})')}`)
    instances = r?.data?.result?.length ?? 0
    return instances === NODES
  }, { timeoutMs: 30_000 })
  t.is(instances, NODES, 'scalelb_ series from every target')
})

serial('from every host, traffic to each VIP reaches every task of the service, across hosts', async (t) => {
  const cl = cluster()
  await waitReach(cl, clientNs(cl), 'web', WEB)
  await waitReach(cl, clientNs(cl), 'api', API)
  await waitReach(cl, dbClients(cl), 'db', DB, { network: 'back' })
  t.pass('every client reached every task (waitReach throws otherwise)')
  await assertNoDuplicateAddresses(t, cl)
})

serial('on each network, LB IPs in use == hosts with local tasks there (kernel and API agree)', async (t) => {
  const cl = cluster()
  for (const net of ['front', 'back']) {
    const kernel = await kernelLbIps(cl, net)
    t.deepEqual([...kernel.keys()].sort(), hostsWithTasks(cl, net), `${net}: LB sandboxes exactly on hosts with tasks`)
    const ips = [...kernel.values()]
    t.true(ips.every((x) => x.length === 1), `${net}: one LB IP per sandbox`)
    t.is(new Set(ips.flat()).size, ips.length, `${net}: LB IPs are distinct`)
    for (const [h, [ip]] of kernel) t.is((await labApi.inspectNetwork(host(cl, h), net)).lbIp, ip, `${net}: ${h}'s API shows its kernel LB IP`)
  }
  t.is(hostsWithTasks(cl, 'back').length, 2, 'back has tasks on 2 of 5 hosts only')
  await assertNoDuplicateAddresses(t, cl)
})

serial('scaling a service up and down is programmed on every host', async (t) => {
  const cl = cluster()
  await addTask(cl, 'h4', 'web', 'web-4', 'front')
  await addTask(cl, 'h5', 'web', 'web-5', 'front')
  await waitReach(cl, clientNs(cl), 'web', [...WEB, 'web-4', 'web-5'])
  await removeTask(cl, 'web-4')
  await removeTask(cl, 'web-5')
  await waitReach(cl, clientNs(cl), 'web', WEB)
  // a new host on network back gets a sandbox with its first task there
  await addTask(cl, 'h4', 'db', 'db-3', 'back')
  await waitReach(cl, dbClients(cl), 'db', [...DB, 'db-3'], { network: 'back' })
  t.deepEqual([...(await kernelLbIps(cl, 'back')).keys()].sort(), ['h2', 'h3', 'h4'])
  await assertNoDuplicateAddresses(t, cl)
  await removeTask(cl, 'db-3')
  await waitReach(cl, dbClients(cl), 'db', DB, { network: 'back' })
  await assertNoDuplicateAddresses(t, cl)
})


serial('chaos: partition 2 hosts from 3 with nft drops on the underlay, then heal: tables and kernel agree everywhere', async (t) => {
  const cl = cluster()
  const [a, b] = [['h1', 'h2', 'h3'].map((n) => host(cl, n)), ['h4', 'h5'].map((n) => host(cl, n))]
  await labPartition(cl.state, a, b)
  await waitFor('each side sees only itself alive', async () => {
    const seen = await Promise.all(cl.state.hosts.map(aliveMembers))
    return seen.every((n, i) => n === (i < 3 ? 3 : 2))
  }, { timeoutMs: 60_000 })
  // the majority side keeps serving web; a change made during the partition must reach the other side after heal
  await addTask(cl, 'h1', 'web', 'web-6', 'front')
  await waitReach(cl, clientNs(cl, ['h1', 'h2', 'h3']), 'web', [...WEB, 'web-6'])
  await labHeal(cl.state)
  await waitMembers(cl.state, NODES, 60_000)
  await waitReach(cl, clientNs(cl), 'web', [...WEB, 'web-6'])
  await waitReach(cl, clientNs(cl), 'api', API)
  const views = await taskViews(cl, 'front', cl.state.hosts)
  t.true(views.every((v) => JSON.stringify(v) === JSON.stringify(views[0])), `every host lists the same front tasks:\n${views.map((v) => v.join(' ')).join('\n')}`)
  await removeTask(cl, 'web-6')
  await waitReach(cl, clientNs(cl), 'web', WEB)
  await assertNoDuplicateAddresses(t, cl)
})

serial('chaos: 10% packet loss on the underlay: a new task still reaches every host', async (t) => {
  const cl = cluster()
  await labLoss(cl.state, 10)
  try {
    await addTask(cl, 'h2', 'web', 'web-7', 'front')
    // requests themselves cross the lossy underlay: TCP retransmits, so a slow answer is fine, a missing task is not
    await waitReach(cl, clientNs(cl), 'web', [...WEB, 'web-7'], { tolerateErrors: true, timeoutMs: 60_000 })
  } finally {
    await labHeal(cl.state)
  }
  await waitReach(cl, clientNs(cl), 'web', [...WEB, 'web-7'])
  await removeTask(cl, 'web-7')
  await waitReach(cl, clientNs(cl), 'web', WEB)
  await assertNoDuplicateAddresses(t, cl)
})
serial('after the last local task leaves a network, that host\'s LB sandbox and LB IP go away', async (t) => {
  const cl = cluster()
  // db-3 left h4 in the scaling test; the sandbox goes at once, the LB IP after the allocator's release grace (30 s)
  const h4 = host(cl, 'h4')
  const lbIpOnH4 = async (): Promise<string | undefined> => (await labApi.inspectNetwork(h4, 'back').catch(() => ({ lbIp: undefined }))).lbIp
  await waitFor('h4 has no LB sandbox and no LB IP on back', async () => !(await kernelLbIps(cl, 'back')).has('h4') && await lbIpOnH4() === undefined, { timeoutMs: 75_000 })
  t.deepEqual([...(await kernelLbIps(cl, 'back')).keys()].sort(), ['h2', 'h3'])
  t.is(await lbIpOnH4(), undefined)
  await assertNoDuplicateAddresses(t, cl)
})

serial('chaos: SIGKILL an agent: its backends are withdrawn on every other host, and return after restart', async (t) => {
  const cl = cluster()
  const h5 = host(cl, 'h5')
  await stopProcess({ pid: h5.pid as number, pidStart: h5.pidStart as string }, { signal: 'SIGKILL' })
  const others = ['h1', 'h2', 'h3', 'h4']
  await waitReach(cl, clientNs(cl, others), 'api', ['api-1'])
  t.pass('api-2 (on the killed host) withdrawn everywhere')
  await startAgent(cl.state, h5, { join: [host(cl, 'h1').listen], extraArgs: ['--profile', 'local'] })
  await waitMembers(cl.state, NODES, 60_000)
  await waitReach(cl, clientNs(cl), 'api', API, { timeoutMs: 30_000 })
  await waitReach(cl, clientNs(cl), 'web', WEB, { timeoutMs: 30_000 })
  await assertNoDuplicateAddresses(t, cl)
})
serial('an agent restart (SIGTERM, start) does not cut a long connection through a VIP', async (t) => {
  const cl = cluster()
  const h1 = host(cl, 'h1')
  const scripts = await labScripts(cl.state)
  const tgt = target(cl, 'web')
  const durationMs = 8000
  const stream = execa('nsenter', [`--net=/run/netns/${cl.clients.get('h1') as string}`, '--', process.execPath, scripts.stream, tgt.vip, String(tgt.port), String(durationMs)], { reject: false })
  t.teardown(() => { stream.kill('SIGKILL') })
  let lines = 0
  stream.stdout?.on('data', (d: Buffer) => { lines += d.toString().split('\n').filter((l) => l.includes('"line"')).length })
  await waitFor('the long connection is streaming', async () => lines >= 3, { timeoutMs: 10_000 })
  await stopProcess({ pid: h1.pid as number, pidStart: h1.pidStart as string }, { signal: 'SIGTERM' })
  await startAgent(cl.state, h1, { join: [host(cl, 'h2').listen], extraArgs: ['--profile', 'local'] })
  await waitMembers(cl.state, NODES, 60_000)
  const res = await stream
  const out = res.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { line?: string, gapMs?: number, done?: boolean, error?: string })
  t.is(out.filter((o) => o.error !== undefined).length, 0, 'no error on the connection')
  t.true(out.at(-1)?.done === true, 'the server ended the stream normally')
  t.true(out.filter((o) => o.line !== undefined).length >= durationMs / 100 - 10, 'lines kept coming while the agent restarted')
  await waitReach(cl, clientNs(cl), 'web', WEB, { timeoutMs: 30_000 })
  await assertNoDuplicateAddresses(t, cl)
})
serial('lab down stops every process and leaves nothing in the kernel', async (t) => {
  const cl = cluster()
  const refs = [...cl.state.hosts.map((h) => ({ pid: h.pid as number, pidStart: h.pidStart as string })), ...cl.state.processes]
  await labDown(cl.state)
  t.deepEqual(await labLeftovers(cl.state.prefix), { netns: [], links: [] })
  const alive = refs.filter((r) => isRunning(r)).map((r) => r.pid)
  t.deepEqual(alive, [], 'no process the lab started still runs')
  const nft = await labRun('nft', ['list', 'tables'])
  t.false(nft.stdout.includes(cl.state.prefix), 'no nft table of the lab in the root netns')
  c = undefined
})
