import { ProgrammerInputError } from './errors.js'
import { PORT_RANGE, isPort, type SandboxSpec, type ServiceSpec } from './types.js'
import { IPV4, type AddressFamily } from './family.js'

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i

/** True for a dotted-quad IPv4 address. */
export function isIpv4 (s: unknown): s is string {
  return IPV4.isAddress(s)
}

/** True for a MAC address `aa:bb:cc:dd:ee:ff`. */
export function isMac (s: unknown): s is string {
  return typeof s === 'string' && MAC.test(s)
}

/** True for a network ID scalelb can put in interface aliases and batch files. */
export function isNetworkId (s: unknown): s is string {
  return typeof s === 'string' && /^[A-Za-z0-9_.:-]{1,128}$/.test(s)
}

/** Throw {@link ProgrammerInputError} naming `field` unless `s` is an address of the family with a prefix length (`a.b.c.d/len`). */
export function checkCidrAddress (field: string, s: unknown, family: AddressFamily = IPV4): void {
  if (typeof s !== 'string') throw new ProgrammerInputError(field, `expected "${family.cidrExample}"`)
  const [ip, len, extra] = s.split('/')
  const n = Number(len)
  if (extra !== undefined || !family.isAddress(ip) || len === undefined || !/^\d+$/.test(len) || n < 1 || n > family.maxPrefixLen) {
    throw new ProgrammerInputError(field, `expected "${family.cidrExample}", got ${JSON.stringify(s)}`)
  }
}

function checkPort (field: string, p: unknown): void {
  if (!isPort(p)) throw new ProgrammerInputError(field, `expected a port ${PORT_RANGE}, got ${JSON.stringify(p)}`)
}

/** Validate the sandbox-level fields of a {@link SandboxSpec} (not its services). */
export function validateSandboxHeader (spec: SandboxSpec): void {
  if (!isNetworkId(spec.networkId)) throw new ProgrammerInputError('networkId', `expected 1..128 of [A-Za-z0-9_.:-], got ${JSON.stringify(spec.networkId)}`)
  checkCidrAddress('lbAddress', spec.lbAddress)
  if (!isMac(spec.lbMac)) throw new ProgrammerInputError('lbMac', `expected "aa:bb:cc:dd:ee:ff", got ${JSON.stringify(spec.lbMac)}`)
  if (!Array.isArray(spec.services)) throw new ProgrammerInputError('services', 'must be an array')
}

/** Validate one service (`services[i]`); throws {@link ProgrammerInputError} naming the field. */
export function validateService (svc: ServiceSpec, i: number): void {
  const f = `services[${i}]`
  if (!isIpv4(svc.vip)) throw new ProgrammerInputError(`${f}.vip`, `expected an ${IPV4.label} address, got ${JSON.stringify(svc.vip)}`)
  if (!Array.isArray(svc.ports)) throw new ProgrammerInputError(`${f}.ports`, 'must be an array')
  svc.ports.forEach((p, j) => {
    if (p.proto !== 'tcp' && p.proto !== 'udp') throw new ProgrammerInputError(`${f}.ports[${j}].proto`, `expected tcp or udp, got ${JSON.stringify(p.proto)}`)
    checkPort(`${f}.ports[${j}].port`, p.port)
    checkPort(`${f}.ports[${j}].targetPort`, p.targetPort)
  })
  if (!Array.isArray(svc.backends)) throw new ProgrammerInputError(`${f}.backends`, 'must be an array')
  svc.backends.forEach((b, j) => {
    if (!isIpv4(b.ip)) throw new ProgrammerInputError(`${f}.backends[${j}].ip`, `expected an ${IPV4.label} address, got ${JSON.stringify(b.ip)}`)
    if (typeof b.weight !== 'number' || !Number.isInteger(b.weight) || b.weight < 0) {
      throw new ProgrammerInputError(`${f}.backends[${j}].weight`, `expected an integer >= 0, got ${JSON.stringify(b.weight)}`)
    }
  })
}

/** Throw unless every VIP port appears once across services. */
export function checkUniquePorts (services: readonly ServiceSpec[]): void {
  const seen = new Set<string>()
  services.forEach((svc, i) => {
    svc.ports.forEach((p, j) => {
      const key = `${svc.vip} ${p.proto} ${p.port}`
      if (seen.has(key)) throw new ProgrammerInputError(`services[${i}].ports[${j}]`, `${p.proto}/${p.port} on ${svc.vip} is programmed twice`)
      seen.add(key)
    })
  })
}

/** Validate a whole {@link SandboxSpec}; throws {@link ProgrammerInputError}. */
export function validateSandboxSpec (spec: SandboxSpec): void {
  validateSandboxHeader(spec)
  spec.services.forEach(validateService)
  checkUniquePorts(spec.services)
}
