/**
 * The agent's resolver with real clients on a real kernel: a 3-host lab,
 * glibc (`getent`), `dig` and `curl` in task namespaces through the
 * resolv.conf the agent wrote, and a fake upstream resolver the test runs
 * (a dns-packet server on each lab host's loopback: the agent forwards from
 * the host namespace). No query ever leaves the namespaces made here.
 * Needs root.
 */
import test from 'ava'
import { isRoot, rootTest, waitFor } from '@scalelb/test-support'
import { createRequire } from 'node:module'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { deleteTaskNetns, labApi, labDown, labUp, saveLab, spawnDetached, stopTaskServer, type LabHost } from '../packages/lab/src/index.js'
import { addTask, host, type Cluster } from './helpers/cluster.js'

const serial = rootTest.serial
const UPSTREAM_PORT = 5353
const UPSTREAM_TIMEOUT_MS = 1000
let c: Cluster | undefined
let tmpParent: string | undefined

/**
 * A fake upstream (UDP and TCP): `*.upstream.test` A 192.0.2.7; `big.upstream.test`
 * 100 A records over TCP, TC and no record over UDP; `*.dead.test` never
 * answered; the rest NXDOMAIN.
 */
function fakeUpstreamJs (dnsPacketPath: string): string {
  return `const dgram = require('node:dgram'); const net = require('node:net'); const p = require(${JSON.stringify(dnsPacketPath)})
function answer (m, tcp) {
  let q; try { q = p.decode(m) } catch { return undefined }
  const name = q.questions[0]?.name ?? ''
  if (name.endsWith('dead.test')) return undefined
  const ok = name.endsWith('upstream.test') && q.questions[0].type === 'A'
  const big = name === 'big.upstream.test'
  const answers = !ok ? [] : big ? Array.from({ length: 100 }, (_, i) => ({ name, type: 'A', ttl: 30, data: '198.51.100.' + i })) : [{ name, type: 'A', ttl: 30, data: '192.0.2.7' }]
  const flags = (ok ? 0 : 3) | (big && !tcp ? p.TRUNCATED_RESPONSE : 0)
  return p.encode({ type: 'response', id: q.id, flags, questions: q.questions, answers: big && !tcp ? [] : answers })
}
const s = dgram.createSocket('udp4')
s.on('message', (m, r) => { const a = answer(m, false); if (a) s.send(a, r.port, r.address) })
const t = net.createServer((c) => {
  let buf = Buffer.alloc(0)
  c.on('error', () => {})
  c.on('data', (d) => {
    buf = Buffer.concat([buf, d])
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const a = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)), true)
      buf = buf.subarray(2 + buf.readUInt16BE(0))
      if (a) { const h = Buffer.alloc(2); h.writeUInt16BE(a.length); c.write(Buffer.concat([h, a])) }
    }
  })
})
s.bind(${UPSTREAM_PORT}, '127.0.0.1', () => t.listen(${UPSTREAM_PORT}, '127.0.0.1', () => console.log('listening')))
`
}

function cluster (): Cluster {
  if (c === undefined) throw new Error('the lab did not come up (see the first failure)')
  return c
}

async function inTask (cl: Cluster, task: string, ...argv: string[]): Promise<{ code: number, out: string }> {
  const ns = cl.tasks.get(task)?.netns
  if (ns === undefined) throw new Error(`no task ${task}`)
  const r = await execa('ip', ['netns', 'exec', ns, ...argv], { reject: false, timeout: 15_000 })
  return { code: r.exitCode ?? -1, out: r.stdout.trim() }
}

const digShort = async (cl: Cluster, task: string, name: string, type = 'A'): Promise<string[]> =>
  (await inTask(cl, task, 'dig', '+short', '+tries=1', '+time=2', name, type)).out.split('\n').filter((l) => l !== '').sort()

