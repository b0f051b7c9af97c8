import type { Logger } from 'winston'
import {
  GATEWAY_TABLE, KernelCommandError, UPLINK_HOST_PREFIX, bridgeName, ingressTableName, ipBatch, lbNetnsName, nftApply, sysctlSet, uplinkHostName,
  type Kernel, type KOpts
} from '../kernel/index.js'
import { emptyIngress, type IngressRule, type IngressSpec } from '../spec/ingress.js'
import { UPLINK_POOL_CIDR, gatewayScript } from './uplink.js'

/** A client on the host connecting to 127.0.0.1: masqueraded to the uplink's or bridge's address on its way in. */
const LOOPBACK_CIDR = '127.0.0.0/8'

/** Routing protocol number of the host routes into sandboxes, so a restart finds the ones it made (`ip route show proto 250`). */
export const INGRESS_ROUTE_PROTO = 250

function dnat (r: IngressRule): string {
  const match = `fib daddr type local ${r.proto} dport ${r.port}`
  const first = r.to[0]
  if (first === undefined) return ''
  if (r.to.length === 1) return `    ${match} dnat ip to ${first.ip}:${first.port}\n`
  const slots = r.to.map((t, i) => `${i} : ${t.ip} . ${t.port}`).join(', ')
  return `    ${match} dnat ip to numgen random mod ${r.to.length} map { ${slots} }\n`
}

/**
 * The host table of an agent, whole: published ports DNAT'd into the
 * sandboxes' uplinks, for clients beyond the host (prerouting) and on the host
 * itself (output: any of its addresses, 127.0.0.1 included); a forward filter
 * (no sandbox reaches another, nothing enters a sandbox that was not DNAT'd
 * here); the uplinks' egress masqueraded out of the underlay.
 */
export function hostScript (table: string, spec: IngressSpec): string {
  const up = `"${UPLINK_HOST_PREFIX}*"`
  const replies = [...spec.hostPorts.values()].flat()
  // a host-mode task's replies cross the bridge on their way to its gateway (the sandbox): with br_netfilter
  // (Docker loads it) this host's conntrack sees them there first and would un-DNAT them too early
  let s = `table ip ${table} {\n  set hostports {\n    type ipv4_addr . inet_proto . inet_service\n${replies.length === 0 ? '' : `    elements = { ${replies.join(', ')} }\n`}  }\n`
  // the uplinks and bridges take loopback-sourced packets (route_localnet, for a client on 127.0.0.1), so
  // nothing addressed to 127.0.0.0/8 may come in from them: a task must not reach the host's loopback services
  // (the address first: every bridged overlay frame passes here with br_netfilter, and fails at that compare)
  s += `  chain raw {\n    type filter hook prerouting priority raw; policy accept;\n    ip daddr ${LOOPBACK_CIDR} iifname ${up} drop\n    ip daddr ${LOOPBACK_CIDR} iifname "sb*" drop\n    iifname != ${up} ip saddr . meta l4proto . th sport @hostports notrack\n  }\n`
  const rules = spec.rules.map(dnat).join('')
  s += `  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n${rules}  }\n`
  // a client on this host: the same DNAT for its own connections (the output hook's dstnat priority is -100)
  s += `  chain output {\n    type nat hook output priority -100; policy accept;\n${rules}  }\n`
  s += `  chain forward {\n    type filter hook forward priority filter; policy accept;\n    iifname ${up} oifname ${up} drop\n    oifname ${up} ct state established,related accept\n    oifname ${up} ct status dnat accept\n    oifname ${up} drop\n    iifname != "sb*" oifname "sb*" ct status dnat accept\n    iifname != "sb*" oifname "sb*" drop\n  }\n`
  s += `  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    ip saddr ${UPLINK_POOL_CIDR} oifname != ${up} masquerade\n    ip saddr ${LOOPBACK_CIDR} oifname ${up} masquerade\n    ip saddr ${LOOPBACK_CIDR} oifname "sb*" masquerade\n  }\n}\n`
  return s
}

