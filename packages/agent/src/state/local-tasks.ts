import type { EndpointState } from './tables.js'

/** One endpoint of a local task, as the agent remembers it (persisted). */
export interface LocalEndpoint {
  networkId: string
  ip: string
  /** IPv6 address on a dual-stack network (allocated here whenever `ip` was; absent in older state files). */
  ip6?: string
  mac: string
  /** True when this node's allocator handed out the IP (release it on removal). */
  allocated: boolean
  /** Host-side veth name (`--netns` mode). */
  hostIfName?: string
  /** Interface name inside the task netns (`--netns` mode). */
  ifName?: string
  /** The service VIP plumbed into the task netns for direct server return (`--netns` mode on a `dsr=true` network). */
  dsrVip?: string
}

/** A task running on this node (persisted in the data dir). */
export interface LocalTask {
  id: string
  /** Absent for an endpoint-only task (on its networks, a backend of no service). */
  serviceId?: string
  mode: 'netns' | 'ip'
  netns?: string
  state: EndpointState
  weight: number
  endpoints: LocalEndpoint[]
  /** `none`: no resolver configuration (task add --dns none). */
  dns?: 'none'
}

/** Validate a persisted local task (the state file is input too). */
export function isLocalTask (v: unknown): v is LocalTask {
  if (v === null || typeof v !== 'object') return false
  const t = v as Record<string, unknown>
  if (typeof t.id !== 'string' || (t.serviceId !== undefined && typeof t.serviceId !== 'string')) return false
  if (t.mode !== 'netns' && t.mode !== 'ip') return false
  if (t.state !== 'ready' && t.state !== 'draining') return false
  if (typeof t.weight !== 'number' || !Array.isArray(t.endpoints)) return false
  if (t.dns !== undefined && t.dns !== 'none') return false
  return t.endpoints.every((e: unknown) => {
    if (e === null || typeof e !== 'object') return false
    const x = e as Record<string, unknown>
    return typeof x.networkId === 'string' && typeof x.ip === 'string' && typeof x.mac === 'string' && typeof x.allocated === 'boolean' &&
      (x.ip6 === undefined || typeof x.ip6 === 'string') && (x.dsrVip === undefined || typeof x.dsrVip === 'string')
  })
}
