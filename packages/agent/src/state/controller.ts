import type { Clock, Gossip } from '@scalelb/gossip'
import type { Logger } from '../logging/logger.js'
import type { NetworkCreateRequest, NetworkInfo, ServiceCreateRequest, ServiceInfo, ServicePublishRequest, TaskAddRequest, TaskInfo } from '../types.js'
import type { L4Proto } from '../dataplane/spec/types.js'
import type { TaskDsr } from '../dataplane/plumber/index.js'
import type { Ipam } from './ipam.js'
import type { Revocations } from './revocations.js'
import { resignManagerEntries, type Resigned } from './resign.js'
import type { LocalTask } from './local-tasks.js'
import type { EndpointState } from './tables.js'
import type { TablesView } from './view.js'
import { DEFAULT_MTU_POLICY, type MtuPolicy } from '../dataplane/overlay/mtu.js'
import type { ControllerContext } from './controller/context.js'
import { NetworkOps } from './controller/networks.js'
import { ServiceOps } from './controller/services.js'
import { TaskOps } from './controller/tasks.js'

/** Plugs a task netns into a network (data plane `attachTaskNetns` / `detachTaskNetns`). */
export interface TaskPlumber {
  /** `address6`: the task's IPv6 address with prefix on a dual-stack network; `gateway`: the task's default route (this node's LB address on its first non-internal network). */
  /** `dsr`: plumb the service's VIP for direct server return (answer `dsr: true` when done; false: the task keeps the NAT path). */
  attach(init: { networkId: string, netnsPath: string, address: string, address6?: string, mac: string, ifName: string, mtu: number, gateway?: string, dsr?: TaskDsr }): Promise<{ hostIfName: string, dsr?: boolean }>
  /** `dsrVip`: the VIP plumbed at attach, removed from the netns. */
  detach(init: { networkId: string, netnsPath: string, ifName: string, hostIfName?: string, dsrVip?: string }): Promise<void>
  /** Netns (a path) of the host ends of a network's task veths when it is not the agent's own (`--overlay-netns`). */
  hostNetns?(networkId: string): string | undefined
}

/** Options of {@link createController}. */
export interface ControllerInit {
  gossip: Gossip
  ipam: Ipam
  view: TablesView
  /** Members the cluster's managers revoked (`member revoke/unrevoke`). */
  revocations: Revocations
  /** Wall clock: originMs of endpoint values. */
  wallClock: () => number
  clock: Clock
  logger: Logger
  plumber: TaskPlumber
  /** Local tasks restored from the data dir. */
  tasks?: LocalTask[]
  /** Called after every local change (persist). */
  onChange: () => void
  /** Resolves once the data plane applied the tables as they are now (the bridge a `--netns` task plugs into exists). */
  applied: (signal?: AbortSignal) => Promise<void>
  /** Why this node does not program a network it should (skipped or refused desired state), shown by inspect. @default none */
  programmingError?: (networkId: string) => string | undefined
  /** This node's overlay MTU settings (network create checks a network's `mtu` against them). @default DEFAULT_MTU_POLICY */
  mtu?: MtuPolicy
  /** The node's resolver: tasks get its address in `dns` and a resolv.conf. @default none (tasks get no `dns`) */
  dns?: TaskDnsHooks
  /** Ports this host listens on (a published port there is refused). @default none known */
  listening?: (proto: L4Proto) => Promise<Set<number>>
}

/** What the controller needs from the node's resolver (dns/resolver.ts). */
export interface TaskDnsHooks {
  /** The resolver configuration of a task whose first network's LB address here is `lbIp`. */
  taskDns(lbIp: string): NonNullable<TaskInfo['dns']>
  /** Write the resolv.conf of a task plugged into `netnsPath`; returns the file, if one was written. */
  writeTaskConf(netnsPath: string, dns: NonNullable<TaskInfo['dns']>): Promise<string | undefined>
  /** Remove it (task rm). */
  removeTaskConf(netnsPath: string): Promise<void>
  /** Resolves true once the resolver answers on `networkId`'s sandbox, false after a bounded wait. */
  ready(networkId: string): Promise<boolean>
}

/** Options of a controller call that may wait (for a donation, for the data plane). */
export interface CallOptions {
  /** The caller gave up (API deadline): stop waiting and roll back. */
  signal?: AbortSignal
}

