import { LabError } from './errors.js'
import { run } from './exec.js'
import type { LabHost, LabState } from './state.js'

/**
 * The lab drives its agents only through the documented `scalelb` CLI, over
 * each host's control socket, as a user would. This file is the one place
 * that knows the CLI's arguments and JSON shapes.
 */

/** Run `scalelb <args> --api-socket <host's socket>`; resolves stdout, throws {@link LabError} with stderr. */
export async function cli (state: LabState, host: LabHost, args: readonly string[]): Promise<string> {
  const argv = [...state.agentCommand.slice(1), ...args, '--api-socket', host.apiSocket]
  const res = await run(state.agentCommand[0] as string, argv, { allowFail: true })
  if (!res.ok) throw new LabError(`scalelb ${args.join(' ')} (on ${host.name}): ${res.stderr !== '' ? res.stderr : `exit ${String(res.exitCode)}`}`)
  return res.stdout
}

/** Like {@link cli} with `--json`, parsed. */
export async function cliJson (state: LabState, host: LabHost, args: readonly string[]): Promise<unknown> {
  const text = await cli(state, host, [...args, '--json'])
  try {
    return JSON.parse(text)
  } catch {
    throw new LabError(`scalelb ${args.join(' ')} --json (on ${host.name}) printed no JSON: ${text.slice(0, 200)}`)
  }
}

function obj (v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new LabError(`${what}: expected a JSON object`)
  return v as Record<string, unknown>
}

/** A network as `network inspect --json` shows it. */
export interface LabNetwork {
  id: string
  name: string
  subnets: string[]
}

/** A service as `service inspect --json` shows it. */
export interface LabService {
  id: string
  name: string
  /** network id -> VIP */
  vips: Record<string, string>
}

/** A task as `task ls --json` shows it. */
export interface LabTask {
  id: string
  name: string
  service: string
  /** network id -> IP */
  ips: Record<string, string>
  node: string
}

/** `scalelb network create <name> --subnet <cidr>` */
export async function createNetwork (state: LabState, host: LabHost, name: string, subnet: string): Promise<LabNetwork> {
  await cli(state, host, ['network', 'create', name, '--subnet', subnet])
  return await inspectNetwork(state, host, name)
}

/** `scalelb network inspect <name> --json` */
export async function inspectNetwork (state: LabState, host: LabHost, name: string): Promise<LabNetwork> {
  const o = obj(await cliJson(state, host, ['network', 'inspect', name]), 'network inspect')
  return { id: String(o.id), name: String(o.name), subnets: Array.isArray(o.subnets) ? o.subnets.map(String) : [] }
}

/** `scalelb service create <name> --network <net> --port <p>...` */
export async function createService (state: LabState, host: LabHost, name: string, networks: string[], ports: string[]): Promise<LabService> {
  await cli(state, host, ['service', 'create', name, ...networks.flatMap((n) => ['--network', n]), ...ports.flatMap((p) => ['--port', p])])
  return await inspectService(state, host, name)
}

/** `scalelb service inspect <name> --json` */
export async function inspectService (state: LabState, host: LabHost, name: string): Promise<LabService> {
  const o = obj(await cliJson(state, host, ['service', 'inspect', name]), 'service inspect')
  const vips: Record<string, string> = {}
  if (o.vips !== null && typeof o.vips === 'object') {
    for (const [k, v] of Object.entries(o.vips as Record<string, unknown>)) vips[k] = String(v)
  }
  return { id: String(o.id), name: String(o.name), vips }
}

/** `scalelb task add <service> --name <task> --network <net> --netns <path>` on `host` (the task runs there). */
export async function addTaskNetns (state: LabState, host: LabHost, init: { service: string, name: string, network: string, netnsPath: string }): Promise<void> {
  await cli(state, host, ['task', 'add', init.service, '--name', init.name, '--network', init.network, '--netns', init.netnsPath])
}

/** `scalelb task add <service> --name <task> --network <net> --ip <ip>` (already plugged: only published). */
export async function addTaskIp (state: LabState, host: LabHost, init: { service: string, name: string, network: string, ip: string }): Promise<void> {
  await cli(state, host, ['task', 'add', init.service, '--name', init.name, '--network', init.network, '--ip', init.ip])
}

/** `scalelb task rm <task>` on the host that added it. */
export async function removeTask (state: LabState, host: LabHost, name: string): Promise<void> {
  await cli(state, host, ['task', 'rm', name])
}

/** `scalelb task ls --json` as seen by `host` (cluster-wide). */
export async function listTasks (state: LabState, host: LabHost): Promise<LabTask[]> {
  const v = await cliJson(state, host, ['task', 'ls'])
  const list = Array.isArray(v) ? v : Array.isArray(obj(v, 'task ls').tasks) ? (v as { tasks: unknown[] }).tasks : []
  return list.map((t) => {
    const o = obj(t, 'task ls entry')
    const ips: Record<string, string> = {}
    if (o.ips !== null && typeof o.ips === 'object') for (const [k, ip] of Object.entries(o.ips as Record<string, unknown>)) ips[k] = String(ip)
    return { id: String(o.id), name: String(o.name), service: String(o.service), ips, node: String(o.node) }
  })
}
