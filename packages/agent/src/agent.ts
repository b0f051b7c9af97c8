import { randomInt } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { createGossip, createSeededRng, createSystemClock } from '@scalelb/gossip'
import type { Clock, Gossip, Keyring, Transport } from '@scalelb/gossip'
import { createNodeAllocator, deserializeNodeAllocator, type NodeAllocator, type NodeAllocatorInit } from '@scalelb/allocator'
import type { AgentConfig } from './config/options.js'
import { AGENT_VERSION } from './constants.js'
import { componentLogger, createRootLogger, type Logger } from './logging/logger.js'
import { createAgentMetrics, transportStats, type AgentMetrics } from './metrics.js'
import { loadOrCreateNodeKey, type NodeIdentity } from './persistence/node-key.js'
import { loadClusterKeys, type ClusterKeys } from './persistence/cluster-keys.js'
import { createAgentKeyring } from './persistence/admission.js'
import { createAuthorityPolicy, mayWrite } from './state/authority.js'
import { loadState, type PersistedState } from './persistence/state-file.js'
import { createApiServer, type ApiServer } from './api/server.js'
import { loadOrCreateApiToken } from './api/token.js'
import { removeStrayTempFiles } from './persistence/files.js'
import { createStatusServer, type StatusServer } from './status/server.js'
import { createController, type Controller } from './state/controller.js'
import type { Ipam } from './state/ipam.js'
import type { NetworkProblems } from './state/network-problems.js'
import type { TablesView } from './state/view.js'
import { createIpam } from './state/ipam.js'
import { createNetworkProblems } from './state/network-problems.js'
import { createTablesView } from './state/view.js'
import { TABLE_REVOKED } from './state/tables.js'
import type { DataPlane, Reconciler } from './dataplane/dataplane.js'
import type { AgentStatus, MemberInfo } from './types.js'
import { DEFAULT_MTU_POLICY, type MtuPolicy } from './dataplane/overlay/mtu.js'
import { createLifecycle, type Component } from './lifecycle.js'
import { createDesiredState, type DesiredState } from './components/desired-state.js'
import { createIngress, type Ingress } from './components/ingress.js'
import { listeningPorts } from './dataplane/ingress/listening.js'
import { createEntryRouter } from './components/entry-router.js'
import { createRevocations, type Revocations } from './state/revocations.js'
import { createJoiner } from './components/join.js'
import { createLbRelease, type LbRelease } from './components/lb-release.js'
import { createMemoryTrim, type ProcessMemory } from './components/memory-trim.js'
import { createOwnEntries } from './components/own-entries.js'
import { createPersistence, type Persistence } from './components/persistence.js'
import { createProgrammingLatency, type ProgrammingLatency } from './components/programming-latency.js'
import type * as DockerModule from './docker/index.js'
import { lbNetnsName } from './dataplane/kernel/names.js'
import { hostUpstreams } from './dns/resolv-conf.js'
import { createDnsResolver, type DnsResolver } from './dns/resolver.js'

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
  /** The process's memory hooks, for the trimmer after large syncs (malloc_trim is process-wide: the CLI's agent passes `processMemory()`; tests run several agents in one process). @default no trimmer */
  memory?: ProcessMemory
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
  /** Members the cluster's managers revoked (`scalelb member revoke`). */
  readonly revocations: Revocations
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
  const keyring = await createAgentKeyring(cfg, keys, identity.id, identity.privateKey.raw)
  if (keys.admissionRequired) log.info('this cluster admits only nodes a manager admitted', { node: identity.id, manager: keys.role === 'manager' })
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

/** Gossip and what it is built from: the node's files, keys, allocator and transport. */
interface Base {
  cfg: AgentConfig
  root: Logger
  log: Logger
  clock: Clock
  wallClock: () => number
  files: NodeFiles
  self: string
  authority: ReturnType<typeof createAuthorityPolicy>
  allocator: NodeAllocator
  transport: Transport
  gossip: Gossip
  mtu: MtuPolicy
  localUnderlay: string
  /** Set once gossip has started (the state file reads own entries from then on; `ready()` needs it). */
  gossipStarted: { value: boolean }
}

