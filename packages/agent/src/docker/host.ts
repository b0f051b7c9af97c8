import type { Clock } from '@scalelb/gossip'
import type { NodeAllocator } from '@scalelb/allocator'
import { parsePort } from '../api/validate.js'
import { networkMtu, type MtuPolicy } from '../dataplane/overlay/mtu.js'
import { ConflictError, ManagerRequiredError } from '../errors.js'
import type { Controller } from '../state/controller.js'
import { ipHolder } from '../state/ip-holder.js'
import type { Ipam } from '../state/ipam.js'
import type { TablesView } from '../state/view.js'
import type { AgentRole } from '../types.js'
import { IPAM_OWNER } from './constants.js'
import type { DockerEngine } from './engine.js'
import type { Membership } from './membership.js'
import type { DockerPluginHost } from './plugin.js'

/** Options of {@link createDockerHost}. */
export interface DockerHostInit {
  controller: Controller
  view: TablesView
  ipam: Ipam
  allocator: NodeAllocator
  clock: Clock
  mtu: MtuPolicy
  role: AgentRole
  engine: DockerEngine
  /** Resolves once the data plane applied the tables as they are now. */
  flush: (signal?: AbortSignal) => Promise<void>
  /** Persist the allocator (after a reservation changed). */
  persist: () => void
}

/** The agent's side of the Docker plugin and of label membership, through the controller (the control API's path). */
export type DockerHost = DockerPluginHost & {
  /** Local tasks that are backends: task ID -> service name. */
  backends(): Map<string, string>
  setMembership(taskId: string, m: Membership | undefined): Promise<void>
}

export function createDockerHost (init: DockerHostInit): DockerHost {
  const { controller, view, ipam, allocator, clock } = init

  function mustManager (operation: string): void {
    if (init.role === 'worker') throw new ManagerRequiredError(operation)
  }

  function ensureNetwork (networkId: string): void {
    const net = view.networks().get(networkId)
    if (net === undefined) throw new ConflictError('network', `network ${networkId} is not known on this node`)
    if (!allocator.hasNetwork(networkId)) allocator.addNetwork(networkId, net.subnets)
    ipam.syncNetwork(networkId)
  }

  function reservedByDocker (networkId: string, ip: string): boolean {
    return allocator.hasNetwork(networkId) && allocator.allocations(networkId).some((a) => a.address === ip && a.owner === IPAM_OWNER)
  }

  return {
    networks: () => view.networks(),
    async createNetwork (name, subnet) {
      mustManager(`network create ${name}`)
      return (await controller.createNetwork({ name, subnets: [subnet] })).id
    },
    mtu: (networkId) => networkMtu(view.networks().get(networkId)?.options ?? {}, init.mtu).mtu,
    async reserveAddress (networkId, ip, opts = {}) {
      ensureNetwork(networkId)
      if (ip === undefined) return await ipam.allocate(networkId, 'task', IPAM_OWNER, opts)
      const holder = ipHolder(view, networkId, ip)
      if (holder !== undefined) throw new ConflictError('ip', `${ip} is in use: ${holder}`)
      try {
        allocator.allocateSpecific(networkId, ip, 'task', clock.now(), IPAM_OWNER)
      } catch (err) {
        const e = err as Error & { reason?: string, owner?: string }
        if (e.name === 'AddressUnavailableError' && e.reason === 'not-owned') throw new ConflictError('ip', `${ip} is in the range node ${e.owner ?? '?'} hands out, not this node's: run the container there, ask for an address this node owns, or for none`)
        throw err
      }
      init.persist()
      return ip
    },
    releaseReservation (networkId, ip) {
      if (!reservedByDocker(networkId, ip)) return false
      allocator.release(networkId, ip, clock.now())
      init.persist()
      return true
    },
    async addEndpointTask (taskId, networkId, ip, opts = {}) {
      if (!controller.localTasks().some((t) => t.id === taskId)) {
        // the task takes over Docker's reservation: released (no cooldown) and taken in the same turn
        const held = reservedByDocker(networkId, ip)
        if (held) allocator.release(networkId, ip, clock.now(), { cooldown: false })
        try {
          await controller.addTask({ id: taskId, networks: [networkId], ip }, opts)
        } catch (err) {
          if (held && !reservedByDocker(networkId, ip)) {
            try { allocator.allocateSpecific(networkId, ip, 'task', clock.now(), IPAM_OWNER) } catch { /* taken meanwhile: Docker's ReleaseAddress finds nothing */ }
          }
          throw err
        }
      }
      // the container's link goes on the network's bridge, which the data plane builds for the task
      await init.flush(opts.signal)
      return { lbIp: allocator.hasNetwork(networkId) ? allocator.lbIp(networkId) : undefined }
    },
    async removeTask (taskId) {
      if (!controller.localTasks().some((t) => t.id === taskId)) return
      await controller.removeTask(taskId)
    },
    async dockerNetworkName (dockerNetworkId) {
      const v = await init.engine.get(`/networks/${encodeURIComponent(dockerNetworkId)}`).catch((err: unknown) => {
        if ((err as { status?: number }).status === 404) return undefined
        throw err
      })
      const name = (v as { Name?: unknown } | undefined)?.Name
      return typeof name === 'string' && name !== '' ? name : undefined
    },
    backends () {
      const out = new Map<string, string>()
      const svcs = view.services()
      for (const t of controller.localTasks()) if (t.serviceId !== undefined) out.set(t.id, svcs.get(t.serviceId)?.name ?? t.serviceId)
      return out
    },
    async setMembership (taskId, m) {
      const t = controller.localTasks().find((x) => x.id === taskId)
      if (t === undefined) return
      if (m !== undefined && view.findService(m.service) === undefined) {
        if (m.ports.length === 0) throw new ConflictError('service', `service ${m.service} does not exist; create it (scalelb service create) or label the container scalelb.port=PORT[:TARGET][/tcp|udp]`)
        mustManager(`service create ${m.service}`)
        const ports = m.ports.map((p, i) => parsePort(p, `label scalelb.port[${i}]`))
        await controller.createService({ name: m.service, ports, networks: [...new Set(t.endpoints.map((e) => e.networkId))] })
      }
      controller.setTaskService(taskId, m?.service)
    }
  }
}
