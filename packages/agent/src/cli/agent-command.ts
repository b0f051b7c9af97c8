import { isIP } from 'node:net'
import { parseArgs } from 'node:util'
import { networkInterfaces } from 'node:os'
import { createLibp2pTransport, createSystemClock } from '@scalelb/gossip'
import { AGENT_PARSE_OPTIONS, agentHelp, resolveAgentConfig, type AgentConfig } from '../config/options.js'
import { ConfigError, UsageError, isUsageError } from '../errors.js'
import { isLoopbackHost } from '../config/values.js'
import { componentLogger, createRootLogger, type Logger } from '../logging/logger.js'
import { createAgent, type Agent } from '../agent.js'
import { processMemory } from '../components/memory-trim.js'
import { createDataPlane } from '../dataplane/wiring.js'
import type { CliContext } from './commands.js'
import { createKernel, mtuOfAddress } from '../dataplane/kernel/index.js'
import { resolveMtuPolicy, type MtuPolicy } from '../dataplane/overlay/mtu.js'

/**
 * The underlay IP: --underlay-ip, else the listen IP (unless wildcard or
 * loopback), else the first non-internal IPv4, else '' (single host: the
 * overlay is a bridge only, no VXLAN).
 */
export function detectUnderlay (cfg: AgentConfig): string {
  if (cfg.underlayIp !== undefined) return cfg.underlayIp
  const m = /^\/ip[46]\/([^/]+)\//.exec(cfg.listen)
  if (m !== null && m[1] !== '0.0.0.0' && m[1] !== '::' && !isLoopbackHost(m[1] as string)) return m[1] as string
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return ''
}

/**
 * This node's overlay MTU: `--mtu`, else the underlay interface's MTU - 50
 * (IPv4 underlay) or - 70 (IPv6).
 * The interface is the one holding the underlay IP (not looked up with
 * `--programmer memory`, which touches no kernel). Throws {@link ConfigError}
 * when `--mtu` does not fit the underlay, or the underlay is too small.
 */
export async function resolveOverlayMtu (cfg: AgentConfig, underlay: string, log: Logger): Promise<MtuPolicy> {
  let underlayMtu: number | undefined
  if (underlay !== '' && cfg.programmer !== 'memory') {
    try {
      underlayMtu = await mtuOfAddress(createKernel(), underlay)
    } catch (err) {
      log.warn('cannot read the underlay interface\'s MTU', { underlay, error: (err as Error).message })
    }
    if (underlayMtu === undefined) log.warn('no interface holds the underlay IP: overlay MTU not checked against it', { underlay })
  }
  const { policy, problem } = resolveMtuPolicy(cfg.mtu, underlayMtu, isIP(underlay) === 6 ? 6 : 4)
  if (problem !== undefined) {
    if (cfg.mtu !== undefined) throw new ConfigError('--mtu', problem)
    throw new ConfigError('--underlay-ip', `the interface of ${underlay} has MTU ${String(underlayMtu)}, too small for a VXLAN overlay: ${problem}`)
  }
  return policy
}

/** Build the agent from settings, with the libp2p transport and the configured kernel programmer. */
export async function buildAgent (cfg: AgentConfig, root: Logger, onLeft: () => void): Promise<Agent> {
  const underlay = detectUnderlay(cfg)
  const mtu = await resolveOverlayMtu(cfg, underlay, componentLogger(root, 'main'))
  const clock = createSystemClock()
  return await createAgent({
    config: { ...cfg, underlayIp: underlay === '' ? undefined : underlay },
    mtu,
    logger: root,
    clock,
    dataPlane: createDataPlane({ cfg, logger: root }),
    transport: (id, keys) => createLibp2pTransport({
      privateKey: id.privateKey,
      listen: [cfg.listen],
      clusterKey: keys.psk,
      insecure: cfg.insecure,
      logger: componentLogger(root, 'transport')
    }),
    onLeft,
    memory: processMemory(componentLogger(root, 'memory'))
  })
}

/**
 * `scalelb agent`: resolve settings (exit 2 on a bad one), run until
 * SIGTERM/SIGINT (restart: kernel state stays, exit 0) or `scalelb leave`.
 */
export async function runAgentCommand (argv: string[], ctx: CliContext): Promise<number> {
  let flags
  try {
    flags = parseArgs({ args: argv, options: AGENT_PARSE_OPTIONS, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${agentHelp()}`)
  }
  if (flags.help === true) {
    ctx.io.out(agentHelp())
    return 0
  }
  const cfg = resolveAgentConfig({ flags: flags as Record<string, string | boolean | string[] | undefined>, env: ctx.env })
  const root = createRootLogger({ level: cfg.logLevel })
  const log = componentLogger(root, 'main')
  let resolveDone!: (code: number) => void
  const done = new Promise<number>((resolve) => { resolveDone = resolve })
  let agent: Agent
  try {
    agent = await buildAgent(cfg, root, () => resolveDone(0))
    await agent.start()
  } catch (err) {
    const e = err as Error
    if (isUsageError(e)) throw e
    log.error('agent failed to start', { error: e.message, name: e.name })
    ctx.io.err(`scalelb agent: ${e.message}`)
    return 1
  }
  let stopping = false
  const onSignal = (sig: string): void => {
    if (stopping) {
      log.warn('second signal: exiting now', { signal: sig })
      resolveDone(1)
      return
    }
    stopping = true
    log.info('signal received', { signal: sig, leaveOnStop: cfg.leaveOnStop })
    const op = cfg.leaveOnStop ? agent.leave() : agent.stop()
    op.then(() => resolveDone(0), (err: unknown) => {
      log.error('stop failed', { error: (err as Error).message })
      resolveDone(1)
    })
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  const code = await done
  process.off('SIGTERM', onSignal)
  process.off('SIGINT', onSignal)
  log.info('agent exiting', { code })
  return code
}
