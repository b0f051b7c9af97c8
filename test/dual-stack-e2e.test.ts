/**
 * End-to-end dual stack on a real kernel: 3-host `scalelb lab`s (network
 * namespaces, one agent each, VXLAN overlay, one inet LB table per sandbox).
 * From a task on every host, `curl -4` and `curl -6` to a service's VIPs
 * reach every task of the service: on a dual-stack network, on an IPv6-only
 * network, and over an IPv6 underlay. Needs root.
 */
import test from 'ava'
import { isRoot, rootTest, waitFor } from '@scalelb/test-support'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { labApi, labDown, labUp, startTask, taskNetnsName, type LabHost, type LabState, type StartTaskInit } from '../packages/lab/src/index.js'

const NODES = 3
const PORT = 80
const serial = rootTest.serial

/** What curl from `ns` gets from `url` (a task's name), or '' on failure. */
async function curl (ns: string, family: '-4' | '-6', url: string): Promise<string> {
  const r = await execa('ip', ['netns', 'exec', ns, 'curl', family, '-s', '-m', '2', url], { reject: false })
  return r.exitCode === 0 ? r.stdout.trim() : ''
}

/**
 * Start a task; a `task add` the agent abandoned at its deadline (a loaded
 * 2-core machine) is asked again, as the API says: the same id is the same task.
 */
async function addTask (state: LabState, h: LabHost, init: StartTaskInit): Promise<string> {
  const ns = taskNetnsName(state, h, init.name)
  try {
    await startTask(state, h, init)
  } catch (err) {
    if ((err as { errorName?: string }).errorName !== 'DeadlineExceededError') throw err
    await waitFor(`task ${init.name} added on ${h.name}`, async () => await labApi.addTaskNetns(h, { service: init.service, id: init.name, netnsPath: `/run/netns/${ns}`, networks: [init.network] }).then(() => true, () => false), { timeoutMs: 120_000 })
  }
  return ns
}

/** A lab with services `name` on `subnets`: a task on every host, and a client task on every host. */
async function deploy (state: LabState, net: string, subnets: string[], service: string): Promise<{ vip: string, vip6: string | undefined, tasks: string[], clients: string[] }> {
  const h1 = state.hosts[0] as LabHost
  await labApi.createNetwork(h1, net, subnets)
  const s = await labApi.createService(h1, service, [net], [`${PORT}:8080/tcp`])
  await labApi.createService(h1, `${service}-client`, [net], ['7:7/tcp'])
  const v = s.vips.find((x) => x.network === net)
  if (v === undefined) throw new Error(`service ${service} has no VIP on ${net}`)
  const tasks: string[] = []
  const clients: string[] = []
  for (const h of state.hosts) {
    await waitFor(`${h.name} knows ${service}`, async () => await labApi.inspectService(h, `${service}-client`).then(() => true, () => false))
    const name = `${service}-${h.name}`
    await addTask(state, h, { service, name, network: net })
    tasks.push(name)
    clients.push(await addTask(state, h, { service: `${service}-client`, name: `${service}-c-${h.name}`, network: net, serve: false }))
  }
  return { vip: v.vip, vip6: v.vip6, tasks: tasks.sort(), clients }
}

/** Wait until curl in `family` from every client to `url` has been answered by every task. */
async function reachAll (t: { log: (s: string) => void }, clients: string[], family: '-4' | '-6', url: string, tasks: string[]): Promise<void> {
  const seen = new Map(clients.map((c) => [c, new Set<string>()]))
  await waitFor(`curl ${family} ${url} from every host reaches ${tasks.join(', ')}`, async () => {
    for (const c of clients) {
      const got = seen.get(c) as Set<string>
      for (let i = 0; i < 8 && got.size < tasks.length; i++) {
        const a = await curl(c, family, url)
        if (a !== '') got.add(a)
      }
    }
    return [...seen.values()].every((s) => tasks.every((x) => s.has(x)))
  }, { timeoutMs: 120_000 })
  t.log(`curl ${family} ${url}: ${[...seen].map(([c, s]) => `${c} -> ${[...s].sort().join(',')}`).join('; ')}`)
}

let tmpParent: string | undefined
const labs: LabState[] = []

test.before(async () => {
  if (!isRoot) return
  tmpParent = await mkdtemp(join(tmpdir(), 'slb-v6-'))
})

test.after.always(async () => {
  for (const s of labs) await labDown(s)
  if (tmpParent !== undefined) await rm(tmpParent, { recursive: true, force: true })
})

async function up (name: string, underlayV6: boolean): Promise<LabState> {
  const state = await labUp({ nodes: NODES, stateDir: join(tmpParent as string, name), mode: 'netns', agentArgs: ['--profile', 'local'], prefixHead: 'hv', underlayV6 })
  labs.push(state)
  return state
}

serial('IPv4 underlay: a dual-stack network is reached with curl -4 and curl -6 from every host, an IPv6-only one with curl -6', async (t) => {
  const state = await up('lab4', false)
  const dual = await deploy(state, 'dual', ['10.95.0.0/24', 'fd00:95::/64'], 'web')
  t.truthy(dual.vip6, 'a dual-stack service has an IPv6 VIP')
  t.regex(dual.vip, /^10\.95\.0\./)
  await reachAll(t, dual.clients, '-4', `http://${dual.vip}:${PORT}/`, dual.tasks)
  await reachAll(t, dual.clients, '-6', `http://[${dual.vip6 as string}]:${PORT}/`, dual.tasks)
  const six = await deploy(state, 'six', ['fd00:96::/64'], 'web6')
  t.regex(six.vip, /^fd00:96::/, 'an IPv6-only network: the VIP is IPv6')
  t.is(six.vip6, undefined)
  await reachAll(t, six.clients, '-6', `http://[${six.vip}]:${PORT}/`, six.tasks)
  t.pass()
})

serial('IPv6 underlay: a dual-stack network carries curl -4 and curl -6 between every host', async (t) => {
  const state = await up('lab6', true)
  t.true(state.hosts.every((h) => h.ip.includes(':')), 'hosts talk over IPv6')
  const dual = await deploy(state, 'dual', ['10.97.0.0/24', 'fd00:97::/64'], 'web')
  await reachAll(t, dual.clients, '-4', `http://${dual.vip}:${PORT}/`, dual.tasks)
  await reachAll(t, dual.clients, '-6', `http://[${dual.vip6 as string}]:${PORT}/`, dual.tasks)
  t.pass()
})
