import { randomInt } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { SCOPES_TABLE, createGossip, createKeyring, createSeededRng, createSystemClock } from '@scalelb/gossip'
import type { Clock, EntryEvent, Gossip, Transport } from '@scalelb/gossip'
import { createNodeAllocator, deserializeNodeAllocator, type NodeAllocator, type NodeAllocatorInit } from '@scalelb/allocator'
import type { AgentConfig } from './config/options.js'
import { AGENT_VERSION, DESIRED_PERSIST_INTERVAL_MS, JOIN_RETRY_MAX_MS, JOIN_RETRY_MIN_MS, WARMUP_AFTER_JOIN_MS } from './constants.js'
import { componentLogger, createRootLogger, type Logger } from './logging/logger.js'
import { createAgentMetrics, transportStats, type AgentMetrics } from './metrics.js'
import { loadOrCreateNodeKey, type NodeIdentity } from './persistence/node-key.js'
import { loadClusterKeys, type ClusterKeys } from './persistence/cluster-keys.js'
import { createAuthorityPolicy, mayWrite } from './state/authority.js'
import { createStateWriter, loadState, type OwnEntry, type PersistedState, type StateWriter } from './persistence/state-file.js'
import { createApiServer, type ApiServer } from './api/server.js'
import { loadOrCreateApiToken } from './api/token.js'
import { removeStrayTempFiles } from './persistence/files.js'
import { createStatusServer, type StatusServer } from './status/server.js'
import { createController, type Controller, type TaskPlumber } from './state/controller.js'
import { mergeWarmup, type NetworkDesired } from './state/desired.js'
import { createIpam, type Ipam } from './state/ipam.js'
import { createNetworkProblems } from './state/network-problems.js'
import { TABLE_ENDPOINTS, TABLE_IPAM, TABLE_IPAM_REQUESTS, TABLE_IPAM_USAGE, TABLE_NETWORKS, TABLE_NODES, TABLE_SERVICES, checkNetwork, type NodeValue } from './state/tables.js'
import { createTablesView, type TablesView } from './state/view.js'
import type { DataPlane, Reconciler } from './dataplane/dataplane.js'
import type { AgentStatus, MemberInfo } from './types.js'
import { DEFAULT_MTU_POLICY, networkMtu, type MtuPolicy } from './dataplane/overlay/mtu.js'

/** Options and components of {@link createAgent}. */
export interface AgentInit {
  config: AgentConfig
  /** Kernel side: programmer + reconciler factory + task plumbing. */
  dataPlane: DataPlane
  /** Builds the gossip transport from the node identity and the cluster keys (libp2p with `keys.psk` in production, memory in tests). */
  transport: (identity: NodeIdentity, keys: ClusterKeys) => Transport | Promise<Transport>
  /** Root logger. @default JSON lines on stdout at config.logLevel */
  logger?: Logger
  /** Clock for gossip, allocator and timers. @default system clock */
  clock?: Clock
  /** Wall clock (ms since epoch) for originMs of endpoint values. @default Date.now */
  wallClock?: () => number
  /** Serve the status server (metrics). @default true */
  statusServer?: boolean
  /** Allocator options (grace periods, block sizes); `self` is always the node ID. */
  allocatorOptions?: Omit<Partial<NodeAllocatorInit>, 'self'>
  /** Gossip timing overrides (tests). */
  gossipOverrides?: Record<string, number>
  /** Called once the agent has left the cluster (`scalelb leave`). */
  onLeft?: () => void
  /** This node's overlay MTU settings (resolved against the underlay at start). @default { mtu: config.mtu ?? 1450, max: undefined } */
  mtu?: MtuPolicy
}

