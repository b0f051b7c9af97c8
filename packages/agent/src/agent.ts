import { randomInt } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { createGossip, createKeyring, createSeededRng, createSystemClock } from '@scalelb/gossip'
import type { Clock, Gossip, Keyring, Transport } from '@scalelb/gossip'
import { createNodeAllocator, deserializeNodeAllocator, type NodeAllocator, type NodeAllocatorInit } from '@scalelb/allocator'
import type { AgentConfig } from './config/options.js'
import { AGENT_VERSION } from './constants.js'
import { componentLogger, createRootLogger, type Logger } from './logging/logger.js'
import { createAgentMetrics, transportStats, type AgentMetrics } from './metrics.js'
import { loadOrCreateNodeKey, type NodeIdentity } from './persistence/node-key.js'
import { loadClusterKeys, type ClusterKeys } from './persistence/cluster-keys.js'
import { createAuthorityPolicy, mayWrite } from './state/authority.js'
import { loadState, type PersistedState } from './persistence/state-file.js'
import { createApiServer } from './api/server.js'
import { loadOrCreateApiToken } from './api/token.js'
import { removeStrayTempFiles } from './persistence/files.js'
import { createStatusServer } from './status/server.js'
import { createController, type Controller } from './state/controller.js'
import { createIpam } from './state/ipam.js'
import { createNetworkProblems } from './state/network-problems.js'
import { createTablesView } from './state/view.js'
import type { DataPlane } from './dataplane/dataplane.js'
import type { AgentStatus, MemberInfo } from './types.js'
import { DEFAULT_MTU_POLICY, type MtuPolicy } from './dataplane/overlay/mtu.js'
import { createLifecycle, type Component } from './lifecycle.js'
import { createDesiredState } from './components/desired-state.js'
import { createEntryRouter } from './components/entry-router.js'
import { createJoiner } from './components/join.js'
import { createLbRelease } from './components/lb-release.js'
import { createOwnEntries } from './components/own-entries.js'
import { createPersistence } from './components/persistence.js'
import { createProgrammingLatency } from './components/programming-latency.js'

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

/** What the agent reads from its data dir and key files before anything runs. */
interface NodeFiles {
  keys: ClusterKeys
  identity: NodeIdentity
  keyring: Keyring
  persisted: PersistedState | undefined
  apiToken: { token: string } | undefined
}

/** Read (or create) the node key, cluster keys, state file and API token; a bad key file fails here, before anything is written. */
async function loadNodeFiles (cfg: AgentConfig, log: Logger): Promise<NodeFiles> {
  const keys = await loadClusterKeys(cfg, log)
  await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 })
  const identity = await loadOrCreateNodeKey(cfg.dataDir)
  if (identity.created) log.info('created node key', { node: identity.id, dataDir: cfg.dataDir })
  const keyring = createKeyring({
    self: identity.id,
    privateKey: identity.privateKey.raw,
    ...(keys.managerPublicKey !== undefined ? { managerPublicKey: keys.managerPublicKey } : {}),
    ...(keys.managerPrivateKey !== undefined ? { managerPrivateKey: keys.managerPrivateKey } : {})
  })
  if (keys.role === 'insecure') log.warn('no cluster key (--insecure): any member may change networks and services, and anyone who reaches --listen may join')
  // a temp file of an interrupted atomic write (state.json, api.token) is garbage: no writer runs yet
  for (const f of await removeStrayTempFiles(cfg.dataDir)) log.warn('removed a stray temp file of an interrupted write', { file: f, dataDir: cfg.dataDir })
  const persisted = await loadState(cfg.dataDir, identity.id)
  const apiToken = cfg.apiAddr === undefined ? undefined : await loadOrCreateApiToken(cfg.dataDir)
  if (apiToken?.created === true) log.info('created the TCP control API token', { path: apiToken.path })
  return { keys, identity, keyring, persisted, apiToken }
}

