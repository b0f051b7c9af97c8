import { IFNAME_RE } from '@scalelb/agent/client'
import { CNI_COMMANDS, CNI_ERR, CONTAINER_ID_RE, SERVICE_ARG, SOCKET_ENV, SUPPORTED_VERSIONS } from './constants.js'
import { CniError } from './errors.js'
import type { CniCommand, CniDns, CniEnv, CniResult, NetConf } from './types.js'
import { parseBandwidth } from './bandwidth.js'

/** Parse CNI_ARGS (`K=V;K=V`): every pair must have a key and `=`; unknown keys are kept (and ignored by the plugin). */
export function parseCniArgs (text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (text === undefined || text === '') return out
  for (const pair of text.split(';')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_ARGS: ${JSON.stringify(pair)} is not KEY=VALUE`)
    out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}

/** Validate the CNI_* environment for its command; errors name the variable (code 4). */
export function parseEnv (env: Readonly<Record<string, string | undefined>>): CniEnv {
  const command = env.CNI_COMMAND
  if (command === 'GC') throw new CniError(CNI_ERR.INVALID_ENV, `CNI_COMMAND: GC (spec 1.1) is not supported; supported: ${CNI_COMMANDS.join(', ')}`)
  if (!(CNI_COMMANDS as readonly string[]).includes(command ?? '')) {
    throw new CniError(CNI_ERR.INVALID_ENV, `CNI_COMMAND: ${command === undefined ? 'not set' : JSON.stringify(command)}; expected one of ${CNI_COMMANDS.join(', ')}`)
  }
  const out: CniEnv = { command: command as CniCommand, args: parseCniArgs(env.CNI_ARGS) }
  if (out.command === 'VERSION' || out.command === 'STATUS') return out
  const id = env.CNI_CONTAINERID
  if (id === undefined || id === '') throw new CniError(CNI_ERR.INVALID_ENV, 'CNI_CONTAINERID: not set')
  if (!CONTAINER_ID_RE.test(id)) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_CONTAINERID: ${JSON.stringify(id)} is not a container ID (a letter or digit, then letters, digits, '_', '.', '-')`)
  out.containerId = id
  if (env.CNI_PATH !== undefined && env.CNI_PATH !== '') out.cniPath = env.CNI_PATH
  const ifname = env.CNI_IFNAME
  if (ifname === undefined || ifname === '') throw new CniError(CNI_ERR.INVALID_ENV, 'CNI_IFNAME: not set')
  if (!IFNAME_RE.test(ifname)) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_IFNAME: ${JSON.stringify(ifname)} is not an interface name (1-15 of letters, digits, '_', '.', '-')`)
  out.ifname = ifname
  const netns = env.CNI_NETNS
  if (netns !== undefined && netns !== '') {
    if (!netns.startsWith('/')) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_NETNS: ${JSON.stringify(netns)} is not an absolute path`)
    out.netns = netns
  } else if (out.command !== 'DEL') {
    // DEL may come after the namespace is gone
    throw new CniError(CNI_ERR.INVALID_ENV, `CNI_NETNS: not set (${out.command} needs the container's network namespace)`)
  }
  return out
}

