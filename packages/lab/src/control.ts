import { createApiClient, type ApiClient, type MemberInfo, type NetworkInfo, type ServiceInfo, type TaskInfo, type AgentStatus } from '@scalelb/agent'
import type { LabHost } from './state.js'

/**
 * The lab drives its agents through their control API on each host's unix
 * socket, exactly as the `scalelb` CLI does (same client, same routes): the
 * socket is a file, so it works across network namespaces.
 */

/** Control API client of a lab host. */
export function hostApi (host: LabHost): ApiClient {
  return createApiClient({ socketPath: host.apiSocket })
}

/** `scalelb network create NAME --subnet CIDR` */
export async function createNetwork (host: LabHost, name: string, subnets: string[], options?: Record<string, string>): Promise<NetworkInfo> {
  return await hostApi(host).createNetwork({ name, subnets, ...(options === undefined ? {} : { options }) })
}

/** `scalelb network inspect NAME` */
export async function inspectNetwork (host: LabHost, ref: string): Promise<NetworkInfo> {
  return await hostApi(host).inspectNetwork(ref)
}

/** `scalelb service create NAME --network NET... --port P...` (ports as the CLI takes them, e.g. `80:8080/tcp`). */
export async function createService (host: LabHost, name: string, networks: string[], ports: string[]): Promise<ServiceInfo> {
  return await hostApi(host).createService({ name, ports, networks })
}

/** `scalelb service inspect NAME` */
export async function inspectService (host: LabHost, ref: string): Promise<ServiceInfo> {
  return await hostApi(host).inspectService(ref)
}

/** VIP of a service on a network (by network name or id). */
export function vipOn (s: ServiceInfo, network: string): string | undefined {
  return s.vips.find((v) => v.network === network || v.networkId === network)?.vip
}

/** `scalelb task add SERVICE --id ID --netns PATH [--network NET]` on `host` (the task runs there). */
export async function addTaskNetns (host: LabHost, init: { service: string, id: string, netnsPath: string, networks?: string[] }): Promise<TaskInfo> {
  return await hostApi(host).addTask({ service: init.service, id: init.id, netns: init.netnsPath, ...(init.networks !== undefined ? { networks: init.networks } : {}) })
}

/** `scalelb task add SERVICE --id ID --ip IP` (already plugged: only published). */
export async function addTaskIp (host: LabHost, init: { service: string, id: string, ip: string, networks?: string[] }): Promise<TaskInfo> {
  return await hostApi(host).addTask({ service: init.service, id: init.id, ip: init.ip, ...(init.networks !== undefined ? { networks: init.networks } : {}) })
}

/** `scalelb task rm ID` on the host that added it. */
export async function removeTask (host: LabHost, id: string): Promise<void> {
  await hostApi(host).removeTask(id)
}

/** `scalelb task ls` as seen by `host`. */
export async function listTasks (host: LabHost): Promise<TaskInfo[]> {
  return await hostApi(host).listTasks()
}

/** `scalelb members` as seen by `host`. */
export async function listMembers (host: LabHost): Promise<MemberInfo[]> {
  return await hostApi(host).members()
}

/** `scalelb status` of `host`. */
export async function agentStatus (host: LabHost): Promise<AgentStatus> {
  return await hostApi(host).status()
}

/** `scalelb network ls` as seen by `host`. */
export async function listNetworks (host: LabHost): Promise<NetworkInfo[]> {
  return await hostApi(host).listNetworks()
}
