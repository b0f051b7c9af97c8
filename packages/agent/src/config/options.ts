import { readFileSync, statSync } from 'node:fs'
import { join as pathJoin } from 'node:path'
import { isIP } from 'node:net'
import { ConfigError } from '../errors.js'
import {
  API_SOCKET_NAME, DEFAULT_API_SOCKET, DEFAULT_DATA_DIR, DEFAULT_LISTEN, DEFAULT_METRICS_ADDR,
  DEFAULT_NETNS_PREFIX, DEFAULT_RESTART_GRACE_MS, MAX_CONFIG_FILE_BYTES, MAX_LB_RELEASE_GRACE_MS, MAX_RESTART_GRACE_MS
} from '../constants.js'
import { LB_RELEASE_GRACE_MS } from '@scalelb/allocator'
import { LOG_LEVELS, type LogLevel } from '../logging/logger.js'
import { isLoopbackHost, parseBool, parseDurationMs, parseHostPort, parseTcpMultiaddr, type HostPort } from './values.js'
import { mtuProblem, parseMtuText } from '../dataplane/overlay/mtu.js'
import { DEFAULT_DOCKER_PLUGIN_SOCKET, DEFAULT_DOCKER_SOCKET } from '../docker/constants.js'
import { checkDnsTimeout, checkDnsTtl, parseUpstream } from '../dns/config.js'
import { DNS_TTL_S, DNS_UPSTREAM_TIMEOUT_MS } from '../dns/constants.js'
import type { Upstream } from '../dns/forward.js'

/** Kernel programmer implementations. */
export type ProgrammerName = 'nft' | 'ipvs' | 'memory'
/** Load-balancer placement. */
export type LbModeName = 'per-network' | 'per-container'
/** Gossip timing profiles. */
export type ProfileOption = 'lan' | 'wan' | 'local'

/** Fully resolved, validated agent settings. */
export interface AgentConfig {
  /** libp2p listen multiaddr. @default '/ip4/0.0.0.0/tcp/7946' */
  listen: string
  /** Multiaddrs of peers to join at start. @default [] */
  join: string[]
  /** Where the node key and state live. @default '/var/lib/scalelb' */
  dataDir: string
  /** Cluster pre-shared key file (pnet format); required unless `insecure`. */
  clusterKeyFile: string | undefined
  /**
   * The cluster manager's private key file (from `scalelb keygen
   * --manager-out`): makes this node a manager, which may create and remove
   * networks and services. Must match the manager public key in the cluster
   * key file. @default undefined (a worker)
   */
  managerKeyFile: string | undefined
  /**
   * This node's admission (from `scalelb keygen --admit`), needed where the
   * cluster key file requires admission. @default <dataDir>/admission, if it exists
   */
  admissionFile: string | undefined
  /** Run without a cluster key (explicit opt-out). @default false */
  insecure: boolean
  /**
   * Neither sign nor check gossip entries and membership facts: for
   * `bench:trust`'s comparison only (any member can then forge anything);
   * every node of a cluster must agree. @default false
   */
  insecureUnsignedGossip: boolean
  /** Status server (metrics, health, read-only status). @default 0.0.0.0:9470 */
  metricsAddr: HostPort
  /** Control API unix socket. @default <dataDir>/api.sock, or /run/scalelb/api.sock with the default data dir */
  apiSocket: string
  /** Optional loopback TCP address for the control API. */
  apiAddr: HostPort | undefined
  /** Kernel programmer. @default 'nft' */
  programmer: ProgrammerName
  /** LB placement. @default 'per-network' */
  lbMode: LbModeName
  /** Prefix of netns / nft tables / interfaces the agent creates. @default 'slb-' */
  netnsPrefix: string
  /** This host's underlay IP (VXLAN source); detected when unset. */
  underlayIp: string | undefined
  /**
   * Overlay MTU of networks without their own `mtu` (bytes, 1280..65535);
   * must fit the underlay (its MTU - 50), checked at start.
   * @default undefined (the underlay interface's MTU - 50)
   */
  mtu: number | undefined
  /** Gossip timing profile. @default 'lan' */
  profile: ProfileOption
  /** Log level. @default 'info' */
  logLevel: LogLevel
  /** How long peers keep our entries live after a restart announcement. @default 30000 */
  restartGraceMs: number
  /** Leave the cluster and remove kernel state on SIGTERM/SIGINT instead of announcing a restart. @default false */
  leaveOnStop: boolean
  /** How long a network's LB IP stays after its last local task leaves, so a quick redeploy keeps it. @default 30000 */
  lbReleaseGraceMs: number
  /** `/v1/status` on a non-loopback address of the status server: `summary` (node, version, ready, member counts) or `full`. @default 'summary' */
  statusDetail: 'summary' | 'full'
  /**
   * Serve Docker's network + IPAM plugin protocol (`docker network create -d
   * scalelb --ipam-driver scalelb`) and follow dockerd's events for
   * `scalelb.service` container labels. @default false
   */
  dockerPlugin: boolean
  /** The plugin's socket, where dockerd discovers plugins. @default '/run/docker/plugins/scalelb.sock' */
  dockerPluginSocket: string
  /** dockerd's Engine API socket (container labels and events). @default '/var/run/docker.sock' */
  dockerSocket: string
  /**
   * Each network's bridge and VXLAN device in a netns of its own
   * (`<prefix>ov-<network id>`, bridge netfilter off there: bridged overlay
   * frames skip the host's netfilter hooks); overlays made by a run without it
   * are moved over at start. Chained CNI plugins that look for the host end of
   * a task's veth in the host netns (bandwidth) do not find it. @default false
   */
  overlayNetns: boolean
  /** Run no resolver (tasks get no `dns` and keep their resolv.conf). The memory programmer and `--lb-mode per-container` run none either: no sandbox to serve in. @default false */
  noDns: boolean
  /** Where names outside the cluster go. @default the nameservers of the host's /etc/resolv.conf, read at start */
  dnsUpstreams: Upstream[] | undefined
  /** TTL of the resolver's own answers (s). @default DNS_TTL_S (5) */
  dnsTtlS: number
  /** Total time a forwarded query may take before SERVFAIL (ms). @default DNS_UPSTREAM_TIMEOUT_MS (2000) */
  dnsUpstreamTimeoutMs: number
}