/** Options of {@link createHostIngress}. */
export interface HostIngressInit {
  /** The agent's prefix (names the table and the uplinks). */
  netnsPrefix: string
  kernel: Kernel
  logger?: Logger
}

/** Programs the host side of north-south traffic: one nft transaction per change, routes into sandboxes, the sandboxes' `hostports` sets. */
export interface HostIngress {
  apply(spec: IngressSpec, opts?: KOpts): Promise<{ transactions: number }>
  /** Remove the table and the routes (leave). */
  teardown(opts?: KOpts): Promise<void>
  /** A sandbox's uplink was made (again) with an empty gateway table: its host-mode ports are written at the next apply, which the {@link HostIngress.onStale} listener is asked for. */
  sandboxMade(networkId: string): void
  /** Set the listener that runs an apply soon (the ingress driver's schedule). */
  onStale(listener: () => void): void
  /**
   * The periodic check: the host table as listed right after the last write,
   * and the routes, against the kernel's. What drifted (someone else's
   * `nft flush`, a deleted route) is named in the result and rewritten by
   * the next apply. Never run beside an apply.
   */
  check(opts?: KOpts): Promise<string[]>
  /** The table's name. */
  readonly table: string
}

class DefaultHostIngress implements HostIngress {
  readonly table: string
  private readonly k: Kernel
  private readonly prefix: string
  private readonly logger: Logger | undefined
  private script: string | undefined
  /** `nft list table` of the table right after `script` was written ('' = no table). */
  private listed = ''
  /** The base netns's nf_tables generation when `listed` was last found current (undefined: not known). */
  private listedGeneration: number | undefined
  /** `ip|networkId` of routes made; undefined until read from the kernel. */
  private routes: Set<string> | undefined
  private readonly hostPorts = new Map<string, string>()
  private forwarding = false
  /** Devices this process set `route_localnet=1` on ({@link DefaultHostIngress.applyLocalnet}). */
  private readonly localnet = new Set<string>()
  private stale: (() => void) | undefined

  constructor (init: HostIngressInit) {
    this.k = init.kernel
    this.prefix = init.netnsPrefix
    this.logger = init.logger
    this.table = ingressTableName(init.netnsPrefix)
  }

  async apply (spec: IngressSpec, opts: KOpts = {}): Promise<{ transactions: number }> {
    let tx = 0
    if (spec.uplinks.length > 0 && !this.forwarding) {
      // the host forwards the uplinks' traffic to the underlay (docs/architecture.md, north-south)
      await sysctlSet(this.k, ['net.ipv4.ip_forward=1'], undefined, opts)
      this.forwarding = true
      tx++
    }
    // nothing north-south on this node (no uplink, nothing published): no table
    const script = spec.uplinks.length === 0 && spec.rules.length === 0 ? '' : hostScript(this.table, spec)
    if (script !== this.script) {
      this.script = undefined
      await nftApply(this.k, `table ip ${this.table} {}\ndelete table ip ${this.table}\n${script}`, undefined, opts)
      // the generation before the listing: a change after it shows as a newer generation at the next check
      this.listedGeneration = script === '' ? undefined : await this.generation()
      this.listed = script === '' ? '' : await this.listTable(opts)
      this.script = script
      tx++
    }
    tx += await this.applyRoutes(spec, opts)
    tx += await this.applyHostPorts(spec, opts)
    tx += await this.applyLocalnet(spec, opts)
    return { transactions: tx }
  }

