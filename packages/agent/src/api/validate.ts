import { isIP } from 'node:net'
import { ValidationError } from '../errors.js'
import { IFNAME_RE, MAX_NAME_LENGTH, MAX_PORTS_PER_SERVICE, MAX_TASK_ID_LENGTH, MAX_SUBNETS_PER_NETWORK, VNI_MAX } from '../constants.js'
import type { PortSpec } from '../dataplane/spec/types.js'
import type { NetworkCreateRequest, ServiceCreateRequest, ServicePublishRequest, TaskAddRequest } from '../types.js'
import type { EndpointState } from '../state/tables.js'
import { MAX_REVOKE_REASON, PORT_RANGE, isCidrText, isPort, isValidName } from '../state/tables.js'
import { cidrFamily } from '../state/addr.js'
import { DSR_OPTION, INTERNAL_OPTION, MAX_PUBLISH_PER_SERVICE, parsePublishList, parsePublishRef, parseShortMapping } from '../state/publish.js'
import { NETWORK_MTU_OPTION, mtuProblem, parseMtuText } from '../dataplane/overlay/mtu.js'

/**
 * Validation of control-API bodies. Every function throws
 * {@link ValidationError} naming the field at fault.
 */

/** Shortest IPv6 subnet accepted: a /64 (the allocator's memory is independent of the space, but a wider one gains nothing). */
export const MIN_SUBNET_PREFIX_V6 = 64
/** Longest IPv6 subnet accepted: a /120 (256 addresses; the allocator hands out /122 blocks). */
export const MAX_SUBNET_PREFIX_V6 = 120

function obj (body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('body', 'must be a JSON object')
  return body as Record<string, unknown>
}

function noExtra (o: Record<string, unknown>, allowed: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new ValidationError(k, `unknown field (allowed: ${allowed.join(', ')})`)
}

function name (v: unknown, field: string): string {
  if (!isValidName(v)) throw new ValidationError(field, `must be 1-${MAX_NAME_LENGTH} chars of letters, digits, '_', '.', '-', starting with a letter or digit`)
  return v
}

function stringList (v: unknown, field: string, max: number): string[] {
  if (!Array.isArray(v) || v.length === 0) throw new ValidationError(field, 'must be a non-empty array of strings')
  if (v.length > max) throw new ValidationError(field, `at most ${max} entries`)
  return v.map((x, i) => {
    if (typeof x !== 'string' || x === '') throw new ValidationError(`${field}[${i}]`, 'must be a non-empty string')
    return x
  })
}

/**
 * Parse a port mapping `80:8080/tcp`, `53/udp` (target = published) or
 * `8080` (tcp). Also accepts the object form.
 */
export function parsePort (v: unknown, field: string): PortSpec {
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    const proto = o.proto ?? 'tcp'
    if (proto !== 'tcp' && proto !== 'udp') throw new ValidationError(`${field}.proto`, 'must be tcp or udp')
    const port = portNum(o.port, `${field}.port`)
    const targetPort = o.targetPort === undefined ? port : portNum(o.targetPort, `${field}.targetPort`)
    return { proto, port, targetPort }
  }
  if (typeof v !== 'string') throw new ValidationError(field, 'must be a string like 80:8080/tcp')
  const m = parseShortMapping(v, field)
  if (m === undefined) throw new ValidationError(field, `bad port mapping ${JSON.stringify(v)}; expected PORT[:TARGET][/tcp|udp], e.g. 80:8080/tcp`)
  return { proto: m.proto, port: m.port, targetPort: m.target }
}

function portNum (v: unknown, field: string): number {
  if (!isPort(v)) throw new ValidationError(field, `port must be ${PORT_RANGE}`)
  return v
}