/** The agent's operations behind the control API. */
export interface Controller {
  createNetwork(req: NetworkCreateRequest): Promise<NetworkInfo>
  listNetworks(): NetworkInfo[]
  inspectNetwork(ref: string): NetworkInfo
  removeNetwork(ref: string, opts: { force: boolean }): Promise<void>
  createService(req: ServiceCreateRequest, opts?: CallOptions): Promise<ServiceInfo>
  listServices(): ServiceInfo[]
  inspectService(ref: string): ServiceInfo
  removeService(ref: string, opts: { force: boolean }): Promise<void>
  /** Publish ports of a service and/or withdraw some. */
  publishService(ref: string, req: ServicePublishRequest): Promise<ServiceInfo>
  /** Add (or, if it exists, return) a local task. `created` is false for a repeated add. */
  addTask(req: TaskAddRequest, opts?: CallOptions): Promise<{ task: TaskInfo, created: boolean }>
  listTasks(opts?: { service?: string }): TaskInfo[]
  /** A local task, else NotFoundError on field `task`. */
  inspectTask(id: string): TaskInfo
  removeTask(id: string): Promise<void>
  setTaskState(id: string, state: EndpointState): TaskInfo
  /** Make a local task a backend of a service (name or id), or with undefined an endpoint only (the Docker plugin's container labels). */
  setTaskService(id: string, service: string | undefined): TaskInfo
  /** Local tasks (persisted). */
  localTasks(): LocalTask[]
  /** Re-publish own endpoints (after a restart) and join the scopes of local tasks. */
  republish(): void
  /** A network was deleted (by anyone): drop local tasks on it. */
  networkDeleted(networkId: string): Promise<void>
  /** A service was deleted (by anyone): release VIPs this node allocated for it. */
  serviceDeleted(serviceId: string): void
  /** Release LB IPs whose grace ended; withdraw their endpoints and leave scopes without local tasks. */
  tickLbRelease(): void
  /** Withdraw every local endpoint and detach task netns (leave). */
  withdrawAll(): Promise<void>
  /** A manager revokes a member: every node refuses its traffic and entries. */
  revokeMember(id: string, reason: string | undefined): { id: string, atMs: number, reason?: string }
  /** A manager withdraws a revocation; NotFoundError on field `id` when the member is not revoked. */
  unrevokeMember(id: string): void
  /** A manager writes every network, service and revocation again under its own manager key (a key rotation). */
  resignManagerEntries(): Resigned
}

/**
 * Create the controller: one part per resource (networks, services, tasks)
 * over one shared context (gossip, IPAM, table view, local tasks, options).
 */
export function createController (init: ControllerInit): Controller {
  const ctx: ControllerContext = {
    init,
    gossip: init.gossip,
    ipam: init.ipam,
    alloc: init.ipam.allocator,
    view: init.view,
    self: init.gossip.id,
    tasks: new Map<string, LocalTask>((init.tasks ?? []).map((t) => [t.id, t])),
    mtu: init.mtu ?? DEFAULT_MTU_POLICY
  }
  const tasks = new TaskOps(ctx)
  const networks = new NetworkOps(ctx, tasks)
  const services = new ServiceOps(ctx, tasks)
  return {
    createNetwork: async (req) => await networks.create(req),
    listNetworks: () => networks.list(),
    inspectNetwork: (ref) => networks.inspect(ref),
    removeNetwork: async (ref, opts) => { await networks.remove(ref, opts) },
    networkDeleted: async (networkId) => { await networks.deleted(networkId) },
    createService: async (req, opts) => await services.create(req, opts),
    listServices: () => services.list(),
    inspectService: (ref) => services.inspect(ref),
    removeService: async (ref, opts) => { await services.remove(ref, opts) },
    publishService: async (ref, req) => await services.publish(ref, req),
    serviceDeleted: (serviceId) => { services.deleted(serviceId) },
    addTask: async (req, opts) => await tasks.add(req, opts),
    listTasks: (opts) => tasks.list(opts),
    inspectTask: (id) => tasks.inspect(id),
    removeTask: async (id) => { await tasks.remove(id) },
    setTaskState: (id, state) => tasks.setState(id, state),
    setTaskService: (id, service) => tasks.setService(id, service),
    localTasks: () => [...ctx.tasks.values()],
    republish: () => { tasks.republish() },
    tickLbRelease: () => { tasks.tickLbRelease() },
    withdrawAll: async () => { await tasks.withdrawAll() },
    revokeMember: (id, reason) => init.revocations.revoke(id, reason),
    unrevokeMember: (id) => { init.revocations.unrevoke(id) },
    resignManagerEntries: () => resignManagerEntries(init.gossip)
  }
}