  /**
   * `route_localnet=1` on the devices published ports are DNAT'd onto (the uplinks, the bridges of mode=host
   * tasks): a client on this host that connects to 127.0.0.1 keeps that source until the masquerade, and the
   * kernel routes a loopback source out of a device only with it. Inbound 127.0.0.0/8 from them is dropped by
   * the host table's raw chain. Set once per device; an uplink made again or a bridge route added again is set again.
   */
  private async applyLocalnet (spec: IngressSpec, opts: KOpts): Promise<number> {
    if (spec.rules.length === 0) return 0
    const devs = new Set(spec.uplinks.map((id) => uplinkHostName(this.prefix, id)))
    for (const r of spec.routes) if (r.mac !== undefined) devs.add(bridgeName(this.prefix, r.networkId))
    const todo = [...devs].filter((d) => !this.localnet.has(d))
    if (todo.length === 0) return 0
    try {
      await sysctlSet(this.k, todo.map((d) => `net.ipv4.conf.${d}.route_localnet=1`), undefined, opts)
    } catch (err) {
      if (!(err instanceof KernelCommandError)) throw err
      // a device not made yet: the next pass tries again
      this.logger?.warn('cannot let published ports take 127.0.0.1 clients yet', { devices: todo, error: err.message })
      return 0
    }
    for (const d of todo) this.localnet.add(d)
    return 1
  }

  /** The base netns's nf_tables generation; undefined when the kernel access cannot read it. */
  private async generation (): Promise<number | undefined> {
    try {
      return await this.k.nftGeneration?.()
    } catch (err) {
      if (err instanceof KernelCommandError) return undefined
      throw err
    }
  }

  /** The table as nft lists it; '' when there is none. */
  private async listTable (opts: KOpts): Promise<string> {
    try {
      return await this.k.run('nft', ['list', 'table', 'ip', this.table], { signal: opts.signal })
    } catch (err) {
      if (err instanceof KernelCommandError && /No such file or directory/.test(err.stderr)) return ''
      throw err
    }
  }

  async check (opts: KOpts = {}): Promise<string[]> {
    const drift: string[] = []
    if (this.script !== undefined && this.script !== '') {
      // no nf_tables transaction in this netns since the table was found as written: it is unchanged
      // (a listing costs a process; reading the generation, a netlink request)
      const gen = await this.generation()
      if (gen === undefined || gen !== this.listedGeneration) {
        if (await this.listTable(opts) !== this.listed) {
          drift.push(`table ip ${this.table}`)
          this.script = undefined
          this.listedGeneration = undefined
        } else this.listedGeneration = gen
      }
    }
    if (this.routes !== undefined) {
      const got = await this.readRoutes(opts)
      if (got.size !== this.routes.size || [...got].some((r) => !(this.routes as Set<string>).has(r))) {
        drift.push(`routes proto ${INGRESS_ROUTE_PROTO}`)
        this.routes = got
      }
    }
    return drift
  }

  private async readRoutes (opts: KOpts): Promise<Set<string>> {
    const out = await this.k.run('ip', ['-j', 'route', 'show', 'proto', String(INGRESS_ROUTE_PROTO)], { signal: opts.signal })
    const parsed = JSON.parse(out === '' ? '[]' : out) as Array<{ dst?: string, dev?: string }>
    // keyed by address and device (`ip|@<dev>`): the same address routed on two devices (a task moved from
    // mode=ingress to mode=host) is two routes, and the stale one is deleted
    const got = new Set<string>()
    for (const r of parsed) if (r.dst !== undefined && r.dev !== undefined) got.add(`${r.dst}|@${r.dev}`)
    return got
  }

