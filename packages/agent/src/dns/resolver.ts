import type { Registry } from 'prom-client'
import type { NetworkDesired } from '../dataplane/spec/types.js'
import type { Component } from '../lifecycle.js'
import type { Logger } from '../logging/logger.js'
import type { TableCache } from '../state/table-cache.js'
import { DNS_BIND_RETRY_MAX_MS, DNS_BIND_RETRY_MIN_MS, DNS_PORT, DNS_READY_TIMEOUT_MS, DNS_RESYNC_INTERVAL_MS, TASK_RESOLV_OPTIONS } from './constants.js'
import { createForwarder, type Forwarder, type Upstream } from './forward.js'
import { createDnsMetrics } from './metrics.js'
import { createNameIndex, type NameIndex, type NameSource } from './names.js'
import { openNetnsSockets, type OpenNetnsSocketsOptions } from './netns-sockets.js'
import { netnsNameOf, removeTaskResolvConf, writeTaskResolvConf, type TaskDns } from './resolv-conf.js'
import { createDnsServer, type DnsServer, type NetworkSockets } from './server.js'

/** Options and components of {@link createDnsResolver}. */
export interface DnsResolverInit {
  /** The agent's table cache: the names follow its change events. */
  cache: NameSource & Pick<TableCache, 'subscribe'>
  /** The desired state handed to the reconciler: which networks have a sandbox here, and its LB address. */
  desired: () => ReadonlyMap<string, NetworkDesired>
  /** Named netns of a network's LB sandbox. */
  sandboxNetns: (networkId: string) => string
  upstreams: readonly Upstream[]
  /** Total time of a forwarded query before SERVFAIL (ms). */
  timeoutMs: number
  /** TTL of own answers (s). */
  ttlS: number
  logger: Logger
  /** The agent's registry (metrics are registered on it). */
  registry?: Registry
  /** Port served in each sandbox. @default 53 */
  port?: number
  /** Opens a network's sockets. @default {@link openNetnsSockets} */
  open?: (opts: OpenNetnsSocketsOptions) => Promise<NetworkSockets>
  /** Where task resolv.conf files go. @default /etc/netns */
  etcDir?: string
}

/** The agent's resolver: one per node, serving every local sandbox's address. */
export interface DnsResolver {
  readonly index: NameIndex
  /** Open sockets for new sandboxes and close those of sandboxes gone (after the reconciler applied a network). */
  sync(): void
  /** The resolver configuration of a task whose first network's LB address on this node is `lbIp`. */
  taskDns(lbIp: string): TaskDns
  /** Write the resolv.conf of a task plugged into `netnsPath` (only `/run/netns/NAME` paths); returns the file, if any. */
  writeTaskConf(netnsPath: string, dns: TaskDns): Promise<string | undefined>
  /** Remove what {@link writeTaskConf} wrote. */
  removeTaskConf(netnsPath: string): Promise<void>
  /**
   * Resolves true once the resolver serves `networkId` (its sandbox's sockets
   * are open), false after `timeoutMs` (a task added meanwhile would get
   * "connection refused" from its nameserver).
   */
  ready(networkId: string, timeoutMs?: number): Promise<boolean>
  /** Networks whose sockets are open. */
  served(): string[]
  readonly component: Component
}

interface Opening { address: string, abort: AbortController }