type Kind = 'string' | 'bool' | 'list' | 'duration' | 'int'

/** The flag turning `overlayNetns` (on by default) off. */
export const NO_OVERLAY_NETNS_FLAG = 'no-overlay-netns'
/** One setting. `fileKey` is its config-file key when that differs from `key` (durations drop the `Ms`). */
interface SettingDef { key: keyof AgentConfig, flag: string, env: string, kind: Kind, help: string, fileKey?: string }

function fileKeyOf (def: SettingDef): string {
  return def.fileKey ?? def.key
}

/** Every agent setting: its flag, env var and config-file key. */
export const AGENT_SETTINGS: readonly SettingDef[] = [
  { key: 'listen', flag: 'listen', env: 'SCALELB_LISTEN', kind: 'string', help: `libp2p listen multiaddr (default ${DEFAULT_LISTEN})` },
  { key: 'join', flag: 'join', env: 'SCALELB_JOIN', kind: 'list', help: 'peer multiaddr to join; repeatable (env: comma-separated)' },
  { key: 'dataDir', flag: 'data-dir', env: 'SCALELB_DATA_DIR', kind: 'string', help: `node key + state directory (default ${DEFAULT_DATA_DIR})` },
  { key: 'clusterKeyFile', flag: 'cluster-key-file', env: 'SCALELB_CLUSTER_KEY_FILE', kind: 'string', help: 'cluster pre-shared key (from `scalelb keygen`); required unless --insecure' },
  { key: 'managerKeyFile', flag: 'manager-key-file', env: 'SCALELB_MANAGER_KEY_FILE', kind: 'string', help: 'cluster manager key (from `scalelb keygen --manager-out`): this node may change networks and services' },
  { key: 'admissionFile', flag: 'admission-file', env: 'SCALELB_ADMISSION_FILE', kind: 'string', help: 'this node\'s admission (from `scalelb keygen --admit NODE-ID` on a manager host), needed where the cluster key file requires admission (default <data-dir>/admission)' },
  { key: 'insecure', flag: 'insecure', env: 'SCALELB_INSECURE', kind: 'bool', help: 'run without a cluster key (anyone who can reach --listen can join)' },
  { key: 'insecureUnsignedGossip', flag: 'insecure-unsigned-gossip', env: 'SCALELB_INSECURE_UNSIGNED_GOSSIP', kind: 'bool', help: 'benchmarks only: neither sign nor check gossip (any member can forge anything); all nodes must agree' },
  { key: 'metricsAddr', flag: 'metrics-addr', env: 'SCALELB_METRICS_ADDR', kind: 'string', help: `status server host:port: /metrics /healthz /readyz /v1/status (default ${DEFAULT_METRICS_ADDR})` },
  { key: 'apiSocket', flag: 'api-socket', env: 'SCALELB_API_SOCKET', kind: 'string', help: `control API unix socket (default <data-dir>/${API_SOCKET_NAME}, or ${DEFAULT_API_SOCKET})` },
  { key: 'statusDetail', flag: 'status-detail', env: 'SCALELB_STATUS_DETAIL', kind: 'string', help: '/v1/status off loopback: summary (node, version, ready, members) | full (default summary)' },
  { key: 'apiAddr', flag: 'api-addr', env: 'SCALELB_API_ADDR', kind: 'string', help: 'also serve the control API on this loopback host:port' },
  { key: 'programmer', flag: 'programmer', env: 'SCALELB_PROGRAMMER', kind: 'string', help: 'kernel programmer: nft | ipvs | memory (default nft)' },
  { key: 'lbMode', flag: 'lb-mode', env: 'SCALELB_LB_MODE', kind: 'string', help: 'per-network | per-container (measurement only) (default per-network)' },
  { key: 'netnsPrefix', flag: 'netns-prefix', env: 'SCALELB_NETNS_PREFIX', kind: 'string', help: `prefix of everything created in the kernel (default ${DEFAULT_NETNS_PREFIX})` },
  { key: 'underlayIp', flag: 'underlay-ip', env: 'SCALELB_UNDERLAY_IP', kind: 'string', help: 'this host\'s underlay IP for VXLAN, IPv4 or IPv6 (default: the listen IP, else the first non-loopback IPv4)' },
  { key: 'mtu', flag: 'mtu', env: 'SCALELB_MTU', kind: 'int', help: 'overlay MTU of networks without their own (default: the underlay interface\'s MTU - 50, - 70 over an IPv6 underlay)' },
  { key: 'profile', flag: 'profile', env: 'SCALELB_PROFILE', kind: 'string', help: 'gossip timing: lan | wan | local (default lan)' },
  { key: 'logLevel', flag: 'log-level', env: 'SCALELB_LOG_LEVEL', kind: 'string', help: 'error | warn | info | debug (default info)' },
  { key: 'restartGraceMs', flag: 'restart-grace', env: 'SCALELB_RESTART_GRACE', kind: 'duration', fileKey: 'restartGrace', help: 'peers keep our endpoints live this long after a restart (default 30s)' },
  { key: 'lbReleaseGraceMs', flag: 'lb-release-grace', env: 'SCALELB_LB_RELEASE_GRACE', kind: 'duration', fileKey: 'lbReleaseGrace', help: 'keep a network\'s LB IP this long after its last local task leaves (default 30s)' },
  { key: 'dockerPlugin', flag: 'docker-plugin', env: 'SCALELB_DOCKER_PLUGIN', kind: 'bool', help: 'serve the Docker network + IPAM plugin (driver scalelb) and follow container labels scalelb.service' },
  { key: 'dockerPluginSocket', flag: 'docker-plugin-socket', env: 'SCALELB_DOCKER_PLUGIN_SOCKET', kind: 'string', help: `socket of the Docker plugin, where dockerd looks for plugins (default ${DEFAULT_DOCKER_PLUGIN_SOCKET})` },
  { key: 'dockerSocket', flag: 'docker-socket', env: 'SCALELB_DOCKER_SOCKET', kind: 'string', help: `dockerd's Engine API socket for container labels and events (default ${DEFAULT_DOCKER_SOCKET})` },
  { key: 'leaveOnStop', flag: 'leave-on-stop', env: 'SCALELB_LEAVE_ON_STOP', kind: 'bool', help: 'on SIGTERM/SIGINT leave the cluster and remove kernel state' },
  { key: 'overlayNetns', flag: 'overlay-netns', env: 'SCALELB_OVERLAY_NETNS', kind: 'bool', help: `each network's bridge and VXLAN device in a netns of its own that is also its LB sandbox (bridge netfilter off there); on by default, off with --${NO_OVERLAY_NETNS_FLAG}, SCALELB_OVERLAY_NETNS=0 or overlayNetns: false (a chained CNI bandwidth plugin needs it off; scalelb-cni's bandwidth capability works either way)` },
  { key: 'noDns', flag: 'no-dns', env: 'SCALELB_NO_DNS', kind: 'bool', help: 'run no resolver (tasks keep the host\'s resolv.conf; names of services do not resolve)' },
  { key: 'dnsUpstreams', flag: 'dns-upstream', env: 'SCALELB_DNS_UPSTREAM', kind: 'list', help: 'resolver for names outside the cluster, IP or IP:PORT; repeatable (default: the host\'s /etc/resolv.conf nameservers, loopback ones too: the agent forwards from the host)' },
  { key: 'dnsTtlS', flag: 'dns-ttl', env: 'SCALELB_DNS_TTL', kind: 'int', fileKey: 'dnsTtl', help: `TTL of the resolver's own answers in seconds (default ${DNS_TTL_S})` },
  { key: 'dnsUpstreamTimeoutMs', flag: 'dns-upstream-timeout', env: 'SCALELB_DNS_UPSTREAM_TIMEOUT', kind: 'duration', fileKey: 'dnsUpstreamTimeout', help: `a forwarded query gets SERVFAIL after this (default ${DNS_UPSTREAM_TIMEOUT_MS}ms)` }
]