test.before(async () => {
  if (!isRoot) return
  tmpParent = await mkdtemp(join(tmpdir(), 'slbdns-e2e-'))
  const state = await labUp({ nodes: 3, stateDir: join(tmpParent, 'lab'), mode: 'netns', agentArgs: ['--profile', 'local', '--dns-upstream', `127.0.0.1:${UPSTREAM_PORT}`, '--dns-upstream-timeout', `${UPSTREAM_TIMEOUT_MS}ms`] })
  const cl: Cluster = { state, networks: new Map(), vips: new Map(), tasks: new Map(), taskNetworks: new Map(), clients: new Map() }
  c = cl
  // the fake upstream on every lab host's loopback, recorded in the lab state so labDown stops it
  const script = join(tmpParent, 'fake-upstream.cjs')
  await writeFile(script, fakeUpstreamJs(createRequire(import.meta.url).resolve('dns-packet')))
  for (const h of state.hosts) {
    const log = join(tmpParent, `upstream-${h.name}.log`)
    const ref = spawnDetached({ argv: [process.execPath, script], netns: h.netns, logFile: log })
    state.processes.push({ role: 'task', name: `upstream-${h.name}`, pid: ref.pid, pidStart: ref.pidStart, netns: h.netns as string })
    await saveLab(state)
    await waitFor(`fake upstream on ${h.name}`, async () => (await readFile(log, 'utf8').catch(() => '')).includes('listening'), { timeoutMs: 10_000 })
  }
  const h1 = state.hosts[0] as LabHost
  for (const [name, subnet] of [['front', '10.93.0.0/24'], ['back', '10.94.0.0/24']] as const) cl.networks.set(name, (await labApi.createNetwork(h1, name, [subnet])).id)
  for (const [name, net, port] of [['web', 'front', '80:8080/tcp'], ['db', 'back', '80:8080/tcp'], ['client', 'front', '7:7/tcp']] as const) {
    const s = await labApi.createService(h1, name, [net], [port])
    cl.vips.set(name, new Map(s.vips.map((v) => [v.network, v.vip])))
  }
  for (const [i, w] of ['web-1', 'web-2', 'web-3'].entries()) await addTask(cl, `h${i + 1}`, 'web', w, 'front')
  await addTask(cl, 'h2', 'db', 'db-1', 'back')
  for (const h of state.hosts) await addTask(cl, h.name, 'client', `client-${h.name}`, 'front', false)
})

test.after.always(async () => {
  if (c !== undefined) await labDown(c.state)
  if (tmpParent !== undefined) await rm(tmpParent, { recursive: true, force: true })
})

const CLIENTS = ['client-h1', 'client-h2', 'client-h3']

serial('the agent wrote each task\'s resolv.conf: its node\'s LB address on the network', async (t) => {
  const cl = cluster()
  for (const name of CLIENTS) {
    const ns = cl.tasks.get(name)?.netns as string
    const text = await readFile(join('/etc/netns', ns, 'resolv.conf'), 'utf8')
    t.regex(text, /^nameserver 10\.93\.0\.\d+$/m, text)
  }
})

serial('getent hosts web (glibc) gives the VIP from a task on every host', async (t) => {
  const cl = cluster()
  const vip = cl.vips.get('web')?.get('front') as string
  for (const name of CLIENTS) {
    const r = await inTask(cl, name, 'getent', 'hosts', 'web')
    t.is(r.code, 0, `${name}: getent exit ${r.code}`)
    t.is(r.out.split(/\s+/)[0], vip, `${name}: ${r.out}`)
  }
})