  private async applyRoutes (spec: IngressSpec, opts: KOpts): Promise<number> {
    const want = new Map<string, string[]>()
    for (const r of spec.routes) {
      const dev = r.mac === undefined ? uplinkHostName(this.prefix, r.networkId) : bridgeName(this.prefix, r.networkId)
      const lines = [`route replace ${r.ip}/32 dev ${dev} proto ${INGRESS_ROUTE_PROTO}`]
      if (r.mac !== undefined) lines.push(`neigh replace ${r.ip} lladdr ${r.mac} dev ${dev} nud permanent`)
      want.set(`${r.ip}|@${dev}`, lines)
    }
    this.routes ??= await this.readRoutes(opts)
    const del: string[] = []
    for (const k of this.routes) {
      if (want.has(k)) continue
      const [ip, dev] = k.split('|@') as [string, string]
      del.push(`route del ${ip}/32 dev ${dev} proto ${INGRESS_ROUTE_PROTO}`)
      if (!dev.startsWith(UPLINK_HOST_PREFIX)) del.push(`neigh del ${ip} dev ${dev}`)
    }
    const adding = [...want].filter(([k]) => !(this.routes as Set<string>).has(k))
    // a route added again may be on a bridge made again, which lost its route_localnet
    for (const [k] of adding) this.localnet.delete(k.split('|@')[1] as string)
    const add = adding.flatMap(([, lines]) => lines)
    if (del.length === 0 && add.length === 0) return 0
    this.routes = undefined
    if (del.length > 0) {
      // a route whose uplink went with its sandbox is gone already
      try { await this.k.run('ip', ['-force', '-batch', '-'], { input: del.join('\n') + '\n', signal: opts.signal }) } catch (err) { if (!(err instanceof KernelCommandError)) throw err }
    }
    await ipBatch(this.k, add, undefined, opts)
    this.routes = new Set(want.keys())
    return 1
  }

  private async applyHostPorts (spec: IngressSpec, opts: KOpts): Promise<number> {
    let tx = 0
    for (const networkId of spec.uplinks) {
      const elems = spec.hostPorts.get(networkId) ?? []
      const text = elems.join(', ')
      // written when it changed (a sandbox made again has an empty set: sandboxMade); the first pass after a
      // start writes every uplink's table, so a sandbox adopted from an older agent gets this version's chains
      if (this.hostPorts.get(networkId) === text) continue
      const netns = lbNetnsName(this.prefix, networkId)
      // the whole gateway table, replaced atomically: a sandbox made by an older agent gets this version's chains too
      const script = `table ip ${GATEWAY_TABLE} {}\ndelete table ip ${GATEWAY_TABLE}\n${gatewayScript()}${elems.length === 0 ? '' : `add element ip ${GATEWAY_TABLE} hostports { ${text} }\n`}`
      try {
        await nftApply(this.k, script, netns, opts)
        this.hostPorts.set(networkId, text)
        tx++
      } catch (err) {
        if (!(err instanceof KernelCommandError)) throw err
        this.logger?.warn('cannot program a sandbox\'s host-mode ports yet', { networkId, error: err.message })
        this.hostPorts.delete(networkId)
      }
    }
    for (const id of this.hostPorts.keys()) if (!spec.uplinks.includes(id)) this.hostPorts.delete(id)
    return tx
  }

  sandboxMade (networkId: string): void {
    // createUplink wrote this version's gateway table with an empty set; the new host end has no route_localnet
    this.hostPorts.set(networkId, '')
    this.localnet.delete(uplinkHostName(this.prefix, networkId))
    this.stale?.()
  }

  onStale (listener: () => void): void {
    this.stale = listener
  }

  async teardown (opts: KOpts = {}): Promise<void> {
    await nftApply(this.k, `table ip ${this.table} {}\ndelete table ip ${this.table}\n`, undefined, opts)
    await this.applyRoutes(emptyIngress(), opts).catch(() => 0)
    this.script = undefined
    this.hostPorts.clear()
    // the raw chain that guarded them is gone: a device that stays (a sandbox kept for restart) takes no loopback again
    if (this.localnet.size > 0) await sysctlSet(this.k, [...this.localnet].map((d) => `net.ipv4.conf.${d}.route_localnet=0`), undefined, opts).catch(() => {})
    this.localnet.clear()
  }
}

/** Create the host ingress programmer of an agent. */
export function createHostIngress (init: HostIngressInit): HostIngress {
  return new DefaultHostIngress(init)
}
