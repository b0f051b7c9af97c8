import type { EndpointRecord } from '../../../src/state/desired.js'
import type { EndpointValue, NetworkValue, ServiceValue } from '../../../src/state/tables.js'
import type { TableChangeListener } from '../../../src/state/table-cache.js'
import { createNameIndex, type NameIndex, type NameSource } from '../../../src/dns/names.js'

/** Tables in memory that tell the index of every change, as the table cache does. */
export interface FakeTables extends NameSource {
  /** An index subscribed to these tables. */
  index: NameIndex
  subscribe(l: TableChangeListener): () => void
  setNetwork(id: string, v: NetworkValue | undefined): void
  setService(id: string, v: ServiceValue | undefined): void
  /** Set a task endpoint `node/taskId` on a joined network. */
  setTask(networkId: string, node: string, taskId: string, v: Partial<EndpointValue> & { ip: string, service: string } | undefined, status?: EndpointRecord['status']): void
  join(networkId: string): void
  leave(networkId: string): void
}

export function net (name: string, subnet = '10.0.0.0/24'): NetworkValue {
  return { name, subnets: [subnet], vni: 4096, options: {} }
}

export function createFakeTables (): FakeTables {
  const networks = new Map<string, NetworkValue>()
  const services = new Map<string, ServiceValue>()
  const scopes = new Map<string, Map<string, EndpointRecord>>()
  const src: NameSource = {
    networks: () => networks,
    services: () => services,
    endpoints: (id) => scopes.get(id),
    networkScopes: () => [...scopes.keys()].sort()
  }
  const listeners = new Set<TableChangeListener>()
  const index = createNameIndex(src)
  listeners.add(index.listener)
  const each = (f: (l: TableChangeListener) => void): void => { for (const l of listeners) f(l) }
  return {
    ...src,
    index,
    subscribe (l) {
      listeners.add(l)
      return () => listeners.delete(l)
    },
    setNetwork (id, v) {
      const prev = networks.get(id)
      if (v === undefined) networks.delete(id)
      else networks.set(id, v)
      each((l) => l.network?.(id, prev, v))
    },
    setService (id, v) {
      const prev = services.get(id)
      if (v === undefined) services.delete(id)
      else services.set(id, v)
      each((l) => l.service?.(id, prev, v))
    },
    setTask (networkId, node, taskId, v, status = 'live') {
      const sc = scopes.get(networkId)
      if (sc === undefined) throw new Error(`not joined: ${networkId}`)
      const key = `${node}/${taskId}`
      const prev = sc.get(key)
      let next: EndpointRecord | undefined
      if (v === undefined) sc.delete(key)
      else {
        next = { key, status, value: { kind: 'task', mac: '02:00:00:00:00:01', node, state: 'ready', originMs: 0, ...v } }
        sc.set(key, next)
      }
      each((l) => l.endpoint?.(networkId, key, prev, next))
    },
    join (id) {
      if (scopes.has(id)) return
      scopes.set(id, new Map())
      each((l) => l.scopeJoined?.(id))
    },
    leave (id) {
      scopes.delete(id)
      each((l) => l.scopeLeft?.(id))
    }
  }
}

/** Two joined networks: `front` (n1) with service `web` (VIP 10.0.0.2), `back` (n2) with service `db` (VIP 10.1.0.2). */
export function frontAndBack (): FakeTables {
  const f = createFakeTables()
  f.setNetwork('n1', net('front'))
  f.setNetwork('n2', net('back', '10.1.0.0/24'))
  f.join('n1')
  f.join('n2')
  f.setService('s1', { name: 'web', ports: [], vips: { n1: '10.0.0.2' } })
  f.setService('s2', { name: 'db', ports: [], vips: { n2: '10.1.0.2' } })
  return f
}
