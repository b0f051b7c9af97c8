import type { ApiMethods, NetworkInfo, TaskInfo } from '@scalelb/agent/client'
import { CNI_ERR, CNI_SPEC_VERSION, SCALELB_ERR, SUPPORTED_VERSIONS } from './constants.js'
import { parseDns } from './config.js'
import { CniError } from './errors.js'
import { buildResult, subnetOf, type Attachment } from './result.js'
import { bandwidthStdin, runBandwidth, type BandwidthRunner } from './bandwidth.js'
import type { CniDns, CniEnv, CniResult, CniVersionResult, NetConf } from './types.js'

/** The agent calls the plugin makes (a subset of the typed API client). */
export type PluginClient = Pick<ApiMethods, 'addTask' | 'removeTask' | 'inspectTask' | 'inspectNetwork' | 'status'>

/** An interface as CHECK finds it inside a namespace. */
export interface FoundInterface {
  mac: string
  /** Addresses with prefix length. */
  addresses: string[]
}

/** What a command needs besides its input. */
export interface PluginDeps {
  client: PluginClient
  /** Look at `ifname` inside the namespace `netns` (CHECK); undefined when it (or the namespace) is not there. */
  inspectInterface: (netns: string, ifname: string) => Promise<FoundInterface | undefined>
  /** Diagnostics for the runtime's log (stderr). */
  warn?: (message: string) => void
  /** Runs the reference `bandwidth` plugin (the `bandwidth` capability); without it the capability is refused. */
  bandwidth?: BandwidthRunner
}

/** What a command answers: a result to print, or nothing (DEL, CHECK, STATUS). */
export type CommandOutput = CniResult | CniVersionResult | undefined

/** The CNI configuration field an agent error field stands for, and the code to report. */
function blame (field: string | undefined, conf: NetConf): { field: string, code: number } | undefined {
  if (field === undefined) return undefined
  if (field === 'service') return { field: conf.serviceFrom, code: CNI_ERR.INVALID_CONFIG }
  if (field === 'network' || field === 'networks' || field.startsWith('networks[')) return { field: 'network', code: CNI_ERR.INVALID_CONFIG }
  if (field === 'netns') return { field: 'CNI_NETNS', code: CNI_ERR.INVALID_ENV }
  if (field === 'ifname') return { field: 'CNI_IFNAME', code: CNI_ERR.INVALID_ENV }
  if (field === 'id') return { field: 'CNI_CONTAINERID', code: CNI_ERR.INVALID_ENV }
  return undefined
}

/** An error of the typed client as the spec's error: unreachable agent → try again later (11), refusals → the field at fault. */
export function fromAgentError (err: unknown, conf: NetConf): CniError {
  const e = err as Error & { status?: number, field?: string, errorName?: string }
  if (e.name !== 'ApiClientError') return new CniError(SCALELB_ERR.INTERNAL, `scalelb-cni: ${e.message}`, e.stack)
  const status = e.status ?? 0
  if (status === 0 || status === 503) return new CniError(CNI_ERR.TRY_AGAIN, `scalelb agent (${conf.socket}): ${e.message}`)
  const text = e.field !== undefined && e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message
  const b = blame(e.field, conf)
  const details = `agent answered HTTP ${status} ${e.errorName ?? ''} on field ${e.field ?? '-'}`
  if (status === 409) return new CniError(SCALELB_ERR.CONFLICT, `${b?.field ?? e.field ?? 'container'}: ${text}`, details)
  if (b !== undefined && status >= 400 && status < 500) return new CniError(b.code, `${b.field}: ${text}`, details)
  return new CniError(SCALELB_ERR.AGENT, `scalelb agent refused: ${e.message}`, details)
}

/** The agent's DNS for the task, read structurally (a TaskInfo field that newer agents add), else undefined. */
function taskDns (task: TaskInfo): CniDns | undefined {
  const v = (task as { dns?: unknown }).dns
  if (v === undefined) return undefined
  try {
    return parseDns(v, 'dns')
  } catch {
    return undefined
  }
}

/** The task's endpoint on `net`, else a CniError naming what is missing. */
function endpointOn (task: TaskInfo, net: NetworkInfo, code: number): TaskInfo['endpoints'][number] {
  const ep = task.endpoints.find((e) => e.networkId === net.id)
  if (ep === undefined) throw new CniError(code, `network: container ${task.id} is not on network ${net.name} (it is on ${task.endpoints.map((e) => e.network).join(', ') || 'none'})`)
  return ep
}

async function inspectNetwork (client: PluginClient, conf: NetConf): Promise<NetworkInfo> {
  try {
    return await client.inspectNetwork(conf.network as string)
  } catch (err) {
    throw fromAgentError(err, conf)
  }
}

