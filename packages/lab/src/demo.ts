import { DEMO_REQUESTS_PER_VIP, DEMO_SUBNET, DEMO_SUBNET_V6, DEMO_TARGET_PORT, LAB_CONVERGE_TIMEOUT_MS } from './constants.js'
import { LabError, LabTimeoutError } from './errors.js'
import { labDiagnostics } from './diagnose.js'
import { waitFor, metricsUrl } from './agents.js'
import { addTaskIp, createNetwork, createService, inspectNetwork, inspectService, listTasks, vipOn } from './control.js'
import type { NetworkInfo, ServiceInfo } from '@scalelb/agent'
import type { LabHost, LabState } from './state.js'
import { answered, probe, startTask, type ProbeResult, type ProbeTarget } from './workload.js'

/** Options of {@link runDemo}. */
export interface DemoInit {
  state: LabState
  /** Where the report goes. @default nothing printed */
  print?: (line: string) => void
  /** Requests from each client to each VIP. @default DEMO_REQUESTS_PER_VIP */
  requestsPerVip?: number
  /** How long to wait for every client to reach every task (ms). @default LAB_CONVERGE_TIMEOUT_MS */
  convergeTimeoutMs?: number
  /** A dual-stack network (DEMO_SUBNET and DEMO_SUBNET_V6): every service is reached by name (IPv4) and by its IPv6 VIP. @default false */
  dualStack?: boolean
}

/** One demo service and how its VIP spread requests (clients connect to its name). */
export interface DemoServiceReport {
  /** Its name: what the clients connect to. */
  name: string
  vip: string
  port: number
  /** task name -> host name */
  tasks: Record<string, string>
  /** client host name -> answer -> count */
  perClient: Record<string, Record<string, number>>
}

/** What the demo did and measured. */
export interface DemoReport {
  network: NetworkInfo
  services: DemoServiceReport[]
  metricsUrls: string[]
}

/** Task layout of the demo: `web` on every host, `api` on two hosts (the last two). */
export function demoLayout (hosts: LabHost[]): Array<{ service: string, task: string, host: LabHost }> {
  const out: Array<{ service: string, task: string, host: LabHost }> = []
  hosts.forEach((h, i) => out.push({ service: 'web', task: `web-${i + 1}`, host: h }))
  const apiHosts = hosts.length >= 2 ? hosts.slice(-2) : hosts
  apiHosts.forEach((h, i) => out.push({ service: 'api', task: `api-${i + 1}`, host: h }))
  return out
}

/**
 * `lab up --demo`: a network, services `web` and `api` with tasks spread over
 * the hosts, a client netns on every host, then requests from every client to
 * every service by name (the agent's resolver answers the VIP), printed as
 * a table of answers per task.
 */
