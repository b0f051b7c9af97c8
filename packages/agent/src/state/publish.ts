import { ValidationError } from '../errors.js'
import { PORT_RANGE, isPort, type L4Proto, type PortSpec } from '../dataplane/spec/types.js'

/**
 * Published ports of services (north-south traffic): parsing of the CLI/API
 * forms, validation of values received through gossip, and the owner of a
 * port two services publish. Pure.
 */

/** `ingress` (default): every node accepts and balances over every task; `host`: only nodes with local tasks, over those, without SNAT. */
export type PublishMode = 'ingress' | 'host'

/** One published port of a service, as stored in its (manager-signed) `services` entry. */
export interface PublishSpec {
  proto: L4Proto
  /** Port on every node's underlay address. */
  published: number
  /** Port the tasks listen on. */
  target: number
  mode: PublishMode
}

/** Most published ports per service. */
export const MAX_PUBLISH_PER_SERVICE = 64

/** Network option marking an `--internal` network (no uplink, no published port). */
export const INTERNAL_OPTION = 'internal'

/**
 * Network option asking for direct server return (`network create --opt dsr=true`): the
 * sandboxes send eligible TCP VIP traffic straight to the backends, whose replies skip the
 * sandbox (dataplane/lb/dsr.ts; which services are eligible is said there and in docs/architecture.md).
 */
export const DSR_OPTION = 'dsr'

/** Whether a network's options ask for direct server return. */
export function isDsr (options: Readonly<Record<string, string>> | undefined): boolean {
  return options !== undefined && Object.hasOwn(options, DSR_OPTION) && options[DSR_OPTION] === 'true'
}

/** Whether a network's options mark it `--internal`. */
export function isInternal (options: Readonly<Record<string, string>> | undefined): boolean {
  return options !== undefined && Object.hasOwn(options, INTERNAL_OPTION) && options[INTERNAL_OPTION] === 'true'
}

/** The key two publications of the same port share: `8080/tcp`. */
export function publishKey (p: Pick<PublishSpec, 'proto' | 'published'>): string {
  return `${p.published}/${p.proto}`
}

function portOf (v: unknown, field: string): number {
  const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v
  if (!isPort(n)) throw new ValidationError(field, `port must be ${PORT_RANGE}, got ${JSON.stringify(v)}`)
  return n
}

function protoOf (v: unknown, field: string): L4Proto {
  if (v !== 'tcp' && v !== 'udp') throw new ValidationError(field, `must be tcp or udp, got ${JSON.stringify(v)}`)
  return v
}

function modeOf (v: unknown, field: string): PublishMode {
  if (v !== 'ingress' && v !== 'host') throw new ValidationError(field, `must be ingress or host, got ${JSON.stringify(v)}`)
  return v
}

/**
 * The short form of a port mapping, `8080:80/tcp` (`8080` alone: the same
 * port both sides, tcp): a service's `--port` and a `--publish` share it.
 * Undefined when `v` is not of that form; a ValidationError naming `field`
 * for a port out of range.
 */
export function parseShortMapping (v: string, field: string): { proto: L4Proto, port: number, target: number } | undefined {
  const m = /^(\d{1,5})(?::(\d{1,5}))?(?:\/(tcp|udp))?$/.exec(v)
  if (m === null) return undefined
  const port = portOf(m[1], field)
  return { proto: (m[3] ?? 'tcp') as L4Proto, port, target: m[2] === undefined ? port : portOf(m[2], field) }
}

/** The long form `published=8080,target=80,protocol=udp,mode=host` (as Docker's `--publish`). */
function parseLong (s: string, field: string): PublishSpec {
  const kv = new Map<string, string>()
  for (const part of s.split(',')) {
    const i = part.indexOf('=')
    if (i <= 0) throw new ValidationError(field, `expected key=value in ${JSON.stringify(part)}`)
    const k = part.slice(0, i)
    if (!['published', 'target', 'protocol', 'mode'].includes(k)) throw new ValidationError(field, `unknown key ${JSON.stringify(k)} (allowed: published, target, protocol, mode)`)
    if (kv.has(k)) throw new ValidationError(field, `${k} given twice`)
    kv.set(k, part.slice(i + 1))
  }
  if (!kv.has('published')) throw new ValidationError(`${field}.published`, 'required')
  const published = portOf(kv.get('published'), `${field}.published`)
  return {
    proto: protoOf(kv.get('protocol') ?? 'tcp', `${field}.protocol`),
    published,
    target: kv.has('target') ? portOf(kv.get('target'), `${field}.target`) : published,
    mode: modeOf(kv.get('mode') ?? 'ingress', `${field}.mode`)
  }
}

/**
 * Parse one `--publish` value: the short form `8080:80/tcp` (`8080` alone:
 * target 8080, tcp), the long form `published=8080,target=80,protocol=udp,mode=host`,
 * or the object form `{ published, target?, protocol?|proto?, mode? }`.
 * Throws ValidationError naming `field`.
 */