/**
 * ADD: the agent adds the task (container ID as task ID) on the network,
 * plugging the namespace with the overlay MTU; the result tells the
 * interface, its address (gateway: this node's LB address) and DNS. A
 * repeated ADD with the same parameters answers the same result; with
 * others, a conflict naming the field (nothing changed).
 */
async function add (env: CniEnv, conf: NetConf, deps: PluginDeps): Promise<CniResult> {
  const { client } = deps
  const net = await inspectNetwork(client, conf)
  let task: TaskInfo
  try {
    task = await client.addTask({
      id: env.containerId as string,
      networks: [conf.network as string],
      netns: env.netns as string,
      ifname: env.ifname as string,
      ...(conf.service === undefined ? {} : { service: conf.service })
    })
  } catch (err) {
    throw fromAgentError(err, conf)
  }
  const ep = endpointOn(task, net, SCALELB_ERR.AGENT)
  const subnet = subnetOf(ep.ip, net.subnets)
  if (subnet === undefined) throw new CniError(SCALELB_ERR.AGENT, `network: address ${ep.ip} is in no subnet of network ${net.name} (${net.subnets.join(', ')})`)
  // the LB IP is allocated with the first local task on the network: ask again for it
  const lbIp = net.lbIp ?? await client.inspectNetwork(net.id).then((n) => n.lbIp, () => undefined)
  const a: Attachment = { ifname: env.ifname as string, mac: ep.mac, netns: env.netns as string, address: `${ep.ip}/${subnet.split('/')[1] ?? '32'}` }
  if (ep.hostIfName !== undefined) a.hostIfName = ep.hostIfName
  if (lbIp !== undefined) a.gateway = lbIp
  const dns = taskDns(task) ?? conf.dns
  if (dns !== undefined) a.dns = dns
  const result = buildResult(conf.cniVersion, a, conf.prevResult)
  if (conf.bandwidth !== undefined) await shape('ADD', env, conf, deps, ep, result)
  return result
}

/**
 * The `bandwidth` capability: the reference plugin run in the netns of the
 * veth's host end (the overlay netns with `--overlay-netns`, where a
 * `bandwidth` chained after this plugin finds no host end).
 */
async function shape (command: 'ADD' | 'DEL' | 'CHECK', env: CniEnv, conf: NetConf, deps: PluginDeps, ep: { hostIfName?: string, hostNetns?: string }, result: CniResult): Promise<void> {
  const bw = conf.bandwidth
  if (bw === undefined) return
  if (deps.bandwidth === undefined) throw new CniError(CNI_ERR.INVALID_CONFIG, 'runtimeConfig.bandwidth: not supported by this build of the plugin')
  if (ep.hostIfName === undefined) throw new CniError(SCALELB_ERR.AGENT, 'runtimeConfig.bandwidth: the agent did not tell the host end of the container\'s veth')
  await runBandwidth(deps.bandwidth, { command, netns: ep.hostNetns, env, cniPath: env.cniPath, stdin: bandwidthStdin(conf, bw, ep.hostIfName, result) })
}

/** The local task of the container, or undefined when the agent has none. */
async function localTask (client: PluginClient, id: string, conf: NetConf): Promise<TaskInfo | undefined> {
  try {
    return await client.inspectTask(id)
  } catch (err) {
    const e = err as Error & { status?: number, field?: string }
    if (e.name === 'ApiClientError' && e.status === 404 && e.field === 'task') return undefined
    throw fromAgentError(err, conf)
  }
}

/**
 * DEL: remove the container's task; a task that is gone (a DEL repeated,
 * after an agent restart that lost nothing, or after the namespace went) is
 * success. A task of this container on another network or interface than
 * this configuration's is left alone: it is not this attachment.
 */
async function del (env: CniEnv, conf: NetConf, deps: PluginDeps): Promise<void> {
  const id = env.containerId as string
  const task = await localTask(deps.client, id, conf)
  if (task === undefined) return
  const ifnames = task.endpoints.map((e) => e.ifName)
  const networks = task.endpoints.flatMap((e) => [e.network, e.networkId])
  if ((conf.network !== undefined && !networks.includes(conf.network)) || (task.netns !== undefined && !ifnames.includes(env.ifname))) {
    deps.warn?.(`scalelb-cni: DEL ${id}: its task is on ${task.endpoints.map((e) => `${e.network}/${e.ifName ?? '-'}`).join(', ')}, not ${conf.network ?? '?'}/${env.ifname ?? '?'}; left alone`)
    return
  }
  if (conf.bandwidth !== undefined) {
    // its ifb device (it is in the netns of the veth's host end); the veth and its qdiscs go with the task
    const ep = task.endpoints.find((e) => e.ifName === env.ifname)
    if (ep?.hostIfName !== undefined) {
      try {
        await shape('DEL', env, conf, deps, ep, conf.prevResult ?? { cniVersion: conf.cniVersion, interfaces: [{ name: ep.hostIfName }] })
      } catch (err) {
        deps.warn?.(`scalelb-cni: DEL ${id}: ${(err as Error).message}`)
      }
    }
  }
  try {
    await deps.client.removeTask(id)
  } catch (err) {
    const e = err as Error & { status?: number, field?: string }
    if (e.name === 'ApiClientError' && e.status === 404 && e.field === 'task') return
    throw fromAgentError(err, conf)
  }
}