/** parseArgs option table for `scalelb agent`. */
export const AGENT_PARSE_OPTIONS = Object.fromEntries([
  ...AGENT_SETTINGS.map((s) => [s.flag, s.kind === 'bool' ? { type: 'boolean' } : s.kind === 'list' ? { type: 'string', multiple: true } : { type: 'string' }]),
  [NO_OVERLAY_NETNS_FLAG, { type: 'boolean' }],
  ['config', { type: 'string' }],
  ['help', { type: 'boolean', short: 'h' }]
]) as Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string }>

/** Raw inputs to {@link resolveAgentConfig}: parsed flags, the environment and a config-file reader. */
export interface ResolveInput {
  /** Values from node:util parseArgs (keys = flag names). */
  flags: Record<string, string | boolean | string[] | undefined>
  /** Environment (`process.env`). */
  env: Record<string, string | undefined>
  /** Reads the config file (injected for tests). @default fs.readFileSync */
  readFile?: (path: string) => string
}

function readConfigFile (path: string, field: string, readFile: (p: string) => string): Record<string, unknown> {
  let text: string
  try {
    if (readFile === defaultReadFile) {
      const st = statSync(path)
      if (st.size > MAX_CONFIG_FILE_BYTES) throw new ConfigError(field, `${path} is larger than ${MAX_CONFIG_FILE_BYTES} bytes`)
    }
    text = readFile(path)
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(field, `cannot read ${path}: ${(err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(field, `${path} is not valid JSON: ${(err as Error).message}`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(field, `${path} must hold a JSON object`)
  const obj = parsed as Record<string, unknown>
  for (const k of Object.keys(obj)) {
    if (!AGENT_SETTINGS.some((s) => s.key === k || fileKeyOf(s) === k)) {
      throw new ConfigError(`config.${k}`, `unknown setting in ${path} (known: ${AGENT_SETTINGS.map(fileKeyOf).join(', ')})`)
    }
  }
  return obj
}

function defaultReadFile (path: string): string {
  return readFileSync(path, 'utf8')
}

type RawValue = { field: string, value: string | boolean | string[] | number }

/** Pick one raw value per setting: flags > env > config file. */
function pickRaw (def: SettingDef, input: ResolveInput, file: Record<string, unknown>): RawValue | undefined {
  const fv = input.flags[def.flag]
  if (fv !== undefined && !(Array.isArray(fv) && fv.length === 0)) return { field: `--${def.flag}`, value: fv }
  const ev = input.env[def.env]
  if (ev !== undefined && ev !== '') {
    if (def.kind === 'list') return { field: def.env, value: ev.split(',').map((s) => s.trim()).filter((s) => s !== '') }
    return { field: def.env, value: ev }
  }
  const fileKey = fileKeyOf(def)
  const cv = file[fileKey] ?? file[def.key]
  if (cv === undefined) return undefined
  const field = `config.${fileKey}`
  if (def.kind === 'list') {
    if (!Array.isArray(cv) || cv.some((x) => typeof x !== 'string')) throw new ConfigError(field, 'must be an array of strings')
    return { field, value: cv as string[] }
  }
  if (def.kind === 'bool') {
    if (typeof cv !== 'boolean') throw new ConfigError(field, 'must be true or false')
    return { field, value: cv }
  }
  if (typeof cv === 'number' && (def.kind === 'duration' || def.kind === 'int')) return { field, value: cv }
  if (def.kind === 'duration' && typeof cv !== 'string') throw new ConfigError(field, 'must be a duration like "30s" or a number of ms')
  if (typeof cv !== 'string') throw new ConfigError(field, 'must be a string')
  return { field, value: cv }
}

function str (r: RawValue): string {
  if (typeof r.value !== 'string') throw new ConfigError(r.field, 'must be a string')
  return r.value
}

function oneOf<T extends string> (r: RawValue, allowed: readonly T[]): T {
  const v = str(r)
  if (!(allowed as readonly string[]).includes(v)) throw new ConfigError(r.field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`)
  return v as T
}

/**
 * Resolve the agent's settings with precedence flags > env (SCALELB_*) >
 * config file (--config / SCALELB_CONFIG) > defaults, validating every value.
 * Throws {@link ConfigError} naming the flag, env var or config key at fault.
 */
export function resolveAgentConfig (input: ResolveInput): AgentConfig {
  const readFile = input.readFile ?? defaultReadFile
  const cfgFlag = input.flags.config
  let file: Record<string, unknown> = {}
  if (typeof cfgFlag === 'string') file = readConfigFile(cfgFlag, '--config', readFile)
  else if (input.env.SCALELB_CONFIG !== undefined && input.env.SCALELB_CONFIG !== '') file = readConfigFile(input.env.SCALELB_CONFIG, 'SCALELB_CONFIG', readFile)

  const raw = new Map<keyof AgentConfig, RawValue>()
  for (const def of AGENT_SETTINGS) {
    const r = pickRaw(def, input, file)
    if (r !== undefined) raw.set(def.key, r)
  }
  const get = (k: keyof AgentConfig): RawValue | undefined => raw.get(k)

  const listenR = get('listen')
  const listen = listenR === undefined ? DEFAULT_LISTEN : parseTcpMultiaddr(listenR.field, str(listenR), { allowPeerId: false })
  const joinR = get('join')
  const join: string[] = []
  if (joinR !== undefined) {
    const list = Array.isArray(joinR.value) ? joinR.value : [str(joinR)]
    for (const a of list) join.push(parseTcpMultiaddr(joinR.field, a, { allowPeerId: true }))
  }
  const dataDirR = get('dataDir')
  const dataDir = dataDirR === undefined ? DEFAULT_DATA_DIR : str(dataDirR)
  if (dataDir === '' || !dataDir.startsWith('/')) throw new ConfigError(dataDirR?.field ?? '--data-dir', `must be an absolute path, got ${JSON.stringify(dataDir)}`)

  const insecureR = get('insecure')
  const insecure = insecureR === undefined ? false : parseBool(insecureR.field, insecureR.value)
  const keyR = get('clusterKeyFile')
  const clusterKeyFile = keyR === undefined ? undefined : str(keyR)
  if (clusterKeyFile === undefined && !insecure) {
    throw new ConfigError('--cluster-key-file', 'a cluster key is required (create one with `scalelb keygen --out FILE`), or pass --insecure explicitly')
  }
  if (clusterKeyFile !== undefined && insecure) throw new ConfigError(insecureR?.field ?? '--insecure', 'cannot be combined with a cluster key file')
  const unsignedR = get('insecureUnsignedGossip')
  const insecureUnsignedGossip = unsignedR === undefined ? false : parseBool(unsignedR.field, unsignedR.value)
  const mgrR = get('managerKeyFile')
  const managerKeyFile = mgrR === undefined ? undefined : str(mgrR)
  if (mgrR !== undefined && clusterKeyFile === undefined) {
    throw new ConfigError(mgrR.field, 'needs a cluster key file: the other nodes check manager signatures against the manager public key in it (--insecure has none)')
  }
  const admR = get('admissionFile')
  const admissionFile = admR === undefined ? undefined : str(admR)
  if (admR !== undefined && clusterKeyFile === undefined) throw new ConfigError(admR.field, 'needs a cluster key file: an admission is checked against its manager public keys (--insecure has none)')

  const metricsR = get('metricsAddr')
  const metricsAddr = parseHostPort(metricsR?.field ?? '--metrics-addr', metricsR === undefined ? DEFAULT_METRICS_ADDR : str(metricsR))

  const sockR = get('apiSocket')
  const apiSocket = sockR !== undefined ? str(sockR) : (dataDirR === undefined ? DEFAULT_API_SOCKET : pathJoin(dataDir, API_SOCKET_NAME))
  if (!apiSocket.startsWith('/')) throw new ConfigError(sockR?.field ?? '--api-socket', `must be an absolute path, got ${JSON.stringify(apiSocket)}`)
  // sun_path is 108 bytes on Linux
  if (Buffer.byteLength(apiSocket) > 107) throw new ConfigError(sockR?.field ?? '--api-socket', `path longer than 107 bytes (unix socket limit): ${apiSocket}`)

  const apiAddrR = get('apiAddr')
  let apiAddr: HostPort | undefined
  if (apiAddrR !== undefined) {
    apiAddr = parseHostPort(apiAddrR.field, str(apiAddrR))
    if (!isLoopbackHost(apiAddr.host)) throw new ConfigError(apiAddrR.field, `the control API is served on loopback only (127.0.0.0/8, ::1), got ${apiAddr.host}`)
  }

  const progR = get('programmer')
  const programmer = progR === undefined ? 'nft' : oneOf(progR, ['nft', 'ipvs', 'memory'] as const)
  const lbR = get('lbMode')
  const lbMode = lbR === undefined ? 'per-network' : oneOf(lbR, ['per-network', 'per-container'] as const)
  const prefR = get('netnsPrefix')
  const netnsPrefix = prefR === undefined ? DEFAULT_NETNS_PREFIX : str(prefR)
  if (!/^[a-z][a-z0-9-]{0,11}$/.test(netnsPrefix)) {
    throw new ConfigError(prefR?.field ?? '--netns-prefix', `must be 1-12 chars of a-z, 0-9, '-', starting with a letter, got ${JSON.stringify(netnsPrefix)}`)
  }
  const ulR = get('underlayIp')
  let underlayIp = ulR === undefined ? undefined : str(ulR)
  if (ulR !== undefined && isIP(underlayIp ?? '') === 0) throw new ConfigError(ulR.field, `must be an IPv4 or IPv6 address, got ${JSON.stringify(underlayIp)}`)
  // an IPv6 underlay in canonical text (RFC 5952), as the kernel reads VXLAN and FDB addresses back
  if (underlayIp !== undefined && isIP(underlayIp) === 6) underlayIp = new URL(`http://[${underlayIp}]/`).hostname.slice(1, -1)
  const mtuR = get('mtu')
  let mtu: number | undefined
  if (mtuR !== undefined) {
    mtu = typeof mtuR.value === 'number' ? mtuR.value : parseMtuText(str(mtuR))
    if (mtu === undefined) throw new ConfigError(mtuR.field, `must be a number of bytes, got ${JSON.stringify(mtuR.value)}`)
    const problem = mtuProblem(mtu, undefined)
    if (problem !== undefined) throw new ConfigError(mtuR.field, problem)
  }
  const profR = get('profile')
  const profile = profR === undefined ? 'lan' : oneOf(profR, ['lan', 'wan', 'local'] as const)
  const llR = get('logLevel')
  const logLevel = llR === undefined ? 'info' : oneOf(llR, LOG_LEVELS)
  const duration = (k: 'restartGraceMs' | 'lbReleaseGraceMs', dflt: number, max: number): number => {
    const r = get(k)
    if (r === undefined) return dflt
    if (typeof r.value === 'boolean' || Array.isArray(r.value)) throw new ConfigError(r.field, 'must be a duration')
    const ms = parseDurationMs(r.field, r.value)
    if (ms > max) throw new ConfigError(r.field, `must be at most ${max / 60_000} minutes, got ${ms} ms`)
    return ms
  }
  const restartGraceMs = duration('restartGraceMs', DEFAULT_RESTART_GRACE_MS, MAX_RESTART_GRACE_MS)
  const lbReleaseGraceMs = duration('lbReleaseGraceMs', LB_RELEASE_GRACE_MS, MAX_LB_RELEASE_GRACE_MS)
  const sdR = get('statusDetail')
  const statusDetail = sdR === undefined ? 'summary' : oneOf(sdR, ['summary', 'full'] as const)
  const losR = get('leaveOnStop')
  const leaveOnStop = losR === undefined ? false : parseBool(losR.field, losR.value)
  const onR = get('overlayNetns')
  const ovOff = input.flags[NO_OVERLAY_NETNS_FLAG] === true
  if (ovOff && onR?.field === '--overlay-netns') throw new ConfigError(`--${NO_OVERLAY_NETNS_FLAG}`, 'contradicts --overlay-netns')
  const overlayNetns = ovOff ? false : onR === undefined ? true : parseBool(onR.field, onR.value)
  const noDnsR = get('noDns')
  const noDns = noDnsR === undefined ? false : parseBool(noDnsR.field, noDnsR.value)
  const upR = get('dnsUpstreams')
  const dnsUpstreams = upR === undefined ? undefined : (Array.isArray(upR.value) ? upR.value : str(upR).split(',')).map((u) => parseUpstream(upR.field, u.trim()))
  const ttlR = get('dnsTtlS')
  const dnsTtlS = ttlR === undefined ? DNS_TTL_S : checkDnsTtl(ttlR.field, typeof ttlR.value === 'number' ? ttlR.value : Number(str(ttlR)))
  const dtoR = get('dnsUpstreamTimeoutMs')
  const dnsUpstreamTimeoutMs = dtoR === undefined ? DNS_UPSTREAM_TIMEOUT_MS : checkDnsTimeout(dtoR.field, typeof dtoR.value === 'number' ? dtoR.value : parseDurationMs(dtoR.field, str(dtoR)))

  const dpR = get('dockerPlugin')
  const dockerPlugin = dpR === undefined ? false : parseBool(dpR.field, dpR.value)
  const socketSetting = (k: 'dockerPluginSocket' | 'dockerSocket', flag: string, dflt: string): string => {
    const r = get(k)
    const v = r === undefined ? dflt : str(r)
    if (!v.startsWith('/')) throw new ConfigError(r?.field ?? flag, `must be an absolute path, got ${JSON.stringify(v)}`)
    if (Buffer.byteLength(v) > 107) throw new ConfigError(r?.field ?? flag, `path longer than 107 bytes (unix socket limit): ${v}`)
    return v
  }
  const dockerPluginSocket = socketSetting('dockerPluginSocket', '--docker-plugin-socket', DEFAULT_DOCKER_PLUGIN_SOCKET)
  const dockerSocket = socketSetting('dockerSocket', '--docker-socket', DEFAULT_DOCKER_SOCKET)

  return { listen, join, dataDir, clusterKeyFile, managerKeyFile, admissionFile, insecure, insecureUnsignedGossip, metricsAddr, apiSocket, apiAddr, programmer, lbMode, netnsPrefix, underlayIp, mtu, profile, logLevel, restartGraceMs, leaveOnStop, lbReleaseGraceMs, statusDetail, dockerPlugin, dockerPluginSocket, dockerSocket, overlayNetns, noDns, dnsUpstreams, dnsTtlS, dnsUpstreamTimeoutMs }
}

/** `scalelb agent --help` text. */
export function agentHelp (): string {
  const lines = AGENT_SETTINGS.map((s) => {
    const flag = s.kind === 'bool' ? `--${s.flag}` : `--${s.flag} ${s.kind === 'list' ? 'ADDR' : s.kind === 'duration' ? 'DURATION' : s.kind === 'int' ? 'N' : 'VALUE'}`
    return `  ${flag.padEnd(30)} ${s.help}\n  ${''.padEnd(30)} env ${s.env}`
  })
  return [
    'Usage: scalelb agent [options]',
    '',
    'Run the node agent. Settings come from flags, then SCALELB_* environment',
    'variables, then a JSON config file (--config / SCALELB_CONFIG, keys in',
    'camelCase: listen, join, dataDir, ...), then defaults.',
    '',
    'Options:',
    ...lines,
    `  ${'--config FILE'.padEnd(30)} JSON config file`,
    `  ${'-h, --help'.padEnd(30)} show this help`,
    '',
    'Signals: SIGTERM/SIGINT announce a restart and keep kernel state (tasks keep',
    'running); `scalelb leave` or --leave-on-stop leave the cluster for good.'
  ].join('\n')
}