/** The allocator as persisted, else a new one. */
function restoreAllocator (init: AgentInit, self: string, persisted: PersistedState | undefined): NodeAllocator {
  const opts = { lbReleaseGraceMs: init.config.lbReleaseGraceMs, ...init.allocatorOptions, self }
  return persisted?.allocator !== undefined ? deserializeNodeAllocator(Buffer.from(persisted.allocator, 'base64'), opts) : createNodeAllocator(opts)
}

/** Metrics read from the running parts at scrape time. */
function agentMetrics (self: string, gossip: Gossip, transport: Transport, allocator: NodeAllocator, parts: { conflicts: () => { current: number, detected: number }, reconciler: DataPlaneStats }): AgentMetrics {
  return createAgentMetrics({
    node: self,
    sources: {
      conflicts: parts.conflicts,
      reconciler: parts.reconciler,
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
}
type DataPlaneStats = Parameters<typeof createAgentMetrics>[0]['sources']['reconciler']

/** Create an agent (nothing runs until `start()`). */
export async function createAgent (init: AgentInit): Promise<Agent> {
  const cfg = init.config
  const root = init.logger ?? createRootLogger({ level: cfg.logLevel })
  const log = componentLogger(root, 'agent')
  const clock = init.clock ?? createSystemClock()
  const wallClock = init.wallClock ?? Date.now
  const files = await loadNodeFiles(cfg, log)
  const { keys, identity, keyring, persisted } = files
  const self = identity.id
  // the same on every node: a cluster either has a cluster key file (PSK and manager public key) or none of its nodes has
  const authority = createAuthorityPolicy({ clusterChanges: keys.role === 'insecure' ? 'any' : 'manager' })
  const allocator = restoreAllocator(init, self, persisted)
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
  let gossipStarted = false

  // parts refer to each other through closures that only run once the agent started
  const persistence = createPersistence({ gossip, allocator, dataDir: cfg.dataDir, logger: log, incarnation, persisted, localTasks: () => controller.localTasks(), desired: () => desired.last(), gossipStarted: () => gossipStarted })
  const persist = persistence.persist
  const view = createTablesView(gossip, (table) => metrics.invalidEntry(table), (err) => { log.error('table cache failed to apply a gossip event: rebuilding it from the tables', { error: err.message }) })
  const ipam = createIpam({ gossip, allocator, clock, logger: componentLogger(root, 'ipam'), onChange: persist, networkName: (id) => view.networks().get(id)?.name, onAllocated: (ms) => metrics.observeAddressWait(ms) })
  const controller = createController({ gossip, ipam, view, wallClock, clock, logger: componentLogger(root, 'state'), plumber: init.dataPlane.plumber, mtu, tasks: persisted?.tasks, onChange: () => { persist(); lbRelease.schedule(); ipam.publishUsage() }, applied: async (signal) => { await desired.flush({ signal }) }, programmingError: (id) => problems.error(id) })
  const lbRelease = createLbRelease({ allocator, clock, tick: () => controller.tickLbRelease() })
  const latency = createProgrammingLatency({ wallClock, metrics: () => metrics })
  const reconciler = init.dataPlane.createReconciler({
    clock,
    logger: componentLogger(root, 'reconciler'),
    onApplied (networkId, result) {
      metrics.observeSync(result.durationMs)
      latency.applied(networkId)
    }
  })
  const problems = createNetworkProblems({ logger: componentLogger(root, 'state'), networks: () => view.networks(), conflicts: () => view.conflicts(), refused: () => reconciler.errors() })
  const desired = createDesiredState({ view, reconciler, problems, clock, logger: log, self, localUnderlay, mtu, localTasks: () => controller.localTasks(), persist, previous: persisted?.desired, restartGraceMs: cfg.restartGraceMs })
  const metrics = agentMetrics(self, gossip, transport, allocator, { conflicts: () => ({ current: problems.conflicts(), detected: problems.conflictsDetected() }), reconciler: () => reconciler.stats() })

  const members = (): MemberInfo[] => gossip.members().map((m) => ({ id: m.id, state: m.state, addrs: m.addrs, incarnation: m.incarnation, restarting: m.restarting, self: m.id === self }))
  const ready = (): boolean => gossipStarted && (reconciler.synced())
  const status = (): AgentStatus => {
    const counts: Record<string, number> = {}
    for (const m of gossip.members()) counts[m.state] = (counts[m.state] ?? 0) + 1
    return {
      node: self,
      version: AGENT_VERSION,
      ready: ready(),
      role: keys.role,
      reconciler: { synced: reconciler.synced(), ...reconciler.stats() },
      gossip: { members: counts, scopes: gossip.scopes() },
      networks: view.networks().size,
      services: view.services().size,
      localTasks: controller.localTasks().length,
      networkErrors: problems.list(),
      listen: transport.addrs()
    }
  }
  const api = createApiServer({
    controller,
    logger: componentLogger(root, 'api'),
    socketPath: cfg.apiSocket,
    tcp: cfg.apiAddr,
    token: files.apiToken?.token,
    role: keys.role,
    members,
    status,
    afterMutation: async () => {
      persist()
      await persistence.writer.flush()
    },
    leave: async () => { await agent.leave() }
  })
  const statusServer = init.statusServer === false
    ? undefined
    : createStatusServer({ host: cfg.metricsAddr.host, port: cfg.metricsAddr.port, metrics, logger: componentLogger(root, 'status'), ready, status, statusDetail: cfg.statusDetail })

  // start order; stop runs it backwards (see docs/architecture.md, "Agent components")
  const components: Component[] = [
    {
      name: 'gossip',
      async start () { await gossip.start(); gossipStarted = true },
      leave: () => gossip.leave(),
      async stop (reason) { if (reason === 'restart') await gossip.stop({ restart: true }) }
    },
    persistence.component,
    createEntryRouter({ gossip, view, ipam, allocator, controller, metrics: () => metrics, latency, logger: log, mtu, persist, changed: () => { desired.schedule(); lbRelease.schedule() } }),
    lbRelease.component,
    createOwnEntries({ gossip, allocator, ipam, logger: log, persisted: persisted?.ownEntries ?? [], mayWrite: (e) => mayWrite(authority(e.scope as 'cluster', e.table, e.key), self, keyring.manager), localUnderlay, role: keys.role }),
    { name: 'controller', start: () => controller.republish(), leave: () => controller.withdrawAll() },
    desired.component,
    {
      name: 'reconciler',
      start: () => reconciler.start(),
      async stop (reason) {
        if (reason === 'leave') await reconciler.teardown()
        await reconciler.stop()
      }
    },
    desired.warmupComponent,
    { name: 'api', start: () => api.start(), stop: () => api.stop() },
    ...(statusServer === undefined ? [] : [{ name: 'status', start: () => statusServer.start(), stop: () => statusServer.stop() }]),
    createJoiner({ gossip, clock, logger: log, join: cfg.join, joined: () => desired.joined() })
  ]
  const lifecycle = createLifecycle(components)

  const agent: Agent = {
    id: self,
    gossip,
    controller,
    metrics,
    allocator,
    async start () {
      if (lifecycle.state() !== 'new') return
      await lifecycle.start()
      log.info('agent started', { node: self, role: keys.role, listen: transport.addrs(), programmer: cfg.programmer, overlayMtu: mtu.mtu, overlayMtuMax: mtu.max, restored: persisted !== undefined, localTasks: controller.localTasks().length })
    },
    async stop () {
      if (lifecycle.state() !== 'running') return
      log.info('stopping for restart: kernel state and tasks stay')
      await lifecycle.stop()
    },
    async leave () {
      if (lifecycle.state() === 'running') log.info('leaving the cluster: withdrawing endpoints and removing kernel state')
      const left = lifecycle.state() === 'running'
      await lifecycle.leave()
      if (left) init.onLeft?.()
    },
    ready,
    status,
    members,
    flush: (opts) => desired.flush(opts),
    statusPort: () => statusServer?.port() ?? 0,
    apiTcpPort: () => api.tcpPort()
  }
  return agent
}