/** Validate a network create body. */
export function parseNetworkCreate (body: unknown): NetworkCreateRequest {
  const o = obj(body)
  noExtra(o, ['name', 'subnets', 'vni', 'mtu', 'options'])
  const req: NetworkCreateRequest = { name: name(o.name, 'name'), subnets: stringList(o.subnets, 'subnets', MAX_SUBNETS_PER_NETWORK) }
  req.subnets.forEach((s, i) => {
    if (!isCidrText(s)) throw new ValidationError(`subnets[${i}]`, `bad CIDR ${JSON.stringify(s)}`)
    const len = Number(s.split('/')[1])
    if (cidrFamily(s) === 6 && (len < MIN_SUBNET_PREFIX_V6 || len > MAX_SUBNET_PREFIX_V6)) {
      throw new ValidationError(`subnets[${i}]`, `${s}: an IPv6 subnet must be /${MIN_SUBNET_PREFIX_V6} to /${MAX_SUBNET_PREFIX_V6} (${len < MIN_SUBNET_PREFIX_V6 ? 'shorter' : 'longer'} than allowed)`)
    }
  })
  if (o.vni !== undefined) {
    if (!Number.isInteger(o.vni) || (o.vni as number) < 1 || (o.vni as number) > VNI_MAX) throw new ValidationError('vni', `must be 1..${VNI_MAX}`)
    req.vni = o.vni as number
  }
  if (o.options !== undefined) {
    const opts = obj(o.options)
    for (const [k, v] of Object.entries(opts)) if (typeof v !== 'string') throw new ValidationError(`options.${k}`, 'must be a string')
    for (const flag of [INTERNAL_OPTION, DSR_OPTION]) {
      if (Object.hasOwn(opts, flag) && opts[flag] !== 'true' && opts[flag] !== 'false') throw new ValidationError(`options.${flag}`, `must be "true" or "false", got ${JSON.stringify(opts[flag])}`)
    }
    req.options = opts as Record<string, string>
  }
  const mtu = parseNetworkMtu(o.mtu, req.options)
  if (mtu !== undefined) req.mtu = mtu
  return req
}

/** `mtu` (a number) or option `mtu` (decimal text), within the fixed bounds; the agent checks it against its underlay. */
function parseNetworkMtu (v: unknown, options: Record<string, string> | undefined): number | undefined {
  const text = options !== undefined && Object.hasOwn(options, NETWORK_MTU_OPTION) ? options[NETWORK_MTU_OPTION] as string : undefined
  const fromOption = text === undefined ? undefined : parseMtuText(text)
  if (text !== undefined && fromOption === undefined) throw new ValidationError(`options.${NETWORK_MTU_OPTION}`, `must be a number of bytes, got ${JSON.stringify(text)}`)
  if (v !== undefined && typeof v !== 'number') throw new ValidationError('mtu', 'must be a number of bytes')
  if (v !== undefined && fromOption !== undefined && v !== fromOption) throw new ValidationError('mtu', `${v} differs from options.${NETWORK_MTU_OPTION} ${fromOption}`)
  const mtu = v ?? fromOption
  if (mtu === undefined) return undefined
  const problem = mtuProblem(mtu, undefined)
  if (problem !== undefined) throw new ValidationError(v !== undefined ? 'mtu' : `options.${NETWORK_MTU_OPTION}`, problem)
  return mtu
}

/** Validate a service create body. */
export function parseServiceCreate (body: unknown): ServiceCreateRequest {
  const o = obj(body)
  noExtra(o, ['name', 'ports', 'networks', 'endpointMode', 'publish'])
  const n = name(o.name, 'name')
  if (!Array.isArray(o.ports)) throw new ValidationError('ports', 'must be an array')
  if (o.ports.length > MAX_PORTS_PER_SERVICE) throw new ValidationError('ports', `at most ${MAX_PORTS_PER_SERVICE} ports`)
  const ports = o.ports.map((p, i) => parsePort(p, `ports[${i}]`))
  const seen = new Set<string>()
  ports.forEach((p, i) => {
    const k = `${p.proto}/${p.port}`
    if (seen.has(k)) throw new ValidationError(`ports[${i}]`, `${k} listed twice`)
    seen.add(k)
  })
  const req: ServiceCreateRequest = { name: n, ports, networks: stringList(o.networks, 'networks', MAX_SUBNETS_PER_NETWORK * 8) }
  if (o.endpointMode !== undefined) {
    if (o.endpointMode !== 'vip' && o.endpointMode !== 'dnsrr') throw new ValidationError('endpointMode', `must be vip or dnsrr, got ${JSON.stringify(o.endpointMode)}`)
    req.endpointMode = o.endpointMode
  }
  if (o.publish !== undefined) {
    const publish = parsePublishList(o.publish, 'publish')
    if (publish.length > 0) req.publish = publish
  }
  return req
}

