import type { Logger } from '../logging/logger.js'
import { PORT_LABEL, SERVICE_LABEL } from './constants.js'
import type { DockerEngine } from './engine.js'
import type { DockerEvent } from './events.js'

/** What a container's labels ask for: backend of `service` (ports from `scalelb.port` to create it when absent). */
export interface Membership {
  service: string
  ports: string[]
}

/** A container as the Engine API lists it (`/containers/json`), the fields read here. */
export interface ContainerSummary {
  Id: string
  Labels: Record<string, string>
  /** Docker network name -> its endpoint. */
  Networks: Record<string, { NetworkID: string, EndpointID: string }>
}

/** The membership a container's labels ask for, or undefined without `scalelb.service`. Pure. */
export function membershipOf (labels: Readonly<Record<string, string>>): Membership | undefined {
  const service = labels[SERVICE_LABEL]?.trim()
  if (service === undefined || service === '') return undefined
  const ports = (labels[PORT_LABEL] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '')
  return { service, ports }
}

/**
 * The scalelb task (the Docker endpoint ID) of each of the container's
 * endpoints on a network the plugin bound, with the membership its labels
 * ask for. Pure.
 */
export function desiredOf (c: ContainerSummary, boundNetwork: (dockerNetworkId: string) => string | undefined): Map<string, Membership> {
  const out = new Map<string, Membership>()
  const m = membershipOf(c.Labels)
  if (m === undefined) return out
  for (const ep of Object.values(c.Networks)) {
    if (ep.EndpointID !== '' && boundNetwork(ep.NetworkID) !== undefined) out.set(ep.EndpointID, m)
  }
  return out
}

/** Read a container list answer (`/containers/json`) or inspect answer (`/containers/<id>/json`) into summaries; bad entries are skipped. */
export function parseContainers (v: unknown): ContainerSummary[] {
  const list = Array.isArray(v) ? v : [v]
  const out: ContainerSummary[] = []
  for (const x of list) {
    if (x === null || typeof x !== 'object') continue
    const o = x as Record<string, unknown>
    const id = typeof o.Id === 'string' ? o.Id : undefined
    // the list has Labels at the top, inspect has them in Config
    const labels = (o.Labels ?? (o.Config as Record<string, unknown> | undefined)?.Labels) as Record<string, unknown> | null | undefined
    const nets = (o.NetworkSettings as Record<string, unknown> | undefined)?.Networks as Record<string, Record<string, unknown>> | null | undefined
    if (id === undefined) continue
    const c: ContainerSummary = { Id: id, Labels: {}, Networks: {} }
    for (const [k, l] of Object.entries(labels ?? {})) if (typeof l === 'string') c.Labels[k] = l
    for (const [name, n] of Object.entries(nets ?? {})) {
      if (n !== null && typeof n === 'object' && typeof n.NetworkID === 'string' && typeof n.EndpointID === 'string') c.Networks[name] = { NetworkID: n.NetworkID, EndpointID: n.EndpointID }
    }
    out.push(c)
  }
  return out
}

/** What {@link createMembership} needs of the agent. */
export interface MembershipHost {
  /** The scalelb network a Docker network is bound to (undefined: not a scalelb network). */
  boundNetwork(dockerNetworkId: string): string | undefined
  /** Local tasks of Docker endpoints that are backends now: task ID -> service name. */
  backends(): Map<string, string>
  /**
   * Make a Docker endpoint's task a backend of `m.service` (creating the
   * service with `m.ports` when it does not exist), or, with undefined,
   * endpoint only again. No error when the task is gone.
   */
  setMembership(taskId: string, m: Membership | undefined): Promise<void>
}

/** Docker label membership: applies container start/die/destroy events and full resyncs. */
export interface LabelMembership {
  /** Event filters for the follower. */
  readonly filters: Record<string, string[]>
  /** Read every running container and make the backends exactly what their labels ask for. */
  resync(signal: AbortSignal): Promise<void>
  onEvent(e: DockerEvent): Promise<void>
}

/** Container label `scalelb.service` -> backend of that service on the container's scalelb networks while it runs. */
export function createMembership (init: { engine: DockerEngine, host: MembershipHost, logger: Logger }): LabelMembership {
  const { engine, host, logger } = init
  /** Container -> the tasks its labels made backends (die and destroy come after its endpoints are gone from inspect). */
  const byContainer = new Map<string, Set<string>>()

  async function apply (taskId: string, m: Membership | undefined, container: string): Promise<void> {
    try {
      await host.setMembership(taskId, m)
    } catch (err) {
      logger.error('cannot apply a container\'s scalelb labels', { container, task: taskId, service: m?.service, error: (err as Error).message })
    }
  }

  async function started (c: ContainerSummary): Promise<void> {
    const want = desiredOf(c, host.boundNetwork)
    if (want.size === 0) return
    byContainer.set(c.Id, new Set(want.keys()))
    for (const [taskId, m] of want) await apply(taskId, m, c.Id)
    logger.info('container is a backend', { container: c.Id, service: [...want.values()][0]?.service, tasks: [...want.keys()] })
  }

  async function stopped (containerId: string): Promise<void> {
    const tasks = byContainer.get(containerId)
    if (tasks === undefined) return
    byContainer.delete(containerId)
    const now = host.backends()
    for (const t of tasks) if (now.has(t)) await apply(t, undefined, containerId)
    logger.info('container withdrawn', { container: containerId, tasks: [...tasks] })
  }

  return {
    filters: { type: ['container'], event: ['start', 'die', 'destroy'] },
    async resync (signal) {
      const running = parseContainers(await engine.get(`/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: [SERVICE_LABEL], status: ['running'] }))}`, { signal }))
      const want = new Map<string, { m: Membership, container: string }>()
      byContainer.clear()
      for (const c of running) {
        const d = desiredOf(c, host.boundNetwork)
        if (d.size > 0) byContainer.set(c.Id, new Set(d.keys()))
        for (const [t, m] of d) want.set(t, { m, container: c.Id })
      }
      const now = host.backends()
      for (const t of now.keys()) if (!want.has(t)) await apply(t, undefined, 'gone')
      for (const [t, { m, container }] of want) if (now.get(t) !== m.service) await apply(t, m, container)
      logger.info('Docker label resync', { running: running.length, backends: want.size })
    },
    async onEvent (e) {
      if (e.Type !== 'container') return
      if (e.Action === 'start') {
        if (membershipOf(e.Actor.Attributes) === undefined) return
        let c: ContainerSummary | undefined
        try {
          c = parseContainers(await engine.get(`/containers/${encodeURIComponent(e.Actor.ID)}/json`))[0]
        } catch (err) {
          logger.warn('cannot inspect a started container', { container: e.Actor.ID, error: (err as Error).message })
          return
        }
        if (c !== undefined) await started(c)
      } else if (e.Action === 'die' || e.Action === 'destroy') {
        await stopped(e.Actor.ID)
      }
    }
  }
}