/** A running agent. */
export interface Agent {
  readonly id: string
  readonly gossip: Gossip
  readonly controller: Controller
  readonly metrics: AgentMetrics
  readonly allocator: NodeAllocator
  start(): Promise<void>
  /** Stop for a restart: kernel state stays, peers keep our entries for the restart grace. */
  stop(): Promise<void>
  /** Leave for good: withdraw endpoints, leave the cluster, remove kernel state, stop. */
  leave(): Promise<void>
  ready(): boolean
  status(): AgentStatus
  members(): MemberInfo[]
  /** Wait until the desired state computed so far is applied. */
  flush(opts?: { signal?: AbortSignal }): Promise<void>
  /** Bound port of the status server (0 when disabled). */
  statusPort(): number
  /** Bound port of the loopback control API listener, if any. */
  apiTcpPort(): number | undefined
}

/** Create an agent (nothing runs until `start()`). */
export async function createAgent (init: AgentInit): Promise<Agent> {
  const cfg = init.config
  const root = init.logger ?? createRootLogger({ level: cfg.logLevel })
  const log = componentLogger(root, 'agent')
  const clock = init.clock ?? createSystemClock()
  const wallClock = init.wallClock ?? Date.now
  // key files first: a bad one fails the start before anything is written
  const keys = await loadClusterKeys(cfg, log)
  await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 })
  const identity = await loadOrCreateNodeKey(cfg.dataDir)
  const self = identity.id
  if (identity.created) log.info('created node key', { node: self, dataDir: cfg.dataDir })
  const keyring = createKeyring({
    self,
    privateKey: identity.privateKey.raw,
    ...(keys.managerPublicKey !== undefined ? { managerPublicKey: keys.managerPublicKey } : {}),
    ...(keys.managerPrivateKey !== undefined ? { managerPrivateKey: keys.managerPrivateKey } : {})
  })
  // the same on every node: a cluster either has a cluster key file (PSK and manager public key) or none of its nodes has
  const authority = createAuthorityPolicy({ clusterChanges: keys.role === 'insecure' ? 'any' : 'manager' })
  if (keys.role === 'insecure') log.warn('no cluster key (--insecure): any member may change networks and services, and anyone who reaches --listen may join')
  // a temp file of an interrupted atomic write (state.json, api.token) is garbage: no writer runs yet
  for (const f of await removeStrayTempFiles(cfg.dataDir)) log.warn('removed a stray temp file of an interrupted write', { file: f, dataDir: cfg.dataDir })
  const persisted = await loadState(cfg.dataDir, self)
  const apiToken = cfg.apiAddr === undefined ? undefined : await loadOrCreateApiToken(cfg.dataDir)
  if (apiToken?.created === true) log.info('created the TCP control API token', { path: apiToken.path })
  const allocator = persisted?.allocator !== undefined
    ? deserializeNodeAllocator(Buffer.from(persisted.allocator, 'base64'), { lbReleaseGraceMs: cfg.lbReleaseGraceMs, ...init.allocatorOptions, self })
    : createNodeAllocator({ lbReleaseGraceMs: cfg.lbReleaseGraceMs, ...init.allocatorOptions, self })
  const incarnation = (persisted?.incarnation ?? -1) + 1
  const transport = await init.transport(identity, keys)
  if (cfg.insecureUnsignedGossip) log.warn('gossip signatures are OFF (--insecure-unsigned-gossip, for benchmarks): any member can forge any entry or membership fact')
  const gossip = createGossip({
    ...(cfg.insecureUnsignedGossip ? {} : { keyring }),
    authority,
    transport,
    clock,
    rng: createSeededRng(randomInt(2 ** 31)),
    profile: cfg.profile,
    incarnation,
    restartGraceMs: cfg.restartGraceMs,
    logger: componentLogger(root, 'gossip'),
    ...init.gossipOverrides
  })
  const localUnderlay = cfg.underlayIp ?? ''
  const mtu: MtuPolicy = init.mtu ?? (cfg.mtu === undefined ? DEFAULT_MTU_POLICY : { mtu: cfg.mtu, max: undefined })
  /** `network id|mtu option` already logged and counted as not usable here. */
  const mtuReported = new Set<string>()

  // created below; closures reach them through this holder (events only fire after start())
  const late: { writer?: StateWriter, metrics?: AgentMetrics } = {}
  const persist = (): void => late.writer?.schedule()
  const view: TablesView = createTablesView(gossip, (table) => late.metrics?.invalidEntry(table), (err) => { log.error('table cache failed to apply a gossip event: rebuilding it from the tables', { error: err.message }) })
  const ipam: Ipam = createIpam({ gossip, allocator, clock, logger: componentLogger(root, 'ipam'), onChange: persist, networkName: (id) => view.networks().get(id)?.name, onAllocated: (ms) => late.metrics?.observeAddressWait(ms) })
  const plumber: TaskPlumber = init.dataPlane.plumber
  const controller = createController({ gossip, ipam, view, wallClock, clock, logger: componentLogger(root, 'state'), plumber, mtu, tasks: persisted?.tasks, onChange: () => { persist(); scheduleLbTick(); ipam.publishUsage() }, applied: async (signal) => { await agent.flush({ signal }) }, programmingError: (id) => problems.error(id) })

  // programming latency: origin timestamps of endpoint events waiting for the reconciler
  const pendingOrigins = new Map<string, number[]>()
  const reconciler: Reconciler = init.dataPlane.createReconciler({
    clock,
    logger: componentLogger(root, 'reconciler'),
    onApplied (networkId, result) {
      metrics.observeSync(result.durationMs)
      const origins = pendingOrigins.get(networkId)
      if (origins === undefined) return
      pendingOrigins.delete(networkId)
      const now = wallClock()
      for (const o of origins) metrics.observeProgramming(now - o)
    }
  })

  const problems = createNetworkProblems({ logger: componentLogger(root, 'state'), networks: () => view.networks(), conflicts: () => view.conflicts(), refused: () => reconciler.errors() })
  const metrics = late.metrics = createAgentMetrics({
    node: self,
    sources: {
      conflicts: () => ({ current: problems.conflicts(), detected: problems.conflictsDetected() }),
      reconciler: () => reconciler.stats(),
      members: () => gossip.members(),
      gossipStats: () => gossip.stats(),
      transport: transportStats(transport),
      ipam: () => {
        const sum = { vip: 0, task: 0, lb: 0, free: 0, cooling: 0 }
        for (const n of allocator.networks()) {
          const c = allocator.counts(n)
          sum.vip += c.vip; sum.task += c.task; sum.lb += c.lb; sum.free += c.free; sum.cooling += c.cooling
        }
        return sum
      }
    }
  })

  function ownEntries (): OwnEntry[] {
    const out: OwnEntry[] = []
    for (const scope of ['cluster' as const, ...gossip.scopes().filter((s) => s !== 'cluster')]) {
      for (const e of gossip.entries(scope)) {
        if (e.origin === self && !e.deleted && e.value !== undefined && e.table !== SCOPES_TABLE) out.push({ scope, table: e.table, key: e.key, value: e.value })
      }
    }
    return out
  }
  let lastOwnEntries: OwnEntry[] = persisted?.ownEntries ?? []
  let gossipStarted = false
  // desired state handed to the reconciler; after a restart the previous run's is kept
  // (warm-up) until the tables are synced again, so adoption does not remove anything
  let lastDesired = new Map<string, NetworkDesired>(persisted?.desired ?? [])
  let warmup: Map<string, NetworkDesired> | undefined = lastDesired.size > 0 ? new Map(lastDesired) : undefined
  let desiredPersistTimer: (() => void) | undefined
  function snapshot (): PersistedState {
    if (gossipStarted) lastOwnEntries = ownEntries()
    return { version: 1, node: self, allocator: Buffer.from(allocator.serialize()).toString('base64'), tasks: controller.localTasks(), ownEntries: lastOwnEntries, incarnation, desired: [...lastDesired] }
  }
  const writer = late.writer = createStateWriter(cfg.dataDir, snapshot, (err) => log.error('cannot write state file', { error: err.message }))

  // desired state: recomputed on every table change, coalesced to one microtask
  let recomputeQueued = false
  let lastSkipped = ''
  function recompute (): void {
    recomputeQueued = false
    const r = view.desired(self, localUnderlay, mtu)
    const skipped = JSON.stringify(r.skipped)
    if (skipped !== lastSkipped && r.skipped.length > 0 && warmup === undefined) log.warn('networks with local tasks not programmed yet', { skipped: r.skipped })
    lastSkipped = skipped
    problems.update(r.skipped)
    let desired = r.desired
    if (warmup !== undefined) {
      const local = new Set(controller.localTasks().flatMap((t) => t.endpoints.map((e) => e.networkId)))
      desired = mergeWarmup(r.desired, warmup, local)
    }
    lastDesired = desired
    reconciler.setDesired(desired)
    desiredPersistTimer ??= clock.setTimer(DESIRED_PERSIST_INTERVAL_MS, () => { desiredPersistTimer = undefined; persist() })
  }
  function endWarmup (why: string): void {
    if (warmup === undefined) return
    warmup = undefined
    log.info('restart warm-up over: desired state from the tables alone', { why })
    scheduleRecompute()
  }
  function scheduleRecompute (): void {
    if (recomputeQueued) return
    recomputeQueued = true
    queueMicrotask(recompute)
  }

  let lbTimer: (() => void) | undefined
  function scheduleLbTick (): void {
    lbTimer?.()
    lbTimer = undefined
    const next = allocator.nextDeadline()
    if (next === undefined) return
    lbTimer = clock.setTimer(Math.max(0, next - clock.now()), () => {
      lbTimer = undefined
      controller.tickLbRelease()
      scheduleLbTick()
    })
  }

  function onEntry (ev: EntryEvent): void {
    const e = ev.entry
    try {
      ipam.handleEntry(ev)
      if (e.scope === 'cluster' && e.table === TABLE_NETWORKS) {
        if (e.deleted || e.status === 'deleted') {
          if (allocator.hasNetwork(e.key) || controller.localTasks().some((t) => t.endpoints.some((x) => x.networkId === e.key))) {
            controller.networkDeleted(e.key).catch((err: unknown) => log.error('cleaning up a deleted network failed', { networkId: e.key, error: (err as Error).message }))
          }
        } else {
          const c = checkNetwork(e.value)
          if (c.ok) checkNetworkMtu(e.key, c.value.name, c.value.options)
          if (!c.ok) metrics.invalidEntry(TABLE_NETWORKS)
          else if (!allocator.hasNetwork(e.key)) {
            try {
              allocator.addNetwork(e.key, c.value.subnets)
              ipam.syncNetwork(e.key)
              ipam.networkLearned(e.key)
              persist()
            } catch (err) {
              log.warn('cannot track network', { networkId: e.key, error: (err as Error).message })
            }
          }
        }
      } else if (e.scope === 'cluster' && e.table === TABLE_SERVICES && e.deleted) {
        controller.serviceDeleted(e.key)
      } else if (e.scope.startsWith('network:') && e.table === TABLE_ENDPOINTS && !e.deleted) {
        const origin = (e.value as { originMs?: unknown } | undefined)?.originMs
        if (typeof origin === 'number') {
          const nid = e.scope.slice('network:'.length)
          const list = pendingOrigins.get(nid) ?? []
          if (list.length < 1000) list.push(origin)
          pendingOrigins.set(nid, list)
        }
      }
    } catch (err) {
      log.error('handling a gossip entry failed', { scope: e.scope, table: e.table, key: e.key, error: (err as Error).message })
    }
    if (e.origin === self) persist()
    scheduleRecompute()
    scheduleLbTick()
  }

  /** A network's own MTU that this node cannot use as is: an error to act on (once per network and value). */
  function checkNetworkMtu (networkId: string, name: string, options: Readonly<Record<string, string>>): void {
    const m = networkMtu(options, mtu)
    if (m.issue === undefined || mtuReported.has(`${networkId}|${m.requested ?? ''}`)) return
    mtuReported.add(`${networkId}|${m.requested ?? ''}`)
    metrics.mtuIssue(m.issue)
    if (m.issue === 'too-large') {
      log.error('network MTU does not fit this node\'s underlay: clamped here (packets larger than this from other nodes are lost)', { networkId, network: name, requested: m.requested, used: m.mtu, underlayMax: mtu.max })
    } else log.error('network MTU option is not a valid MTU: this node uses its own', { networkId, network: name, requested: m.requested, used: m.mtu })
  }

  const members = (): MemberInfo[] => gossip.members().map((m) => ({ id: m.id, state: m.state, addrs: m.addrs, incarnation: m.incarnation, restarting: m.restarting, self: m.id === self }))
  const ready = (): boolean => gossipStarted && (reconciler.synced())
  const status = (): AgentStatus => {
    const counts: Record<string, number> = {}
    for (const m of gossip.members()) counts[m.state] = (counts[m.state] ?? 0) + 1
    const rs = reconciler.stats()
    return {
      node: self,
      version: AGENT_VERSION,
      ready: ready(),
      role: keys.role,
      reconciler: { synced: reconciler.synced(), ...rs },
      gossip: { members: counts, scopes: gossip.scopes() },
      networks: view.networks().size,
      services: view.services().size,
      localTasks: controller.localTasks().length,
      networkErrors: problems.list(),
      listen: transport.addrs()
    }
  }

  let leaving: Promise<void> | undefined
  const api: ApiServer = createApiServer({
    controller,
    logger: componentLogger(root, 'api'),
    socketPath: cfg.apiSocket,
    tcp: cfg.apiAddr,
    token: apiToken?.token,
    role: keys.role,
    members,
    status,
    afterMutation: async () => {
      writer.schedule()
      await writer.flush()
    },
    leave: async () => { await agent.leave() }
  })
  const statusServer: StatusServer | undefined = init.statusServer === false
    ? undefined
    : createStatusServer({ host: cfg.metricsAddr.host, port: cfg.metricsAddr.port, metrics, logger: componentLogger(root, 'status'), ready, status, statusDetail: cfg.statusDetail })

  let unsubscribe: (() => void) | undefined
  let state: 'new' | 'running' | 'stopped' = 'new'

  let cancelWarmupTimer: (() => void) | undefined
  let cancelJoinRetry: (() => void) | undefined
  /**
   * Join through --join; while no peer answers and none has joined us, try
   * again with backoff (agents on several hosts start in any order).
   */
  function tryJoin (nextDelayMs: number): void {
    cancelJoinRetry = undefined
    if (state !== 'running') return
    gossip.join(cfg.join).then((n) => {
      log.info('joined cluster', { contacted: n })
      if (warmup !== undefined) clock.setTimer(WARMUP_AFTER_JOIN_MS, () => endWarmup('joined and synced'))
    }, (err: unknown) => {
      if (state !== 'running') return
      const others = gossip.members().filter((m) => m.id !== self && m.state === 'alive').length
      if (others > 0) {
        log.warn('join failed, but peers have joined us', { join: cfg.join, alive: others, error: (err as Error).message })
        return
      }
      log.warn('join failed; retrying', { join: cfg.join, retryInMs: nextDelayMs, error: (err as Error).message })
      cancelJoinRetry = clock.setTimer(nextDelayMs, () => tryJoin(Math.min(nextDelayMs * 2, JOIN_RETRY_MAX_MS)))
    })
  }
  async function stopCommon (): Promise<void> {
    cancelJoinRetry?.()
    cancelJoinRetry = undefined
    lbTimer?.()
    lbTimer = undefined
    cancelWarmupTimer?.()
    ipam.stop()
    desiredPersistTimer?.()
    desiredPersistTimer = undefined
    await api.stop()
    await statusServer?.stop()
  }

  const agent: Agent = {
    id: self,
    gossip,
    controller,
    metrics,
    allocator,
    async start () {
      if (state !== 'new') return
      state = 'running'
      unsubscribe = gossip.onEntry(onEntry)
      await gossip.start()
      gossipStarted = true
      for (const e of persisted?.ownEntries ?? []) {
        // ring tokens are republished from the allocator snapshot below (the authoritative copy);
        // a stale token or donation request must not be re-sent with a fresh timestamp
        if ((e.scope !== 'cluster' && !e.scope.startsWith('network:')) || e.table === SCOPES_TABLE || e.table === TABLE_IPAM || e.table === TABLE_IPAM_REQUESTS || e.table === TABLE_IPAM_USAGE) continue
        // a network this node created before it lost the manager key, or an endpoint under an older agent's key shape
        if (!mayWrite(authority(e.scope as 'cluster', e.table, e.key), self, keyring.manager)) {
          log.info('not restoring a persisted entry this node may no longer write', { scope: e.scope, table: e.table, key: e.key, role: keys.role })
          continue
        }
        try {
          if (e.scope !== 'cluster') gossip.joinScope(e.scope as `network:${string}`)
          gossip.set(e.scope as 'cluster', e.table, e.key, e.value)
        } catch (err) {
          log.warn('cannot restore a persisted entry', { scope: e.scope, table: e.table, key: e.key, error: (err as Error).message })
        }
      }
      for (const nid of allocator.networks()) ipam.publishTokens(nid, allocator.ownedBy(nid).owned)
      ipam.publishUsage()
      for (const nid of allocator.networks()) ipam.networkLearned(nid)
      const nodeValue: NodeValue = { underlay: localUnderlay === '' ? '0.0.0.0' : localUnderlay, version: AGENT_VERSION }
      gossip.set('cluster', TABLE_NODES, self, nodeValue)
      controller.republish()
      // the reconciler adopts the kernel against a desired state (never an empty one)
      recompute()
      await reconciler.start()
      if (warmup !== undefined) {
        const t = clock.setTimer(cfg.restartGraceMs, () => endWarmup('restart grace over'))
        cancelWarmupTimer = t
      }
      await api.start()
      await statusServer?.start()
      persist()
      if (cfg.join.length > 0) tryJoin(JOIN_RETRY_MIN_MS)
      log.info('agent started', { node: self, role: keys.role, listen: transport.addrs(), programmer: cfg.programmer, overlayMtu: mtu.mtu, overlayMtuMax: mtu.max, restored: persisted !== undefined, localTasks: controller.localTasks().length })
    },
    async stop () {
      if (state !== 'running') return
      state = 'stopped'
      log.info('stopping for restart: kernel state and tasks stay')
      await stopCommon()
      await reconciler.stop()
      unsubscribe?.()
      view.close()
      await writer.flush()
      await gossip.stop({ restart: true })
    },
    async leave () {
      leaving ??= (async () => {
        if (state !== 'running') return
        state = 'stopped'
        log.info('leaving the cluster: withdrawing endpoints and removing kernel state')
        await controller.withdrawAll()
        await writer.flush()
        await gossip.leave()
        unsubscribe?.()
        view.close()
        await reconciler.teardown()
        await reconciler.stop()
        await stopCommon()
        writer.schedule()
        await writer.flush()
        init.onLeft?.()
      })()
      await leaving
    },
    ready,
    status,
    members,
    async flush (opts) {
      if (recomputeQueued) recompute()
      await reconciler.flush(opts)
    },
    statusPort: () => statusServer?.port() ?? 0,
    apiTcpPort: () => api.tcpPort()
  }
  return agent
}
