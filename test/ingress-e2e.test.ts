/**
 * North-south traffic end to end on a real kernel: a 3-host lab plus an
 * "outside" namespace on the underlay that is no cluster host. Published
 * ports (mode=ingress on every node, mode=host on nodes with tasks, TCP and
 * UDP) from outside and from the host itself, churn under a looping client, `service rm`; egress of tasks,
 * `--internal` networks, and no path between networks through the gateway.
 * Needs root.
 */
import test from 'ava'
import { isRoot, rootTest, waitFor } from '@scalelb/test-support'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  addUnderlayHelper, labApi, labDown, labRun, labUp, probe, serveInNetns, spawnDetached, startTask, stopProcess,
  type LabHelper, type LabHost, type LabState, type LabTaskRef, type ProcRef
} from '../packages/lab/src/index.js'

const serial = rootTest.serial
const TCP_TARGET = 8080
const UDP_TARGET = 5353
const INGRESS_PORT = 18080
const UDP_PORT = 15353
const HOST_PORT = 19090
const OUTSIDE_PORT = 7000

let state: LabState | undefined
let outside: LabHelper | undefined
let tmpParent: string | undefined
let serverJs = ''
let clientJs = ''
const servers: ProcRef[] = []
const tasks = new Map<string, LabTaskRef>()

function lab (): { state: LabState, outside: LabHelper } {
  if (state === undefined || outside === undefined) throw new Error('the lab did not come up (see the first failure)')
  return { state, outside }
}

function host (name: string): LabHost {
  const h = lab().state.hosts.find((x) => x.name === name)
  if (h === undefined) throw new Error(`no host ${name}`)
  return h
}

/** A task server answering `<name> <client address>` on TCP (HTTP) and UDP. */
const SERVER_JS = `import { createServer } from 'node:http'
import { createSocket } from 'node:dgram'
const [name, tcp, udp] = process.argv.slice(2)
createServer((req, res) => { res.writeHead(200, { connection: 'close' }); res.end(name + ' ' + req.socket.remoteAddress) }).listen(Number(tcp), '0.0.0.0')
if (udp !== undefined) { const s = createSocket('udp4'); s.on('message', (m, r) => s.send(name + ' ' + r.address, r.port, r.address)); s.bind(Number(udp)) }
`

/** `node client.mjs tcp|udp host port count`: prints one JSON list of answers (`error:<code>` for failures). */
const CLIENT_JS = `import { request } from 'node:http'
import { createSocket } from 'node:dgram'
const [proto, host, port, count] = process.argv.slice(2)
function tcp () {
  return new Promise((resolve) => {
    const req = request({ host, port: Number(port), agent: false, timeout: 2000 }, (res) => { let b = ''; res.on('data', (c) => { b += c }); res.on('end', () => resolve(b)) })
    req.on('timeout', () => req.destroy(Object.assign(new Error('t'), { code: 'TIMEOUT' })))
    req.on('error', (e) => resolve('error:' + (e.code ?? e.message)))
    req.end()
  })
}
function udp () {
  return new Promise((resolve) => {
    const s = createSocket('udp4')
    const t = setTimeout(() => { s.close(); resolve('error:TIMEOUT') }, 1500)
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m.toString()) })
    s.on('error', (e) => { clearTimeout(t); s.close(); resolve('error:' + e.code) })
    s.send('hi', Number(port), host)
  })
}
const out = []
for (let i = 0; i < Number(count); i++) out.push(await (proto === 'udp' ? udp() : tcp()))
console.log(JSON.stringify(out))
`

async function requests (ns: string, proto: 'tcp' | 'udp', ip: string, port: number, count: number): Promise<string[]> {
  const r = await labRun('ip', ['netns', 'exec', ns, process.execPath, clientJs, proto, ip, String(port), String(count)], { timeoutMs: 60_000 })
  return JSON.parse(r.stdout) as string[]
}

/** Names of the tasks that answered (first word of each answer). */
function names (answers: string[]): string[] {
  return [...new Set(answers.filter((a) => !a.startsWith('error:')).map((a) => a.split(' ')[0] as string))].sort()
}