function isObj (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function optString (o: Record<string, unknown>, key: string, where = key): string | undefined {
  const v = o[key]
  if (v === undefined) return undefined
  if (typeof v !== 'string' || v === '') throw new CniError(CNI_ERR.INVALID_CONFIG, `${where}: must be a non-empty string, got ${JSON.stringify(v)}`)
  return v
}

function optStrings (o: Record<string, unknown>, key: string, where: string): string[] | undefined {
  const v = o[key]
  if (v === undefined) return undefined
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new CniError(CNI_ERR.INVALID_CONFIG, `${where}: must be an array of strings`)
  return v as string[]
}

/** Validate a DNS object (`where` names it in errors: `dns`, `prevResult.dns`). */
export function parseDns (v: unknown, where: string): CniDns {
  if (!isObj(v)) throw new CniError(CNI_ERR.INVALID_CONFIG, `${where}: must be an object`)
  const dns: CniDns = {}
  const nameservers = optStrings(v, 'nameservers', `${where}.nameservers`)
  if (nameservers !== undefined) dns.nameservers = nameservers
  const domain = optString(v, 'domain', `${where}.domain`)
  if (domain !== undefined) dns.domain = domain
  const search = optStrings(v, 'search', `${where}.search`)
  if (search !== undefined) dns.search = search
  const options = optStrings(v, 'options', `${where}.options`)
  if (options !== undefined) dns.options = options
  return dns
}

/** Check the shape of a prevResult (the entries the plugin keeps and CHECK compares). */
function parsePrevResult (v: unknown): CniResult {
  if (!isObj(v)) throw new CniError(CNI_ERR.INVALID_CONFIG, 'prevResult: must be an object')
  for (const key of ['interfaces', 'ips', 'routes'] as const) {
    const list = v[key]
    if (list !== undefined && (!Array.isArray(list) || !list.every(isObj))) throw new CniError(CNI_ERR.INVALID_CONFIG, `prevResult.${key}: must be an array of objects`)
  }
  const ips = (v.ips ?? []) as Array<Record<string, unknown>>
  ips.forEach((ip, i) => {
    if (typeof ip.address !== 'string') throw new CniError(CNI_ERR.INVALID_CONFIG, `prevResult.ips[${i}].address: must be a string`)
  })
  const interfaces = (v.interfaces ?? []) as Array<Record<string, unknown>>
  interfaces.forEach((x, i) => {
    if (typeof x.name !== 'string') throw new CniError(CNI_ERR.INVALID_CONFIG, `prevResult.interfaces[${i}].name: must be a string`)
  })
  const out = { ...v } as unknown as CniResult
  if (v.dns !== undefined) out.dns = parseDns(v.dns, 'prevResult.dns')
  return out
}

/** Where the plugin finds the agent when neither the `socket` key nor SCALELB_API_SOCKET says. */
export interface SocketDefaults {
  /** The agent's default control socket. */
  defaultSocket: string
}

/**
 * Parse the network configuration (stdin) for `env`'s command: bad JSON is
 * code 6, an unsupported cniVersion code 1, a bad key code 7 naming it.
 * CNI_ARGS SCALELB_SERVICE overrides `service` (empty: no service).
 */
export function parseNetConf (text: string, env: CniEnv, envVars: Readonly<Record<string, string | undefined>>, defaults: SocketDefaults): NetConf {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new CniError(CNI_ERR.DECODE, `network configuration (stdin): not JSON: ${(err as Error).message}`)
  }
  if (!isObj(raw)) throw new CniError(CNI_ERR.DECODE, 'network configuration (stdin): must be a JSON object')
  const cniVersion = raw.cniVersion
  if (typeof cniVersion !== 'string' || cniVersion === '') throw new CniError(CNI_ERR.INVALID_CONFIG, 'cniVersion: required (a string such as "1.0.0")')
  if (!SUPPORTED_VERSIONS.includes(cniVersion)) throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `cniVersion: ${JSON.stringify(cniVersion)} is not supported; supported: ${SUPPORTED_VERSIONS.join(', ')}`)
  const name = optString(raw, 'name')
  if (name === undefined) throw new CniError(CNI_ERR.INVALID_CONFIG, 'name: required (the CNI network\'s name)')
  const conf: NetConf = { cniVersion, name, serviceFrom: 'service', socket: '' }
  const network = optString(raw, 'network')
  if (network !== undefined) conf.network = network
  else if (env.command === 'ADD' || env.command === 'CHECK') throw new CniError(CNI_ERR.INVALID_CONFIG, 'network: required (the scalelb network to attach the container to)')
  const service = optString(raw, 'service')
  if (service !== undefined) conf.service = service
  if (Object.hasOwn(env.args, SERVICE_ARG)) {
    conf.serviceFrom = `CNI_ARGS ${SERVICE_ARG}`
    const arg = env.args[SERVICE_ARG] as string
    if (arg === '') delete conf.service
    else conf.service = arg
  }
  const socket = optString(raw, 'socket')
  if (socket !== undefined && !socket.startsWith('/')) throw new CniError(CNI_ERR.INVALID_CONFIG, `socket: must be an absolute path, got ${JSON.stringify(socket)}`)
  const fromEnv = envVars[SOCKET_ENV]
  conf.socket = socket ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : defaults.defaultSocket)
  if (raw.dns !== undefined) conf.dns = parseDns(raw.dns, 'dns')
  if (raw.prevResult !== undefined) conf.prevResult = parsePrevResult(raw.prevResult)
  if (raw.runtimeConfig !== undefined) {
    if (!isObj(raw.runtimeConfig)) throw new CniError(CNI_ERR.INVALID_CONFIG, 'runtimeConfig: must be an object')
    const bw = parseBandwidth(raw.runtimeConfig.bandwidth)
    if (bw !== undefined) conf.bandwidth = bw
  }
  return conf
}
