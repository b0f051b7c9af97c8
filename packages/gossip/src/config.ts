import * as C from './constants.js'
import { InvalidGossipConfigError } from './errors.js'
import type { ProfileName } from './types.js'

/** Timing and sizing options of the protocol; every one is overridable. */
export interface GossipConfig {
  /** Probe one member per interval (ms). @default 500 (lan) */
  probeIntervalMs: number
  /** Direct ack deadline (ms). @default 250 (lan) */
  probeTimeoutMs: number
  /** Gossip period (ms). @default 200 (lan) */
  gossipIntervalMs: number
  /** Members gossiped to per period. @default 3 */
  gossipNodes: number
  /** Retransmit multiplier. @default 4 */
  retransmitMult: number
  /** Suspicion multiplier. @default 6 (lan) */
  suspicionMult: number
  /** The suspicion timeout is never shorter than this (ms): the longest pause a member survives. @default 6000 (lan) */
  suspicionFloorMs: number
  /** Suspicion max = this * min. @default 6 */
  suspicionMaxTimeoutMult: number
  /** Members asked for indirect probes. @default 3 */
  indirectChecks: number
  /** Lifeguard health ceiling. @default 8 */
  awarenessMax: number
  /** Full state exchange period (ms); 0 disables. @default 30000 */
  pushPullIntervalMs: number
  /** How long dead/left members are remembered (ms). @default 24 h */
  reconnectTimeoutMs: number
  /** Reconnect attempt period (ms). @default 10000 */
  reconnectIntervalMs: number
  /** Restart grace (ms). @default 30000 */
  restartGraceMs: number
  /** Gossip to recently dead members for this long (ms). @default 30000 */
  gossipToTheDeadMs: number
  /** Piggyback budget per packet (bytes); at most maxMessageBytes - 1024 (headers, probes, sync hashes). @default 16384 */
  packetBytes: number
  /** Largest datagram accepted (bytes). @default 65536 */
  maxMessageBytes: number
  /** Largest request/response accepted (bytes). @default 8 MiB */
  maxRequestBytes: number
}

const LAN: GossipConfig = {
  probeIntervalMs: C.PROBE_INTERVAL_MS,
  probeTimeoutMs: C.PROBE_TIMEOUT_MS,
  gossipIntervalMs: C.GOSSIP_INTERVAL_MS,
  gossipNodes: C.GOSSIP_NODES,
  retransmitMult: C.RETRANSMIT_MULT,
  suspicionMult: C.SUSPICION_MULT,
  suspicionFloorMs: C.SUSPICION_FLOOR_MS,
  suspicionMaxTimeoutMult: C.SUSPICION_MAX_TIMEOUT_MULT,
  indirectChecks: C.INDIRECT_CHECKS,
  awarenessMax: C.AWARENESS_MAX,
  pushPullIntervalMs: C.PUSH_PULL_INTERVAL_MS,
  reconnectTimeoutMs: C.RECONNECT_TIMEOUT_MS,
  reconnectIntervalMs: C.RECONNECT_INTERVAL_MS,
  restartGraceMs: C.RESTART_GRACE_MS,
  gossipToTheDeadMs: C.GOSSIP_TO_THE_DEAD_MS,
  packetBytes: C.GOSSIP_PACKET_BYTES,
  maxMessageBytes: C.MAX_MESSAGE_BYTES,
  maxRequestBytes: C.MAX_REQUEST_BYTES
}

/**
 * The option names of GossipConfig, read off the lan defaults (the compiler
 * checks that object has every field and no other), so a new option needs no
 * second list.
 */
export const CONFIG_KEYS: ReadonlySet<string> = new Set(Object.keys(LAN))