async function waitAnswers (what: string, ns: string, proto: 'tcp' | 'udp', ip: string, port: number, want: string[], timeoutMs = 60_000): Promise<string[]> {
  let last: string[] = []
  try {
    await waitFor(what, async () => {
      last = await requests(ns, proto, ip, port, Math.max(12, want.length * 8))
      return JSON.stringify(names(last)) === JSON.stringify(want) && !last.some((a) => a.startsWith('error:'))
    }, { timeoutMs })
  } catch (err) {
    throw new Error(`${(err as Error).message}; last answers: ${JSON.stringify(last)}`, { cause: err })
  }
  return last
}

/** A task of `service` on `hostName` with the test's server (TCP 8080, UDP 5353). */
async function addTask (hostName: string, service: string, name: string, network: string, serve = true): Promise<LabTaskRef> {
  const { state: st } = lab()
  const t = await startTask(st, host(hostName), { service, name, network, serve: false })
  if (serve) servers.push(spawnDetached({ argv: [process.execPath, serverJs, name, String(TCP_TARGET), String(UDP_TARGET)], netns: t.netns, logFile: join(st.dir, `srv-${name}.log`) }))
  tasks.set(name, t)
  return t
}

async function taskIp (name: string): Promise<string> {
  const t = tasks.get(name)
  if (t === undefined) throw new Error(`no task ${name}`)
  const info = await labApi.hostApi(t.host).inspectTask(name)
  return info.endpoints[0]?.ip as string
}

test.before(async () => {
  if (!isRoot) return
  tmpParent = await mkdtemp(join(tmpdir(), 'hi-ingress-'))
  serverJs = join(tmpParent, 'server.mjs')
  clientJs = join(tmpParent, 'client.mjs')
  await writeFile(serverJs, SERVER_JS)
  await writeFile(clientJs, CLIENT_JS)
  state = await labUp({ nodes: 3, stateDir: join(tmpParent, 'lab'), mode: 'netns', agentArgs: ['--profile', 'local'], prefixHead: 'hi' })
  outside = await addUnderlayHelper(state, 'outside')
  await serveInNetns(state, outside.netns, 'outside', OUTSIDE_PORT)
  const h1 = host('h1')
  const api = labApi.hostApi(h1)
  await api.createNetwork({ name: 'front', subnets: ['10.93.0.0/24'] })
  await api.createNetwork({ name: 'back', subnets: ['10.94.0.0/24'] })
  await api.createNetwork({ name: 'sealed', subnets: ['10.95.0.0/24'], options: { internal: 'true' } })
  await api.createService({
    name: 'web',
    ports: [`80:${TCP_TARGET}/tcp`],
    networks: ['front'],
    publish: [`${INGRESS_PORT}:${TCP_TARGET}`, `${UDP_PORT}:${UDP_TARGET}/udp`, `published=${HOST_PORT},target=${TCP_TARGET},mode=host`]
  })
  await api.createService({ name: 'db', ports: [`80:${TCP_TARGET}/tcp`], networks: ['back'] })
  await api.createService({ name: 'vault', ports: [`80:${TCP_TARGET}/tcp`], networks: ['sealed'] })
  await api.createService({ name: 'client', ports: ['7:7/tcp'], networks: ['front'] })
  await addTask('h1', 'web', 'web-1', 'front')
  await addTask('h2', 'web', 'web-2', 'front')
  await addTask('h1', 'db', 'db-1', 'back')
  await addTask('h1', 'vault', 'vault-1', 'sealed', false)
  for (const h of ['h1', 'h2', 'h3']) await addTask(h, 'client', `client-${h}`, 'front', false)
})

test.after.always(async () => {
  for (const s of servers) await stopProcess(s).catch(() => {})
  if (state !== undefined) await labDown(state)
  if (tmpParent !== undefined) await rm(tmpParent, { recursive: true, force: true })
})

serial('a published port (mode=ingress) on h1, h2 and h3 (no task there) reaches both tasks from outside', async (t) => {
  const { outside: o } = lab()
  for (const h of ['h1', 'h2', 'h3']) {
    const got = await waitAnswers(`outside -> ${h}:${INGRESS_PORT}`, o.netns, 'tcp', host(h).ip, INGRESS_PORT, ['web-1', 'web-2'])
    t.deepEqual(names(got), ['web-1', 'web-2'], h)
  }
})