serial('dig +short tasks.web gives exactly the task IPs; after task rm of one the answer shrinks within 1 s', async (t) => {
  const cl = cluster()
  const webTasks = (await labApi.listTasks(host(cl, 'h1'))).filter((x) => x.service === 'web')
  const want = webTasks.map((x) => x.endpoints[0]?.ip as string).sort()
  t.is(want.length, 3)
  for (const name of CLIENTS) t.deepEqual(await digShort(cl, name, 'tasks.web'), want, name)
  const web3 = cl.tasks.get('web-3')
  if (web3 === undefined) throw new Error('no task web-3')
  await labApi.removeTask(web3.host, 'web-3')
  await t.throwsAsync(readFile(join('/etc/netns', web3.netns, 'resolv.conf')), { code: 'ENOENT' }, 'task rm removes the resolv.conf the agent wrote')
  await stopTaskServer(cl.state, web3)
  await deleteTaskNetns(cl.state, web3)
  cl.tasks.delete('web-3')
  // what the answer must become (h1's own list may not have heard of the removal yet: that is what the wait below measures)
  const gone = webTasks.find((x) => x.id === 'web-3')?.endpoints[0]?.ip
  const after = want.filter((ip) => ip !== gone)
  t.is(after.length, 2)
  // within the entry's arrival + the resolver's index update (no wall-clock assert beyond the 1 s bound)
  for (const name of CLIENTS) await waitFor(`${name}: tasks.web shrinks`, async () => JSON.stringify(await digShort(cl, name, 'tasks.web')) === JSON.stringify(after), { timeoutMs: 1000, intervalMs: 50 })
  t.pass()
})

serial('names of a service on another network do not resolve; AAAA of a v4 name is empty NOERROR; an unknown name is NXDOMAIN', async (t) => {
  const cl = cluster()
  t.deepEqual(await digShort(cl, 'client-h2', 'db'), [])
  const nx = await inTask(cl, 'client-h2', 'dig', '+tries=1', '+time=2', 'db')
  t.regex(nx.out, /status: NXDOMAIN/)
  const aaaa = await inTask(cl, 'client-h2', 'dig', '+tries=1', '+time=2', 'web', 'AAAA')
  t.regex(aaaa.out, /status: NOERROR/)
  t.regex(aaaa.out, /ANSWER: 0/)
  // db resolves on its own network
  t.deepEqual(await digShort(cl, 'db-1', 'db'), [cl.vips.get('db')?.get('back') as string])
})

serial('curl http://web/ (a name) spreads over the tasks', async (t) => {
  const cl = cluster()
  const seen = new Map<string, number>()
  await waitFor('curl by name reaches both remaining tasks', async () => {
    const r = await inTask(cl, 'client-h1', 'curl', '-s', '--max-time', '3', 'http://web/')
    if (r.code === 0) seen.set(r.out, (seen.get(r.out) ?? 0) + 1)
    return seen.has('web-1') && seen.has('web-2')
  }, { timeoutMs: 20_000, intervalMs: 10 })
  t.deepEqual([...seen.keys()].sort(), ['web-1', 'web-2'])
})

serial('an external name is forwarded to the upstream; an upstream that does not answer gives SERVFAIL within the timeout', async (t) => {
  const cl = cluster()
  t.deepEqual(await digShort(cl, 'client-h3', 'www.upstream.test'), ['192.0.2.7'])
  const tcp = await inTask(cl, 'client-h3', 'dig', '+tcp', '+short', '+tries=1', '+time=2', 'www.upstream.test')
  t.is(tcp.out, '192.0.2.7', 'over TCP too')
  // an answer too large for UDP: TC to the querier, which asks again over TCP; the agent then asks upstream over TCP
  t.is((await digShort(cl, 'client-h3', 'big.upstream.test')).length, 100)
  const trunc = await inTask(cl, 'client-h3', 'dig', '+ignore', '+tries=1', '+time=2', 'big.upstream.test')
  t.regex(trunc.out, /flags:[^;]* tc/, trunc.out)
  const dead = await inTask(cl, 'client-h3', 'dig', '+tries=1', `+time=${Math.ceil(UPSTREAM_TIMEOUT_MS / 1000) + 2}`, 'x.dead.test')
  t.regex(dead.out, /status: SERVFAIL/, dead.out)
  const ms = /Query time: (\d+) msec/.exec(dead.out)
  t.truthy(ms, dead.out)
  t.true(Number(ms?.[1]) <= UPSTREAM_TIMEOUT_MS + 200, `SERVFAIL after ${ms?.[1]} ms, timeout ${UPSTREAM_TIMEOUT_MS} ms`)
})