/** Create the resolver (nothing is opened until started). */
export function createDnsResolver (init: DnsResolverInit): DnsResolver {
  const log = init.logger
  const port = init.port ?? DNS_PORT
  const open = init.open ?? openNetnsSockets
  const cache = init.cache
  const index = createNameIndex(cache)
  let unsubscribe: (() => void) | undefined
  let forwarder: Forwarder | undefined
  let server: DnsServer | undefined
  const metrics = init.registry === undefined ? undefined : createDnsMetrics(init.registry)
  /** Network id -> address served. */
  const addresses = new Map<string, string>()
  const opening = new Map<string, Opening>()
  const failures = new Map<string, number>()
  let retryTimer: NodeJS.Timeout | undefined
  let resyncTimer: NodeJS.Timeout | undefined
  let running = false
  /** Network id -> callers of ready() waiting for its sockets. */
  const waiting = new Map<string, Array<() => void>>()

  function wanted (): Map<string, string> {
    const out = new Map<string, string>()
    // the first LB address (IPv4, or IPv6 on an IPv6-only network): the one tasks' resolv.conf names
    for (const [id, d] of init.desired()) out.set(id, (d.sandbox.lbAddresses[0] ?? '').split('/')[0] as string)
    return out
  }

  function retryLater (networkId: string): void {
    const n = (failures.get(networkId) ?? 0) + 1
    failures.set(networkId, n)
    if (retryTimer !== undefined || !running) return
    const ms = Math.min(DNS_BIND_RETRY_MAX_MS, DNS_BIND_RETRY_MIN_MS * 2 ** Math.min(n - 1, 16))
    retryTimer = setTimeout(() => { retryTimer = undefined; sync() }, ms)
    retryTimer.unref()
  }

  function startOpening (networkId: string, address: string): void {
    const abort = new AbortController()
    opening.set(networkId, { address, abort })
    const netns = init.sandboxNetns(networkId)
    open({ netns, address, port, signal: abort.signal }).then((sockets) => {
      if (opening.get(networkId)?.abort !== abort) {
        sockets.udp.close()
        sockets.tcp.close()
        return
      }
      opening.delete(networkId)
      if (!running || server === undefined || wanted().get(networkId) !== address) {
        sockets.udp.close()
        sockets.tcp.close()
        sync()
        return
      }
      server.attach(networkId, sockets)
      addresses.set(networkId, address)
      failures.delete(networkId)
      for (const wake of waiting.get(networkId) ?? []) wake()
      waiting.delete(networkId)
      log.info('resolver serving a network', { networkId, netns, address, port })
    }, (err: unknown) => {
      if (opening.get(networkId)?.abort !== abort) return
      opening.delete(networkId)
      log.warn('cannot open the resolver\'s sockets in a sandbox: retrying', { networkId, netns, address, error: (err as Error).message })
      retryLater(networkId)
    })
  }

  function sync (): void {
    if (!running || server === undefined) return
    const want = wanted()
    for (const [id, addr] of [...addresses]) {
      if (want.get(id) === addr) continue
      server.detach(id)
      addresses.delete(id)
      log.info('resolver stopped serving a network', { networkId: id, address: addr })
    }
    for (const [id, o] of [...opening]) {
      if (want.get(id) === o.address) continue
      o.abort.abort()
      opening.delete(id)
    }
    for (const id of failures.keys()) if (!want.has(id)) failures.delete(id)
    for (const [id, addr] of want) {
      if (addresses.has(id) || opening.has(id)) continue
      startOpening(id, addr)
    }
  }

  return {
    index,
    sync,
    taskDns: (lbIp) => ({ nameservers: [lbIp], options: [...TASK_RESOLV_OPTIONS] }),
    async writeTaskConf (netnsPath, dns) {
      const name = netnsNameOf(netnsPath)
      if (name === undefined) return undefined
      return await writeTaskResolvConf(name, dns, init.etcDir)
    },
    async removeTaskConf (netnsPath) {
      const name = netnsNameOf(netnsPath)
      if (name !== undefined) await removeTaskResolvConf(name, init.etcDir)
    },
    async ready (networkId, timeoutMs = DNS_READY_TIMEOUT_MS) {
      sync()
      if (addresses.has(networkId)) return true
      return await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          waiting.set(networkId, (waiting.get(networkId) ?? []).filter((w) => w !== wake))
          resolve(false)
        }, timeoutMs)
        const wake = (): void => {
          clearTimeout(timer)
          resolve(true)
        }
        waiting.set(networkId, [...(waiting.get(networkId) ?? []), wake])
      })
    },
    served: () => [...addresses.keys()],
    component: {
      name: 'dns',
      beforeStart () {
        unsubscribe = cache.subscribe(index.listener)
        index.rebuild()
      },
      start () {
        if (running) return
        running = true
        if (init.upstreams.length === 0) log.warn('the resolver has no upstream: names outside the cluster get SERVFAIL (set --dns-upstream)')
        forwarder = createForwarder({ upstreams: init.upstreams, timeoutMs: init.timeoutMs })
        server = createDnsServer({
          index,
          forwarder,
          ttlS: init.ttlS,
          ...(metrics === undefined ? {} : { metrics }),
          onError: (networkId, err) => log.warn('resolver socket error', { networkId, error: err.message })
        })
      },
      afterStart () {
        sync()
        resyncTimer ??= setInterval(sync, DNS_RESYNC_INTERVAL_MS)
        resyncTimer.unref()
      },
      stop () {
        running = false
        if (resyncTimer !== undefined) clearInterval(resyncTimer)
        resyncTimer = undefined
        unsubscribe?.()
        unsubscribe = undefined
        if (retryTimer !== undefined) clearTimeout(retryTimer)
        retryTimer = undefined
        for (const o of opening.values()) o.abort.abort()
        opening.clear()
        server?.close()
        server = undefined
        forwarder?.close()
        forwarder = undefined
        addresses.clear()
      }
    }
  }
}