/** Validate a service publish body `{ add?: [...], rm?: ['8080', '53/udp'] }`. */
export function parseServicePublish (body: unknown): ServicePublishRequest {
  const o = obj(body)
  noExtra(o, ['add', 'rm'])
  const add = o.add === undefined ? [] : parsePublishList(o.add, 'add')
  if (o.rm !== undefined && !Array.isArray(o.rm)) throw new ValidationError('rm', 'must be an array of PORT or PORT/tcp|udp')
  const rmList = (o.rm ?? []) as unknown[]
  if (rmList.length > MAX_PUBLISH_PER_SERVICE) throw new ValidationError('rm', `at most ${MAX_PUBLISH_PER_SERVICE} entries`)
  const rm = rmList.map((v, i) => parsePublishRef(v, `rm[${i}]`))
  if (add.length === 0 && rm.length === 0) throw new ValidationError('body', 'give add and/or rm')
  return { add, rm }
}

/** Validate a task state. */
export function parseTaskState (v: unknown, field = 'state'): EndpointState {
  if (v !== 'ready' && v !== 'draining') throw new ValidationError(field, 'must be ready or draining')
  return v
}

/** Validate a task state body `{ state }` (POST /v1/tasks/:id/state). */
export function parseTaskStateBody (body: unknown): { state: EndpointState } {
  return { state: parseTaskState((body as Record<string, unknown> | null | undefined)?.state) }
}

/**
 * A task id: what a runtime names a container by (the CNI spec's container
 * ID: a letter or digit, then letters, digits, `_`, `.`, `-`).
 */
const TASK_ID_RE = new RegExp(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,${MAX_TASK_ID_LENGTH - 1}}$`)


/** Validate a member revoke body (`{}` or `{ "reason": "..." }`). */
export function parseMemberRevoke (body: unknown): { reason?: string } {
  if (body === undefined || body === null) return {}
  if (typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('body', 'must be a JSON object')
  const reason = (body as Record<string, unknown>).reason
  if (reason === undefined) return {}
  if (typeof reason !== 'string' || reason.length > MAX_REVOKE_REASON) throw new ValidationError('reason', `must be a string of at most ${MAX_REVOKE_REASON} characters`)
  return { reason }
}

/** Validate a task add body. */
export function parseTaskAdd (body: unknown): TaskAddRequest {
  const o = obj(body)
  noExtra(o, ['service', 'id', 'netns', 'ifname', 'ip', 'networks', 'state', 'weight', 'dns'])
  const req: TaskAddRequest = {}
  if (o.service !== undefined) {
    if (typeof o.service !== 'string' || o.service === '') throw new ValidationError('service', 'must be a service name or id')
    req.service = o.service
  }
  if (o.id !== undefined) {
    if (typeof o.id !== 'string' || !TASK_ID_RE.test(o.id)) throw new ValidationError('id', `must be 1-${MAX_TASK_ID_LENGTH} chars of letters, digits, '_', '.', '-', starting with a letter or digit (as a CNI container ID)`)
    req.id = o.id
  }
  if ((o.netns === undefined) === (o.ip === undefined)) throw new ValidationError('netns', 'give exactly one of netns (plug the task in) or ip (already plugged)')
  if (o.netns !== undefined) {
    if (typeof o.netns !== 'string' || !o.netns.startsWith('/') || o.netns.length > 4096) throw new ValidationError('netns', 'must be an absolute path to a network namespace (e.g. /run/netns/NAME)')
    req.netns = o.netns
  }
  if (o.ifname !== undefined) {
    if (o.netns === undefined) throw new ValidationError('ifname', 'only with netns (the agent names the interface it plugs in)')
    if (typeof o.ifname !== 'string' || !IFNAME_RE.test(o.ifname)) throw new ValidationError('ifname', `must be an interface name: 1-15 of letters, digits, '_', '.', '-', got ${JSON.stringify(o.ifname)}`)
    req.ifname = o.ifname
  }
  if (o.ip !== undefined) {
    if (typeof o.ip !== 'string' || isIP(o.ip) === 0) throw new ValidationError('ip', `not an IP address: ${JSON.stringify(o.ip)}`)
    req.ip = o.ip
  }
  if (o.networks !== undefined) req.networks = stringList(o.networks, 'networks', 64)
  else if (req.service === undefined) throw new ValidationError('service', 'required unless networks is given (a task without a service is an endpoint on those networks)')
  if (o.state !== undefined) req.state = parseTaskState(o.state)
  if (o.weight !== undefined) {
    if (!Number.isInteger(o.weight) || (o.weight as number) < 1 || (o.weight as number) > 1000) throw new ValidationError('weight', 'must be 1..1000')
    req.weight = o.weight as number
  }
  if (o.dns !== undefined) {
    if (o.dns !== 'none') throw new ValidationError('dns', `the only value is "none" (no resolver configuration for this task), got ${JSON.stringify(o.dns)}`)
    req.dns = 'none'
  }
  return req
}