/** Read the node's files and build gossip (nothing runs yet). */
async function createBase (init: AgentInit): Promise<Base> {
  const cfg = init.config
  const root = init.logger ?? createRootLogger({ level: cfg.logLevel })
  const log = componentLogger(root, 'agent')
  const clock = init.clock ?? createSystemClock()
  const files = await loadNodeFiles(cfg, log)
  const self = files.identity.id
  // the same on every node: a cluster either has a cluster key file (PSK and manager public key) or none of its nodes has
  const authority = createAuthorityPolicy({ clusterChanges: files.keys.role === 'insecure' ? 'any' : 'manager' })
  const allocator = restoreAllocator(init, self, files.persisted)
  const transport = await init.transport(files.identity, files.keys)
  if (cfg.insecureUnsignedGossip) log.warn('gossip signatures are OFF (--insecure-unsigned-gossip, for benchmarks): any member can forge any entry or membership fact')
  const gossip = createGossip({
    ...(cfg.insecureUnsignedGossip ? {} : { keyring: files.keyring }),
    authority,
    transport,
    clock,
    rng: createSeededRng(randomInt(2 ** 31)),
    profile: cfg.profile,
    incarnation: (files.persisted?.incarnation ?? -1) + 1,
    restartGraceMs: cfg.restartGraceMs,
    logger: componentLogger(root, 'gossip'),
    ...init.gossipOverrides
  })
  const mtu: MtuPolicy = init.mtu ?? (cfg.mtu === undefined ? DEFAULT_MTU_POLICY : { mtu: cfg.mtu, max: undefined })
  return { cfg, root, log, clock, wallClock: init.wallClock ?? Date.now, files, self, authority, allocator, transport, gossip, mtu, localUnderlay: cfg.underlayIp ?? '', gossipStarted: { value: false } }
}

/** The agent's state-side parts, built over gossip. */
interface Parts {
  persistence: Persistence
  view: TablesView
  ipam: Ipam
  controller: Controller
  lbRelease: LbRelease
  latency: ProgrammingLatency
  reconciler: Reconciler
  problems: NetworkProblems
  desired: DesiredState
  metrics: AgentMetrics
  /** The resolver (absent with --no-dns or the memory programmer). */
  dns: DnsResolver | undefined
  /** Published ports and ingress holds. */
  ingress: Ingress
  /** Members the cluster's managers revoked. */
  revocations: Revocations
}

/** The VIPs of every service on a network (both families). */
function * serviceVips (view: TablesView, networkId: string): Iterable<{ ip: string, service: string }> {
  for (const [service, v] of view.services()) {
    const ip = v.vips[networkId]
    if (ip !== undefined) yield { ip, service }
    const ip6 = v.vips6?.[networkId]
    if (ip6 !== undefined) yield { ip: ip6, service }
  }
}

/** Build the parts; they refer to each other through closures that only run once the agent started. */
function createParts (b: Base, dataPlane: DataPlane): Parts {
  const { gossip, allocator, clock, root, log, wallClock, mtu, files } = b
  const persistence = createPersistence({ gossip, allocator, dataDir: b.cfg.dataDir, logger: log, incarnation: (files.persisted?.incarnation ?? -1) + 1, persisted: files.persisted, localTasks: () => controller.localTasks(), desired: () => desired.last(), gossipStarted: () => b.gossipStarted.value })
  const persist = persistence.persist
  const view = createTablesView(gossip, (table) => metrics.invalidEntry(table), (err) => { log.error('table cache failed to apply a gossip event: rebuilding it from the tables', { error: err.message }) })
  const ipam = createIpam({ gossip, allocator, clock, logger: componentLogger(root, 'ipam'), onChange: persist, networkName: (id) => view.networks().get(id)?.name, onAllocated: (ms) => metrics.observeAddressWait(ms), onRefused: (reason) => metrics.ipamTokenRefused(reason), vipsOf: (networkId) => serviceVips(view, networkId), revoked: () => new Set(revocations.list().keys()) })
  const metrics = agentMetrics(b, { conflicts: () => ({ current: problems.conflicts(), detected: problems.conflictsDetected() }), reconciler: () => reconciler.stats(), revoked: () => revocations.list().size })
  const dns = b.cfg.noDns || b.cfg.programmer === 'memory' || b.cfg.lbMode !== 'per-network'
    ? undefined
    : createDnsResolver({
      cache: view.tableCache(),
      desired: () => desired.last(),
      sandboxNetns: (id) => lbNetnsName(b.cfg.netnsPrefix, id),
      upstreams: b.cfg.dnsUpstreams ?? hostUpstreams(log),
      timeoutMs: b.cfg.dnsUpstreamTimeoutMs,
      ttlS: b.cfg.dnsTtlS,
      logger: componentLogger(root, 'dns'),
      registry: metrics.registry
    })
  const revocations = createRevocations({ gossip, logger: componentLogger(root, 'state'), wallClock, invalid: () => { metrics.invalidEntry(TABLE_REVOKED) } })
  const controller = createController({ gossip, ipam, view, revocations, wallClock, clock, logger: componentLogger(root, 'state'), plumber: dataPlane.plumber, mtu, tasks: files.persisted?.tasks, onChange: () => { persist(); lbRelease.schedule(); ipam.publishUsage() }, applied: async (signal) => { await desired.flush({ signal }) }, programmingError: (id) => problems.error(id), ...(dns === undefined ? {} : { dns }), ...(dataPlane.hostIngress === undefined ? {} : { listening: listeningPorts }) })
  const lbRelease = createLbRelease({ allocator, clock, tick: () => controller.tickLbRelease() })
  const latency = createProgrammingLatency({ wallClock, metrics: () => metrics })
  const reconciler = dataPlane.createReconciler({
    clock,
    logger: componentLogger(root, 'reconciler'),
    onApplied (networkId, result) {
      metrics.observeSync(result.durationMs)
      latency.applied(networkId)
      dns?.sync()
      ingress.schedule()
    }
  })
  const problems = createNetworkProblems({ logger: componentLogger(root, 'state'), networks: () => view.networks(), conflicts: () => view.conflicts(), refused: () => reconciler.errors() })
  const desired = createDesiredState({ view, reconciler, problems, clock, logger: log, self: b.self, localUnderlay: b.localUnderlay, mtu, localTasks: () => controller.localTasks(), persist, previous: files.persisted?.desired, restartGraceMs: b.cfg.restartGraceMs })
  const ingress = createIngress({ view, controller, desired, host: dataPlane.hostIngress, self: b.self, clock, logger: componentLogger(root, 'ingress') })
  return { persistence, view, ipam, controller, lbRelease, latency, reconciler, problems, desired, metrics, dns, ingress, revocations }
}