export async function runDemo (init: DemoInit): Promise<DemoReport> {
  const { state } = init
  const say = init.print ?? ((): void => {})
  const first = state.hosts[0]
  if (first === undefined) throw new LabError('the lab has no hosts')
  const subnets = init.dualStack === true ? [DEMO_SUBNET, DEMO_SUBNET_V6] : [DEMO_SUBNET]
  say(`demo: network demo (${subnets.join(', ')})`)
  const network = await createNetwork(first, 'demo', subnets)
  const port = 80
  const services: ServiceInfo[] = []
  for (const name of ['web', 'api']) {
    services.push(await createService(first, name, ['demo'], [`${port}:${DEMO_TARGET_PORT}/tcp`]))
  }
  await createService(first, 'client', ['demo'], ['7:7/tcp'])
  const layout = demoLayout(state.hosts)
  const timeoutMs = init.convergeTimeoutMs ?? LAB_CONVERGE_TIMEOUT_MS

  if (state.mode === 'loopback') {
    // no namespaces without root: publish tasks with made-up addresses so the tables and the memory programmer have something to show
    for (const [i, t] of layout.entries()) {
      await waitKnown(t.host, t.service, timeoutMs)
      await addTaskIp(t.host, { service: t.service, id: t.task, ip: `10.77.200.${i + 1}`, networks: ['demo'] })
    }
    await waitFor('every agent lists every demo task', async () => {
      const lists = await Promise.all(state.hosts.map(async (h) => await listTasks(h)))
      return lists.every((l) => l.length >= layout.length)
    }, { timeoutMs })
    say('demo: tasks published on every agent (memory programmer: no traffic without root)')
    return { network, services: services.map((s) => ({ name: s.name, vip: vipOn(s, 'demo') ?? '', port, tasks: {}, perClient: {} })), metricsUrls: state.hosts.map(metricsUrl) }
  }

  for (const t of layout) {
    say(`demo: task ${t.task} of ${t.service} on ${t.host.name}`)
    await waitKnown(t.host, t.service, timeoutMs)
    await startTask(state, t.host, { service: t.service, name: t.task, network: 'demo' })
  }
  const clients = new Map<string, string>()
  for (const h of state.hosts) {
    await waitKnown(h, 'client', timeoutMs)
    const c = await startTask(state, h, { service: 'client', name: `client-${h.name}`, network: 'demo', serve: false })
    clients.set(h.name, c.netns)
  }
  const vips = services.map((s) => {
    const vip = vipOn(s, 'demo')
    if (vip === undefined) throw new LabError(`service ${s.name} has no VIP on network demo`)
    return vip
  })
  // clients connect to the service's name: the agent's resolver on their host answers the VIP (the probe resolves per request);
  // dual-stack: and to its IPv6 VIP
  const perService = services.map((s) => {
    const vip6 = s.vips.find((v) => v.network === 'demo')?.vip6
    return init.dualStack === true && vip6 !== undefined ? [{ vip: s.name, port }, { vip: vip6, port }] : [{ vip: s.name, port }]
  })
  const targets: ProbeTarget[] = perService.flat()
  const serviceOf = perService.flatMap((ts, i) => ts.map(() => services[i] as ServiceInfo))
  say(`demo: clients connect to the names ${services.map((s) => s.name).join(', ')}, resolved by the agent on their host${init.dualStack === true ? `, and to the IPv6 VIPs ${targets.filter((t) => t.vip.includes(':')).map((t) => t.vip).join(', ')}` : ''}`)
  const tasksOf = new Map(services.map((s) => [s.name, layout.filter((t) => t.service === s.name).map((t) => t.task).sort()]))
  say('demo: waiting until every client reaches every task of every service')
  let missing: string[] = []
  try {
    await waitFor('every client reaches every task through each VIP', async () => {
      const results = await Promise.all([...clients].map(async ([h, ns]) => [h, await probe(state, ns, targets, 12, 1000)] as const))
      missing = results.flatMap(([h, r]) => targets.flatMap((t, i) => {
        const s = serviceOf[i] as ServiceInfo
        const counts = r[`${t.vip}:${t.port}`] ?? {}
        const got = answered(counts)
        const lost = (tasksOf.get(s.name) ?? []).filter((name) => !got.includes(name))
        return lost.length === 0 ? [] : [`${h} -> ${s.name} ${t.vip}:${t.port} never reached ${lost.join(', ')} (answers ${JSON.stringify(counts)})`]
      }))
      return missing.length === 0
    }, { timeoutMs })
  } catch (err) {
    if (!(err instanceof LabTimeoutError)) throw err
    throw new LabTimeoutError(`${err.message}\n${missing.join('\n')}\n${await labDiagnostics(state)}`)
  }
  const n = init.requestsPerVip ?? DEMO_REQUESTS_PER_VIP
  const perHost = new Map<string, ProbeResult>()
  for (const [hostName, ns] of clients) perHost.set(hostName, await probe(state, ns, targets, n))
  const report: DemoReport = { network, services: [], metricsUrls: state.hosts.map(metricsUrl) }
  for (const [i, t] of targets.entries()) {
    const s = serviceOf[i] as ServiceInfo
    const key = `${t.vip}:${t.port}`
    const tasks = Object.fromEntries(layout.filter((l) => l.service === s.name).map((l) => [l.task, l.host.name]))
    const perClient = Object.fromEntries([...perHost].map(([h, r]) => [h, r[key] ?? {}]))
    const six = t.vip.includes(':')
    report.services.push({ name: six ? `${s.name} (IPv6)` : s.name, vip: six ? t.vip : vips[services.indexOf(s)] as string, port: t.port, tasks, perClient })
  }
  printDemo(report, n, say)
  return report
}

/** Wait until `host`'s agent knows network demo and `service` (created on another host: gossip brings them). */
async function waitKnown (host: LabHost, service: string, timeoutMs: number): Promise<void> {
  await waitFor(`${host.name} knows network demo and service ${service}`, async () => {
    try {
      await inspectNetwork(host, 'demo')
      await inspectService(host, service)
      return true
    } catch {
      return false
    }
  }, { timeoutMs })
}

function printDemo (r: DemoReport, n: number, say: (l: string) => void): void {
  for (const s of r.services) {
    say('')
    const url = s.vip.includes(':') ? `http://[${s.vip}]:${s.port}/` : `http://${s.name}:${s.port}/`
    say(`service ${s.name}: ${url} -> VIP ${s.vip}, ${Object.keys(s.tasks).length} tasks; ${n} requests ${s.vip.includes(":") ? "to the IPv6 VIP" : "by name"} from a client on each host:`)
    const names = Object.keys(s.tasks).sort()
    say(['from'.padEnd(6), ...names.map((t) => `${t}@${s.tasks[t] ?? '?'}`.padEnd(12)), 'errors'].join(' '))
    for (const [h, counts] of Object.entries(s.perClient)) {
      const errors = Object.entries(counts).filter(([k]) => k.startsWith('error:')).reduce((a, [, v]) => a + v, 0)
      say([h.padEnd(6), ...names.map((t) => String(counts[t] ?? 0).padEnd(12)), String(errors)].join(' '))
    }
  }
  say('')
  say('metrics (reach them from a host netns, e.g. `sudo ip netns exec <prefix>-h1 curl <url>`):')
  for (const u of r.metricsUrls) say(`  ${u}`)
}
