/**
 * Helpers of the cluster e2e tests: a 5-host netns lab with networks,
 * services and tasks, and checks on what users notice (traffic through
 * VIPs, LB sandboxes in the kernel, addresses).
 */
import type { ExecutionContext } from 'ava'
import {
  answered, labApi, labRun, probe, startTask, stopTaskServer, deleteTaskNetns,
  type LabHost, type LabState, type LabTaskRef, type ProbeTarget
} from '../../packages/lab/src/index.js'
import { waitFor } from '@scalelb/test-support'

/** The e2e cluster: lab + what the test created in it. */
export interface Cluster {
  state: LabState
  /** network name -> id */
  networks: Map<string, string>
  /** service name -> { network name -> VIP } */
  vips: Map<string, Map<string, string>>
  /** task name -> task */
  tasks: Map<string, LabTaskRef>
  /** task name -> network name (each test task is on one network) */
  taskNetworks: Map<string, string>
  /** host name -> client task netns (on network `front`) */
  clients: Map<string, string>
}

/** Service port: clients use 80 on the VIP, tasks serve 8080. */
export const PORT = 80

/** Host by name. */
export function host (c: Cluster, name: string): LabHost {
  const h = c.state.hosts.find((x) => x.name === name)
  if (h === undefined) throw new Error(`no host ${name}`)
  return h
}

/** Wait until `h` knows `service` (created elsewhere, spread by gossip). */
export async function waitService (h: LabHost, service: string): Promise<void> {
  await waitFor(`${h.name} knows service ${service}`, async () => {
    try {
      await labApi.inspectService(h, service)
      return true
    } catch {
      return false
    }
  }, { timeoutMs: 30_000 })
}

/** Start task `name` of `service` on host `hostName`, on `network`. */
export async function addTask (c: Cluster, hostName: string, service: string, name: string, network: string, serve = true): Promise<LabTaskRef> {
  const h = host(c, hostName)
  await waitService(h, service)
  const t = await startTask(c.state, h, { service, name, network, serve })
  c.tasks.set(name, t)
  c.taskNetworks.set(name, network)
  return t
}

/** Remove a task: `task rm` on its host, stop its server, delete its netns. */
export async function removeTask (c: Cluster, name: string): Promise<void> {
  const t = c.tasks.get(name)
  if (t === undefined) throw new Error(`no task ${name}`)
  await labApi.removeTask(t.host, name)
  await stopTaskServer(c.state, t)
  await deleteTaskNetns(c.state, t)
  c.tasks.delete(name)
  c.taskNetworks.delete(name)
}

/** VIP target of a service on a network. */
export function target (c: Cluster, service: string, network = 'front'): ProbeTarget {
  const vip = c.vips.get(service)?.get(network)
  if (vip === undefined) throw new Error(`service ${service} has no VIP on ${network}`)
  return { vip, port: PORT }
}

/**
 * Wait until, from every netns in `from`, requests to the service's VIP are
 * answered by exactly `expected` tasks (each at least once) with no error.
 * Resolves the last answer counts per netns.
 */
export async function waitReach (c: Cluster, from: string[], service: string, expected: string[], opts: { network?: string, timeoutMs?: number, tolerateErrors?: boolean } = {}): Promise<Map<string, Record<string, number>>> {
  const tgt = target(c, service, opts.network)
  const key = `${tgt.vip}:${tgt.port}`
  const want = [...expected].sort()
  const last = new Map<string, Record<string, number>>()
  try {
    await waitFor(`${service} answered by ${want.join(',')} from ${from.length} namespaces`, async () => {
      const results = await Promise.all(from.map(async (ns) => await probe(c.state, ns, [tgt], Math.max(12, want.length * 6), 2000)))
      let ok = true
      results.forEach((r, i) => {
        const counts = r[key] ?? {}
        last.set(from[i] as string, counts)
        const errors = Object.keys(counts).some((k) => k.startsWith('error:'))
        if (JSON.stringify(answered(counts)) !== JSON.stringify(want) || (errors && opts.tolerateErrors !== true)) ok = false
      })
      return ok
    }, { timeoutMs: opts.timeoutMs ?? 45_000 })
  } catch (err) {
    throw new Error(`${(err as Error).message}; last answers: ${JSON.stringify(Object.fromEntries(last))}`, { cause: err })
  }
  return last
}

