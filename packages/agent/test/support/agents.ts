/**
 * In-process agents for tests: each with its own data dir, API socket and
 * memory programmer, gossiping over one in-memory network (real time). The
 * cluster has one cluster key file and one manager key file; an agent is a
 * manager (given the manager key) unless added with `role: 'worker'`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMemoryNetwork, createSystemClock, type MemoryNetwork } from '@scalelb/gossip'
import { createAgent, type Agent } from '../../src/agent.js'
import { resolveAgentConfig } from '../../src/config/options.js'
import { createMemoryPlumber } from '../../src/dataplane/wiring.js'
import { createSilentLogger, type Logger } from '../../src/logging/logger.js'
import { newClusterKeys } from '../../src/persistence/cluster-keys.js'
import type { AgentRole } from '../../src/types.js'
import { createReconciler } from '../../src/dataplane/reconciler/index.js'
import { createMemoryKernel, createProgrammer, type MemoryKernel, type Programmer } from '../../src/dataplane/programmer/index.js'
import type { MtuPolicy } from '../../src/dataplane/overlay/index.js'

/** One test agent with handles on its internals. */
export interface TestAgent {
  agent: Agent
  dataDir: string
  socket: string
  programmer: Programmer
  kernel: MemoryKernel
  plumber: ReturnType<typeof createMemoryPlumber>
}

/** A set of agents on one memory network. */
export interface TestCluster {
  net: MemoryNetwork
  dir: string
  /** The cluster key file every agent gets. */
  clusterKeyFile: string
  /** The manager key file managers get. */
  managerKeyFile: string
  /**
   * Start one more agent (optionally reusing a data dir and memory kernel: a
   * restart). `role`: `manager` (default) gets the manager key, `worker` only
   * the cluster key, `insecure` neither (`--insecure`).
   */
  add(opts?: { role?: AgentRole, dataDir?: string, kernel?: MemoryKernel, statusServer?: boolean, apiAddr?: string, lbReleaseGraceMs?: number, join?: string[], mtu?: MtuPolicy, logger?: Logger, flags?: Record<string, string | boolean> }): Promise<TestAgent>
  close(): Promise<void>
}

/** Create an empty cluster; `close()` stops every agent and removes the temp dir. */
export async function createTestCluster (): Promise<TestCluster> {
  const clock = createSystemClock()
  const net = createMemoryNetwork({ clock, latencyMs: 1 })
  const dir = await mkdtemp(join(tmpdir(), 'slb-agent-'))
  const clusterKeyFile = join(dir, 'cluster.key')
  const managerKeyFile = join(dir, 'manager.key')
  const keys = newClusterKeys()
  await writeFile(clusterKeyFile, keys.clusterKey, { mode: 0o600 })
  await writeFile(managerKeyFile, keys.managerKey, { mode: 0o600 })
  const started: TestAgent[] = []
  let n = 0
  // the system clock's timers are unref'd and the memory network holds no socket:
  // keep the event loop alive while the cluster exists (a real agent has its listeners)
  const keepAlive = setInterval(() => {}, 1000)
  return {
    net,
    dir,
    clusterKeyFile,
    managerKeyFile,
    async add (opts = {}) {
      const dataDir = opts.dataDir ?? join(dir, `n${n++}`)
      const role = opts.role ?? 'manager'
      const keyFlags = role === 'insecure'
        ? { insecure: true }
        : { 'cluster-key-file': clusterKeyFile, 'manager-key-file': role === 'manager' ? managerKeyFile : undefined }
      const config = resolveAgentConfig({
        flags: { ...keyFlags, 'data-dir': dataDir, 'metrics-addr': '127.0.0.1:0', programmer: 'memory', profile: 'local', 'netns-prefix': 'tst-', 'api-addr': opts.apiAddr, 'lb-release-grace': opts.lbReleaseGraceMs === undefined ? undefined : `${opts.lbReleaseGraceMs}ms`, ...opts.flags },
        env: {}
      })
      // memory-transport addresses are not multiaddrs, so --join is set past the flag parser
      if (opts.join !== undefined) config.join = opts.join
      const kernel = opts.kernel ?? createMemoryKernel()
      const programmer = createProgrammer('memory', { netnsPrefix: 'tst-', memoryKernel: kernel })
      const plumber = createMemoryPlumber()
      const agent = await createAgent({
        config,
        logger: opts.logger ?? createSilentLogger(),
        clock,
        statusServer: opts.statusServer ?? false,
        mtu: opts.mtu,
        transport: (id) => net.transport(id.id),
        dataPlane: {
          plumber,
          createReconciler: (r) => createReconciler({ programmer, clock: r.clock, logger: r.logger, onApplied: r.onApplied, coalesceMs: 5 })
        }
      })
      await agent.start()
      const t: TestAgent = { agent, dataDir, socket: config.apiSocket, programmer, kernel, plumber }
      started.push(t)
      return t
    },
    async close () {
      for (const t of started) await t.agent.stop().catch(() => {})
      clearInterval(keepAlive)
      await rm(dir, { recursive: true, force: true })
    }
  }
}