/** Timing profiles: `lan` (memberlist DefaultLANConfig), `wan` (DefaultWANConfig), `local` (DefaultLocalConfig, tests). */
export const PROFILES: Readonly<Record<ProfileName, Readonly<GossipConfig>>> = {
  lan: LAN,
  wan: {
    ...LAN,
    probeIntervalMs: 5000,
    probeTimeoutMs: 3000,
    gossipIntervalMs: 500,
    gossipNodes: 4,
    suspicionMult: 6,
    suspicionFloorMs: 0,
    pushPullIntervalMs: 60_000,
    gossipToTheDeadMs: 60_000
  },
  local: {
    ...LAN,
    probeIntervalMs: 1000,
    probeTimeoutMs: 200,
    gossipIntervalMs: 100,
    suspicionMult: 3,
    suspicionFloorMs: 0,
    pushPullIntervalMs: 15_000,
    gossipToTheDeadMs: 15_000,
    reconnectIntervalMs: 2000,
    restartGraceMs: 10_000
  }
}

/** Resolve a profile plus overrides; throws InvalidGossipConfigError naming the field. */
export function resolveConfig (profile: ProfileName = 'lan', overrides: Partial<GossipConfig> = {}): GossipConfig {
  const base = PROFILES[profile]
  if (base === undefined) throw new InvalidGossipConfigError('profile', `unknown profile ${JSON.stringify(profile)} (lan, wan, local)`)
  const cfg: GossipConfig = { ...base }
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue
    if (!CONFIG_KEYS.has(k)) throw new InvalidGossipConfigError(k, 'unknown option')
    ;(cfg as unknown as Record<string, unknown>)[k] = v
  }
  validateConfig(cfg)
  return cfg
}

/** Check every field; throws InvalidGossipConfigError naming the first bad one. */
export function validateConfig (cfg: GossipConfig): void {
  for (const [k, v] of Object.entries(cfg)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidGossipConfigError(k, `must be a finite number >= 0, got ${String(v)}`)
  }
  const positive: Array<keyof GossipConfig> = ['probeIntervalMs', 'probeTimeoutMs', 'gossipIntervalMs', 'gossipNodes', 'retransmitMult', 'suspicionMult', 'suspicionMaxTimeoutMult', 'awarenessMax', 'packetBytes', 'maxMessageBytes', 'maxRequestBytes', 'reconnectIntervalMs']
  for (const k of positive) if (cfg[k] <= 0) throw new InvalidGossipConfigError(k, 'must be > 0')
  if (cfg.probeTimeoutMs > cfg.probeIntervalMs) throw new InvalidGossipConfigError('probeTimeoutMs', 'must not exceed probeIntervalMs')
  // a full packet must still be a frame every peer accepts (also peers that keep the default maxMessageBytes)
  if (cfg.packetBytes > cfg.maxMessageBytes - 1024) throw new InvalidGossipConfigError('packetBytes', `must not exceed maxMessageBytes - 1024 (${cfg.maxMessageBytes - 1024})`)
}

/** memberlist retransmitLimit: mult * ceil(log10(n + 1)). */
export function retransmitLimit (mult: number, n: number): number {
  return mult * Math.ceil(Math.log10(n + 1))
}

/** memberlist suspicionTimeout: mult * max(1, log10(max(1, n))) * interval (ms), and at least `floorMs`. */
export function suspicionTimeoutMin (mult: number, n: number, intervalMs: number, floorMs = 0): number {
  const scale = Math.max(1, Math.log10(Math.max(1, n)))
  return Math.max(floorMs, Math.floor(mult * scale * intervalMs))
}

/**
 * Lifeguard: the suspicion timeout after `c` independent confirmations out of
 * `k` expected, shrinking from max to min on a log scale (memberlist suspicion.go).
 */
export function suspicionRemaining (minMs: number, maxMs: number, k: number, c: number): number {
  if (k < 1) return minMs
  const frac = Math.log(c + 1) / Math.log(k + 1)
  const raw = maxMs - frac * (maxMs - minMs)
  return Math.max(minMs, Math.floor(raw))
}