export function parsePublish (v: unknown, field: string): PublishSpec {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>
    for (const k of Object.keys(o)) if (!['published', 'target', 'protocol', 'proto', 'mode'].includes(k)) throw new ValidationError(`${field}.${k}`, 'unknown field (allowed: published, target, protocol, mode)')
    const published = portOf(o.published, `${field}.published`)
    return {
      proto: protoOf(o.protocol ?? o.proto ?? 'tcp', `${field}.protocol`),
      published,
      target: o.target === undefined ? published : portOf(o.target, `${field}.target`),
      mode: modeOf(o.mode ?? 'ingress', `${field}.mode`)
    }
  }
  if (typeof v !== 'string') throw new ValidationError(field, 'must be a string like 8080:80/tcp or published=8080,target=80')
  if (v.includes('=')) return parseLong(v, field)
  const m = parseShortMapping(v, field)
  if (m === undefined) throw new ValidationError(field, `bad published port ${JSON.stringify(v)}; expected PUBLISHED[:TARGET][/tcp|udp] or published=N,target=N,protocol=tcp|udp,mode=ingress|host`)
  return { proto: m.proto, published: m.port, target: m.target, mode: 'ingress' }
}

/** Parse a list of `--publish` values; a port/protocol given twice is refused. */
export function parsePublishList (v: unknown, field: string): PublishSpec[] {
  if (!Array.isArray(v)) throw new ValidationError(field, 'must be an array')
  if (v.length > MAX_PUBLISH_PER_SERVICE) throw new ValidationError(field, `at most ${MAX_PUBLISH_PER_SERVICE} published ports`)
  const out = v.map((x, i) => parsePublish(x, `${field}[${i}]`))
  checkUniquePublish(out, field)
  return out
}

function checkUniquePublish (list: readonly PublishSpec[], field: string): void {
  const seen = new Set<string>()
  list.forEach((p, i) => {
    const k = publishKey(p)
    if (seen.has(k)) throw new ValidationError(`${field}[${i}]`, `${k} published twice`)
    seen.add(k)
  })
}

/** Parse a `--publish-rm` value: `8080` (both protocols) or `8080/udp`. */
export function parsePublishRef (v: unknown, field: string): { published: number, proto?: L4Proto } {
  if (typeof v !== 'string' && typeof v !== 'number') throw new ValidationError(field, 'must be PORT or PORT/tcp|udp')
  const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(String(v))
  if (m === null) throw new ValidationError(field, `expected PORT or PORT/tcp|udp, got ${JSON.stringify(v)}`)
  const published = portOf(m[1], field)
  return m[2] === undefined ? { published } : { published, proto: m[2] as L4Proto }
}

/** Validate a service entry's `publish` received from another node; a reason string when invalid. */
export function checkPublishValue (v: unknown): { ok: true, value: PublishSpec[] } | { ok: false, reason: string } {
  if (!Array.isArray(v) || v.length > MAX_PUBLISH_PER_SERVICE) return { ok: false, reason: 'service.publish: invalid' }
  const out: PublishSpec[] = []
  for (const [i, p] of v.entries()) {
    const o = p as Record<string, unknown> | null
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return { ok: false, reason: `service.publish[${i}]: not an object` }
    if (o.proto !== 'tcp' && o.proto !== 'udp') return { ok: false, reason: `service.publish[${i}].proto: must be tcp or udp` }
    if (!isPort(o.published)) return { ok: false, reason: `service.publish[${i}].published: must be ${PORT_RANGE}` }
    if (!isPort(o.target)) return { ok: false, reason: `service.publish[${i}].target: must be ${PORT_RANGE}` }
    if (o.mode !== 'ingress' && o.mode !== 'host') return { ok: false, reason: `service.publish[${i}].mode: must be ingress or host` }
    out.push({ proto: o.proto, published: o.published, target: o.target, mode: o.mode })
  }
  if (new Set(out.map(publishKey)).size !== out.length) return { ok: false, reason: 'service.publish: a port published twice' }
  return { ok: true, value: out }
}

/**
 * The VIP port that carries a published port's traffic to its target: the
 * service's port with that target and protocol. When there is none, the
 * ports with one added (`target:target`); a ValidationError when that VIP
 * port is taken by another mapping.
 */
export function portsForPublish (ports: readonly PortSpec[], publish: readonly PublishSpec[], field: string): PortSpec[] {
  const out = [...ports]
  publish.forEach((p, i) => {
    if (out.some((x) => x.proto === p.proto && x.targetPort === p.target)) return
    if (out.some((x) => x.proto === p.proto && x.port === p.target)) throw new ValidationError(`${field}[${i}].target`, `the service's port ${p.target}/${p.proto} goes to another target port; publish that port's target instead`)
    out.push({ proto: p.proto, port: p.target, targetPort: p.target })
  })
  return out
}

/** A published port as the owner sees it. */
export interface PublishOwner {
  serviceId: string
  publish: PublishSpec
}

/**
 * Who owns each published port: of several services publishing the same
 * port/protocol (two managers accepted them while partitioned), the smallest
 * service id; the others are reported as `losers` (service id -> its ports,
 * sorted). The same for any order of `services`.
 */
export function publishOwners (services: Iterable<[string, { publish?: readonly PublishSpec[] }]>): { owners: Map<string, PublishOwner>, losers: Map<string, string[]> } {
  const owners = new Map<string, PublishOwner>()
  const losers = new Map<string, string[]>()
  const lose = (sid: string, key: string): void => {
    const l = losers.get(sid)
    if (l === undefined) losers.set(sid, [key])
    else l.push(key)
  }
  for (const [sid, s] of services) {
    for (const p of s.publish ?? []) {
      const key = publishKey(p)
      const cur = owners.get(key)
      if (cur === undefined) owners.set(key, { serviceId: sid, publish: p })
      else if (sid < cur.serviceId) {
        lose(cur.serviceId, key)
        owners.set(key, { serviceId: sid, publish: p })
      } else lose(sid, key)
    }
  }
  for (const l of losers.values()) l.sort()
  return { owners, losers }
}