serial('a published UDP port answers from every node', async (t) => {
  const { outside: o } = lab()
  for (const h of ['h1', 'h2', 'h3']) {
    const got = await waitAnswers(`outside -> ${h}:${UDP_PORT}/udp`, o.netns, 'udp', host(h).ip, UDP_PORT, ['web-1', 'web-2'])
    t.deepEqual(names(got), ['web-1', 'web-2'], h)
  }
})

serial('mode=host: a node spreads over its own tasks only, the task sees the outside client\'s address; h3 (no task) refuses', async (t) => {
  const { outside: o } = lab()
  for (const [h, task] of [['h1', 'web-1'], ['h2', 'web-2']] as const) {
    const got = await waitAnswers(`outside -> ${h}:${HOST_PORT} (mode=host)`, o.netns, 'tcp', host(h).ip, HOST_PORT, [task])
    for (const a of got) t.is(a, `${task} ${o.ip}`, `${h}: the backend records the client's own address`)
  }
  const refused = await requests(o.netns, 'tcp', host('h3').ip, HOST_PORT, 3)
  t.deepEqual(refused, ['error:ECONNREFUSED', 'error:ECONNREFUSED', 'error:ECONNREFUSED'])
})

serial('a client on the host itself reaches a published port at the host\'s address and at 127.0.0.1 (both modes, TCP and UDP)', async (t) => {
  for (const h of ['h1', 'h3']) {
    const ns = host(h).netns as string
    for (const ip of [host(h).ip, '127.0.0.1']) {
      t.deepEqual(names(await waitAnswers(`${h} itself -> ${ip}:${INGRESS_PORT}`, ns, 'tcp', ip, INGRESS_PORT, ['web-1', 'web-2'])), ['web-1', 'web-2'], `${h} -> ${ip} tcp`)
      t.deepEqual(names(await waitAnswers(`${h} itself -> ${ip}:${UDP_PORT}/udp`, ns, 'udp', ip, UDP_PORT, ['web-1', 'web-2'])), ['web-1', 'web-2'], `${h} -> ${ip} udp`)
    }
  }
  const ns1 = host('h1').netns as string
  for (const ip of [host('h1').ip, '127.0.0.1']) {
    t.deepEqual(names(await waitAnswers(`h1 itself -> ${ip}:${HOST_PORT} (mode=host)`, ns1, 'tcp', ip, HOST_PORT, ['web-1'])), ['web-1'], `mode=host via ${ip}`)
  }
  // the uplinks and bridges take loopback-sourced packets now: the host table drops 127.0.0.0/8 coming in from them
  const rules = (await labRun('ip', ['netns', 'exec', ns1, 'nft', 'list', 'ruleset'])).stdout
  t.regex(rules, /ip daddr 127\.0\.0\.0\/8 iifname "sb\*" drop/)
  t.regex(rules, /ip daddr 127\.0\.0\.0\/8 iifname "su\*" drop/)
})

serial('egress: a task on every host reaches a server outside the cluster', async (t) => {
  const { state: st, outside: o } = lab()
  for (const h of ['h1', 'h2', 'h3']) {
    const ns = tasks.get(`client-${h}`)?.netns as string
    await waitFor(`client-${h} reaches outside`, async () => {
      const r = await probe(st, ns, [{ vip: o.ip, port: OUTSIDE_PORT }], 3, 2000)
      return JSON.stringify(r[`${o.ip}:${OUTSIDE_PORT}`]) === '{"outside":3}'
    }, { timeoutMs: 30_000 })
    t.pass()
  }
})

serial('--internal: a task has no way out; the network refuses published ports', async (t) => {
  const { state: st, outside: o } = lab()
  const ns = tasks.get('vault-1')?.netns as string
  const r = await probe(st, ns, [{ vip: o.ip, port: OUTSIDE_PORT }], 2, 1500)
  t.false(Object.keys(r[`${o.ip}:${OUTSIDE_PORT}`] ?? {}).includes('outside'))
  const routes = (await labRun('ip', ['-n', ns, 'route', 'show', 'default'])).stdout.trim()
  t.is(routes, '', 'no default route on an internal network')
  const e = await t.throwsAsync(labApi.hostApi(host('h1')).publishService('vault', { add: ['18081:8080'] }))
  t.regex(e?.message ?? '', /internal/)
})