/** CHECK: the task exists with this configuration's service and network, the address prevResult tells, and the interface is in the namespace with it. */
async function check (env: CniEnv, conf: NetConf, deps: PluginDeps): Promise<void> {
  const fail = (msg: string): CniError => new CniError(SCALELB_ERR.CHECK_FAILED, msg)
  if (conf.prevResult === undefined) throw new CniError(CNI_ERR.INVALID_CONFIG, 'prevResult: required for CHECK (the result of ADD)')
  const id = env.containerId as string
  const net = await inspectNetwork(deps.client, conf)
  const task = await localTask(deps.client, id, conf)
  if (task === undefined) throw fail(`CNI_CONTAINERID: the agent has no task ${id}`)
  const ep = endpointOn(task, net, SCALELB_ERR.CHECK_FAILED)
  const wantService = conf.service
  if (wantService !== undefined ? task.service !== wantService && task.serviceId !== wantService : task.service !== undefined) {
    throw fail(`${conf.serviceFrom}: task ${id} is ${task.service === undefined ? 'an endpoint only' : `a backend of ${task.service}`}, not ${wantService === undefined ? 'an endpoint only' : `a backend of ${wantService}`}`)
  }
  if (task.netns !== env.netns) throw fail(`CNI_NETNS: task ${id} is in ${task.netns ?? 'no namespace'}, not ${env.netns ?? '?'}`)
  if (ep.ifName !== env.ifname) throw fail(`CNI_IFNAME: task ${id} has interface ${ep.ifName ?? '-'}, not ${env.ifname ?? '?'}`)
  const prev = conf.prevResult
  const idx = (prev.interfaces ?? []).findIndex((x) => x.name === env.ifname && x.sandbox === env.netns)
  if (idx < 0) throw fail(`prevResult.interfaces: no ${env.ifname ?? '?'} in ${env.netns ?? '?'}`)
  const ip = (prev.ips ?? []).find((x) => x.interface === idx)
  if (ip?.address.split('/')[0] !== ep.ip) throw fail(`prevResult.ips: ${ip?.address ?? 'no address'} for ${env.ifname ?? '?'}, but the agent has ${ep.ip}`)
  const found = await deps.inspectInterface(env.netns as string, env.ifname as string)
  if (found === undefined) throw fail(`CNI_IFNAME: no interface ${env.ifname ?? '?'} in ${env.netns ?? '?'}`)
  if (!found.addresses.includes(ip.address)) throw fail(`CNI_IFNAME: ${env.ifname ?? '?'} in ${env.netns ?? '?'} has ${found.addresses.join(', ') || 'no address'}, not ${ip.address}`)
  if (found.mac.toLowerCase() !== ep.mac.toLowerCase()) throw fail(`CNI_IFNAME: ${env.ifname ?? '?'} has MAC ${found.mac}, not ${ep.mac}`)
  if (conf.bandwidth !== undefined) {
    try {
      await shape('CHECK', env, conf, deps, ep, prev)
    } catch (err) {
      throw err instanceof CniError ? fail(err.message) : err
    }
  }
}

/** VERSION's answer. */
export function versionResult (): CniVersionResult {
  return { cniVersion: CNI_SPEC_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] }
}

/** Run one command (VERSION needs no configuration; STATUS, a 1.1 verb, checks the agent answers). */
export async function runCommand (env: CniEnv, conf: NetConf, deps: PluginDeps): Promise<CommandOutput> {
  switch (env.command) {
    case 'VERSION': return versionResult()
    case 'ADD': return await add(env, conf, deps)
    case 'DEL': await del(env, conf, deps); return undefined
    case 'CHECK': await check(env, conf, deps); return undefined
    case 'STATUS':
      try {
        await deps.client.status()
      } catch (err) {
        const e = fromAgentError(err, conf)
        throw e.code === CNI_ERR.TRY_AGAIN ? new CniError(CNI_ERR.NOT_AVAILABLE, e.message) : e
      }
      return undefined
  }
}