/** Names of the LB sandbox netns of `networkId` on `h` (0 or 1 expected). */
export async function lbSandboxes (h: LabHost, networkId: string): Promise<string[]> {
  const out = (await labRun('ip', ['netns', 'list'])).stdout
  const name = `${h.netnsPrefix}lb-${networkId.slice(0, 12)}`
  return out.split('\n').map((l) => l.split(' ')[0] as string).filter((n) => n === name)
}

/**
 * The LB IP in a sandbox netns: its one address on the overlay side (`lb0`)
 * that is not a /32 VIP alias (the uplink's link-local /31 on `up0` is the
 * same on every host by design and is no overlay address).
 */
export async function lbIpIn (ns: string): Promise<string[]> {
  const out = (await labRun('ip', ['-n', ns, '-o', '-4', 'addr', 'show', 'dev', 'lb0'])).stdout
  const ips: string[] = []
  for (const line of out.split('\n')) {
    const m = /inet (\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(line)
    if (m === null || m[1]?.startsWith('127.') === true || m[2] === '32') continue
    ips.push(m[1] as string)
  }
  return ips
}

/** Kernel view: host name -> LB IPs of the network's sandbox on that host (hosts without a sandbox are absent). */
export async function kernelLbIps (c: Cluster, network: string): Promise<Map<string, string[]>> {
  const id = c.networks.get(network) as string
  const out = new Map<string, string[]>()
  for (const h of c.state.hosts) {
    for (const ns of await lbSandboxes(h, id)) out.set(h.name, await lbIpIn(ns))
  }
  return out
}

/** Hosts that run at least one of our tasks on `network`. */
export function hostsWithTasks (c: Cluster, network: string): string[] {
  return [...new Set([...c.tasks.values()].filter((t) => c.taskNetworks.get(t.name) === network).map((t) => t.host.name))].sort()
}

/**
 * No address is allocated twice: across every host's view, each IP of a
 * network belongs to one task, one LB sandbox or one VIP.
 */
export async function assertNoDuplicateAddresses (t: ExecutionContext, c: Cluster): Promise<void> {
  const owners = new Map<string, Set<string>>()
  const own = (net: string, ip: string, who: string): void => {
    const k = `${net}/${ip}`
    const s = owners.get(k) ?? new Set<string>()
    s.add(who)
    owners.set(k, s)
  }
  for (const h of c.state.hosts) {
    for (const task of await labApi.listTasks(h)) for (const e of task.endpoints) own(e.networkId, e.ip, `task:${task.id}`)
  }
  const services = await labApi.hostApi(c.state.hosts[0] as LabHost).listServices()
  for (const s of services) for (const v of s.vips) own(v.networkId, v.vip, `vip:${s.name}`)
  for (const [name, id] of c.networks) {
    for (const [h, ips] of await kernelLbIps(c, name)) for (const ip of ips) own(id, ip, `lb:${h}`)
  }
  const dup = [...owners].filter(([, s]) => s.size > 1).map(([k, s]) => `${k} -> ${[...s].join(', ')}`)
  t.deepEqual(dup, [], 'no address has two owners')
}

/** Every host's task list, as `id=ip` per network, for hosts on `network`. */
export async function taskViews (c: Cluster, network: string, hosts: LabHost[]): Promise<string[][]> {
  const id = c.networks.get(network) as string
  return await Promise.all(hosts.map(async (h) => (await labApi.listTasks(h))
    .filter((x) => x.status === 'live')
    .flatMap((x) => x.endpoints.filter((e) => e.networkId === id).map((e) => `${x.id}=${e.ip}`)).sort()))
}