serial('no path between networks through the gateway: a task on front cannot reach a task of back', async (t) => {
  const { state: st } = lab()
  const ip = await taskIp('db-1')
  const vip = (await labApi.inspectService(host('h1'), 'db')).vips[0]?.vip as string
  for (const h of ['h1', 'h2']) {
    const ns = tasks.get(`client-${h}`)?.netns as string
    const r = await probe(st, ns, [{ vip: ip, port: TCP_TARGET }, { vip, port: 80 }], 2, 1500)
    t.deepEqual(Object.keys(r[`${ip}:${TCP_TARGET}`] ?? {}).filter((k) => !k.startsWith('error:')), [], `${h}: db-1's address`)
    t.deepEqual(Object.keys(r[`${vip}:80`] ?? {}).filter((k) => !k.startsWith('error:')), [], `${h}: db's VIP`)
  }
})

serial('refused at create time: a port already published, out of range, one the host listens on', async (t) => {
  const api = labApi.hostApi(host('h1'))
  const taken = await t.throwsAsync(api.createService({ name: 'web2', ports: [], networks: ['front'], publish: [`${INGRESS_PORT}:80`] }))
  t.regex(taken?.message ?? '', /already published by service web/)
  const range = await t.throwsAsync(api.createService({ name: 'web2', ports: [], networks: ['front'], publish: ['70000:80'] }))
  t.regex(range?.message ?? '', /publish\[0\]/)
  const listens = await t.throwsAsync(api.createService({ name: 'web2', ports: [], networks: ['front'], publish: [`${host('h1').metricsAddr.split(':')[1] as string}:80`] }))
  t.regex(listens?.message ?? '', /already listens/)
})

serial('churn under a looping client: after each change is applied, no request is lost', async (t) => {
  const { outside: o } = lab()
  const h3 = host('h3').ip
  await addTask('h3', 'web', 'web-3', 'front')
  await waitAnswers('web-3 joins', o.netns, 'tcp', h3, INGRESS_PORT, ['web-1', 'web-2', 'web-3'])
  const after1 = await requests(o.netns, 'tcp', h3, INGRESS_PORT, 40)
  t.deepEqual(after1.filter((a) => a.startsWith('error:')), [], 'after the add')
  await labApi.hostApi(host('h2')).setTaskState('web-2', { state: 'draining' })
  await waitAnswers('web-2 drained', o.netns, 'tcp', h3, INGRESS_PORT, ['web-1', 'web-3'])
  await labApi.removeTask(host('h2'), 'web-2')
  const after2 = await requests(o.netns, 'tcp', h3, INGRESS_PORT, 40)
  t.deepEqual(after2.filter((a) => a.startsWith('error:')), [], 'after the removal')
  t.deepEqual(names(after2), ['web-1', 'web-3'])
})

serial('service rm: no published-port rule or route is left on any node', async (t) => {
  const { outside: o, state: st } = lab()
  await labApi.hostApi(host('h1')).publishService('web', { rm: [String(HOST_PORT)] })
  await waitFor('mode=host port withdrawn', async () => (await requests(o.netns, 'tcp', host('h1').ip, HOST_PORT, 1))[0] === 'error:ECONNREFUSED', { timeoutMs: 30_000 })
  await labApi.hostApi(host('h1')).removeService('web', { force: true })
  for (const h of st.hosts) {
    await waitFor(`${h.name} has no published-port rule`, async () => {
      const rules = (await labRun('ip', ['netns', 'exec', h.netns as string, 'nft', 'list', 'ruleset'])).stdout
      const routes = (await labRun('ip', ['-n', h.netns as string, 'route', 'show', 'proto', '250'])).stdout.trim()
      return !/dnat (ip )?to/.test(rules.split('table ip scalelb_ingress_')[1]?.split('\ntable ')[0] ?? '') && routes === ''
    }, { timeoutMs: 30_000 })
  }
  const r = await requests(o.netns, 'tcp', host('h3').ip, INGRESS_PORT, 2)
  t.true(r.every((a) => a.startsWith('error:')))
})