/** Metrics read from the running parts at scrape time. */
function agentMetrics (b: Base, parts: Pick<AgentMetricsSources, 'conflicts' | 'reconciler' | 'revoked'>): AgentMetrics {
  const { gossip, allocator } = b
  return createAgentMetrics({
    node: b.self,
    sources: {
      ...parts,
      members: () => gossip.members(),
      gossipStats: () => gossip.stats(),
      transport: transportStats(b.transport),
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
type AgentMetricsSources = Parameters<typeof createAgentMetrics>[0]['sources']

/** What the API and status servers show. */
interface Views {
  members: () => MemberInfo[]
  ready: () => boolean
  status: () => AgentStatus
}

function agentViews (b: Base, p: Parts): Views {
  const { gossip, self } = b
  const members = (): MemberInfo[] => {
    const revoked = p.revocations.list()
    const out: MemberInfo[] = gossip.members().map((m) => {
      const r = revoked.get(m.id)
      revoked.delete(m.id)
      return { id: m.id, state: m.state, addrs: m.addrs, incarnation: m.incarnation, restarting: m.restarting, self: m.id === self, ...(r === undefined ? {} : { revoked: r }) }
    })
    // revoked before they joined, or forgotten since: still listed, with their revocation
    for (const [id, r] of revoked) out.push({ id, state: 'left', addrs: [], incarnation: 0, restarting: false, self: false, revoked: r })
    return out
  }
  const ready = (): boolean => b.gossipStarted.value && (p.reconciler.synced())
  const status = (): AgentStatus => {
    const counts: Record<string, number> = {}
    for (const m of gossip.members()) counts[m.state] = (counts[m.state] ?? 0) + 1
    return {
      node: self,
      version: AGENT_VERSION,
      ready: ready(),
      role: b.files.keys.role,
      admission: b.files.keys.admissionRequired ? 'required' : 'open',
      reconciler: { synced: p.reconciler.synced(), ...p.reconciler.stats() },
      gossip: { members: counts, scopes: gossip.scopes() },
      networks: p.view.networks().size,
      services: p.view.services().size,
      localTasks: p.controller.localTasks().length,
      networkErrors: p.problems.list(),
      listen: b.transport.addrs()
    }
  }
  return { members, ready, status }
}

/** The control API and (unless disabled) the status server. */
function createServers (b: Base, p: Parts, v: Views, init: AgentInit, leave: () => Promise<void>): { api: ApiServer, statusServer: StatusServer | undefined } {
  const { cfg, root } = b
  const api = createApiServer({
    controller: p.controller,
    logger: componentLogger(root, 'api'),
    socketPath: cfg.apiSocket,
    tcp: cfg.apiAddr,
    token: b.files.apiToken?.token,
    role: b.files.keys.role,
    members: v.members,
    status: v.status,
    afterMutation: async () => {
      p.persistence.persist()
      await p.persistence.writer.flush()
    },
    leave
  })
  const statusServer = init.statusServer === false
    ? undefined
    : createStatusServer({ host: cfg.metricsAddr.host, port: cfg.metricsAddr.port, metrics: p.metrics, logger: componentLogger(root, 'status'), ready: v.ready, status: v.status, statusDetail: cfg.statusDetail })
  return { api, statusServer }
}

/** The agent's components in start order; stop runs them backwards (docs/architecture.md, "Agent components"). */
function agentComponents (b: Base, p: Parts, api: ApiServer, statusServer: StatusServer | undefined, docker: Component | undefined): Component[] {
  const { gossip, allocator, log, self, files } = b
  const { controller, desired, reconciler, lbRelease } = p
  return [
    {
      name: 'gossip',
      async start () { await gossip.start(); b.gossipStarted.value = true },
      leave: () => gossip.leave(),
      async stop (reason) { if (reason === 'restart') await gossip.stop({ restart: true }) }
    },
    p.persistence.component,
    createEntryRouter({ gossip, view: p.view, ipam: p.ipam, revocations: p.revocations, allocator, controller, metrics: () => p.metrics, latency: p.latency, logger: log, mtu: b.mtu, persist: p.persistence.persist, changed: () => { desired.schedule(); lbRelease.schedule(); p.ingress.schedule() } }),
    lbRelease.component,
    createOwnEntries({ gossip, allocator, ipam: p.ipam, logger: log, persisted: files.persisted?.ownEntries ?? [], mayWrite: (e) => mayWrite(b.authority(e.scope as 'cluster', e.table, e.key), self, files.keyring.manager), localUnderlay: b.localUnderlay, role: files.keys.role }),
    // leave runs backwards: after the controller removed the tasks, before gossip says goodbye
    { name: 'ipam', leave: () => { p.ipam.handOver() } },
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
    p.ingress.component,
    ...(p.dns === undefined ? [] : [p.dns.component]),
    { name: 'api', start: () => api.start(), stop: () => api.stop() },
    ...(docker === undefined ? [] : [docker]),
    ...(statusServer === undefined ? [] : [{ name: 'status', start: () => statusServer.start(), stop: () => statusServer.stop() }]),
    createJoiner({ gossip, clock: b.clock, logger: log, join: b.cfg.join, joined: () => desired.joined() })
  ]
}

/** `--docker-plugin`: Docker's network + IPAM plugin and the container label follower, over the controller. */
function dockerComponent (b: Base, p: Parts, d: typeof DockerModule): Component {
  const { createDockerComponent, createDockerEngine, createDockerHost, createKernelLinks, createMemoryLinks } = d
  const { cfg, root } = b
  const engine = createDockerEngine({ socketPath: cfg.dockerSocket })
  const host = createDockerHost({ controller: p.controller, view: p.view, ipam: p.ipam, allocator: b.allocator, clock: b.clock, mtu: b.mtu, role: b.files.keys.role, engine, flush: (signal) => p.desired.flush({ signal }), persist: p.persistence.persist })
  const links = cfg.programmer === 'memory' ? createMemoryLinks() : createKernelLinks({ netnsPrefix: cfg.netnsPrefix })
  return createDockerComponent({ host, engine, links, clock: b.clock, logger: componentLogger(root, 'docker'), dataDir: cfg.dataDir, pluginSocket: cfg.dockerPluginSocket })
}

/** Create an agent (nothing runs until `start()`). */
export async function createAgent (init: AgentInit): Promise<Agent> {
  const b = await createBase(init)
  const { cfg, log, self } = b
  const p = createParts(b, init.dataPlane)
  const v = agentViews(b, p)
  const { api, statusServer } = createServers(b, p, v, init, async () => { await agent.leave() })
  const trim = init.memory === undefined ? [] : [createMemoryTrim({ memory: init.memory, clock: b.clock, logger: componentLogger(b.root, 'memory'), onTrim: (ms) => p.metrics.observeMemoryTrim(ms) }).component]
  // the Docker plugin's modules only when it runs (an agent without it does not hold them)
  const docker = cfg.dockerPlugin ? dockerComponent(b, p, await import('./docker/index.js')) : undefined
  const lifecycle = createLifecycle([...agentComponents(b, p, api, statusServer, docker), ...trim])
  const agent: Agent = {
    id: self,
    gossip: b.gossip,
    controller: p.controller,
    metrics: p.metrics,
    allocator: b.allocator,
    revocations: p.revocations,
    async start () {
      if (lifecycle.state() !== 'new') return
      await lifecycle.start()
      log.info('agent started', { node: self, role: b.files.keys.role, listen: b.transport.addrs(), programmer: cfg.programmer, overlayMtu: b.mtu.mtu, overlayMtuMax: b.mtu.max, restored: b.files.persisted !== undefined, localTasks: p.controller.localTasks().length })
    },
    async stop () {
      if (lifecycle.state() !== 'running') return
      log.info('stopping for restart: kernel state and tasks stay')
      await lifecycle.stop()
    },
    async leave () {
      const left = lifecycle.state() === 'running'
      if (left) log.info('leaving the cluster: withdrawing endpoints and removing kernel state')
      await lifecycle.leave()
      if (left) init.onLeft?.()
    },
    ready: v.ready,
    status: v.status,
    members: v.members,
    flush: (opts) => p.desired.flush(opts),
    statusPort: () => statusServer?.port() ?? 0,
    apiTcpPort: () => api.tcpPort()
  }
  return agent
}
