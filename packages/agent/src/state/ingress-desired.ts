import type { IngressRule, IngressRoute, IngressSpec } from '../dataplane/spec/ingress.js'
import type { NetworkDesired } from '../dataplane/spec/types.js'
import { vipOn, type EndpointRecord } from './desired.js'
import { isInternal, publishOwners, type PublishSpec } from './publish.js'
import type { NetworkValue, ServiceValue } from './tables.js'

/** What {@link computeIngress} reads. */
export interface IngressInput {
  self: string
  networks: ReadonlyMap<string, NetworkValue>
  services: ReadonlyMap<string, ServiceValue>
  /** Endpoints of a network scope this node is in. */
  endpoints: (networkId: string) => readonly EndpointRecord[]
  /** The sandboxes desired on this node (the reconciler's input). */
  sandboxes: ReadonlyMap<string, NetworkDesired>
  /** `publishOwners(services)` when the caller has it already. */
  owners?: ReturnType<typeof publishOwners>
}

/** The network a service's published ports enter through: the smallest id of its networks. */
export function ingressNetwork (svc: ServiceValue): string | undefined {
  const ids = svc.endpointMode === 'dnsrr' ? [...(svc.networks ?? [])] : Object.keys(svc.vips)
  return ids.sort()[0]
}

/**
 * This node's published ports: a pure function of the tables and the
 * sandboxes desired here. O(published ports + local backends): remote
 * nodes appear nowhere (mode=ingress goes to the VIP, which the sandbox
 * balances). A port two services publish goes to the smallest service id
 * (state/publish.ts); `losers` names the others.
 */
export function computeIngress (input: IngressInput): IngressSpec & { losers: Map<string, string[]> } {
  const uplinks = [...input.sandboxes].filter(([, d]) => d.sandbox.internal !== true).map(([id]) => id).sort()
  const up = new Set(uplinks)
  const { owners, losers } = input.owners ?? publishOwners(input.services)
  const rules: IngressRule[] = []
  const routes = new Map<string, IngressRoute>()
  const hostPorts = new Map<string, string[]>()
  for (const { serviceId, publish: p } of owners.values()) {
    // owners may come from a moment earlier (the ingress pass awaits between): a service gone since is skipped
    const svc = input.services.get(serviceId)
    const networkId = svc === undefined ? undefined : ingressNetwork(svc)
    if (svc === undefined || networkId === undefined || !up.has(networkId)) continue
    if (p.mode === 'ingress') {
      const rule = ingressRule(svc, networkId, p)
      if (rule === undefined) continue
      rules.push(rule)
      for (const t of rule.to) routes.set(t.ip, { ip: t.ip, networkId })
    } else {
      const local = input.endpoints(networkId)
        .filter((e) => e.status === 'live' && e.value.kind === 'task' && e.value.node === input.self && e.value.service === serviceId && e.value.state === 'ready' && (e.value.weight ?? 1) > 0)
        .sort((a, b) => a.value.ip < b.value.ip ? -1 : a.value.ip > b.value.ip ? 1 : 0)
      const tasks = local.filter((e, i) => i === 0 || local[i - 1]?.value.ip !== e.value.ip)
      if (tasks.length === 0) continue
      rules.push({ proto: p.proto, port: p.published, networkId, mode: 'host', to: tasks.map((e) => ({ ip: e.value.ip, port: p.target })) })
      const set = hostPorts.get(networkId) ?? []
      for (const e of tasks) {
        routes.set(e.value.ip, { ip: e.value.ip, networkId, mac: e.value.mac })
        set.push(`${e.value.ip} . ${p.proto} . ${p.target}`)
      }
      hostPorts.set(networkId, set)
    }
  }
  rules.sort((a, b) => a.proto !== b.proto ? (a.proto < b.proto ? -1 : 1) : a.port - b.port)
  for (const s of hostPorts.values()) s.sort()
  const routeList = [...routes.values()].sort((a, b) => a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0)
  return { uplinks, rules, routes: routeList, hostPorts, losers }
}

function ingressRule (svc: ServiceValue, networkId: string, p: PublishSpec): IngressRule | undefined {
  const vip = vipOn(svc, networkId)
  const port = svc.ports.find((x) => x.proto === p.proto && x.targetPort === p.target)
  if (vip === undefined || port === undefined) return undefined
  return { proto: p.proto, port: p.published, networkId, mode: 'ingress', to: [{ ip: vip, port: port.port }] }
}

/**
 * Networks that need a sandbox on every node for `mode=ingress` ports (an
 * "ingress hold" keeps one where no task runs): the entry networks of
 * services publishing in that mode, unless internal.
 */
export function ingressHoldNetworks (networks: ReadonlyMap<string, NetworkValue>, services: ReadonlyMap<string, ServiceValue>, owners = publishOwners(services).owners): string[] {
  const out = new Set<string>()
  for (const { serviceId, publish } of owners.values()) {
    if (publish.mode !== 'ingress') continue
    const svc = services.get(serviceId)
    const nid = svc === undefined ? undefined : ingressNetwork(svc)
    const net = nid === undefined ? undefined : networks.get(nid)
    if (nid !== undefined && net !== undefined && !isInternal(net.options)) out.add(nid)
  }
  return [...out].sort()
}
