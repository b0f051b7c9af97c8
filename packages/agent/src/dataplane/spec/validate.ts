import { ProgrammerInputError } from './errors.js'
import { PORT_RANGE, isPort, type SandboxSpec, type ServiceSpec } from './types.js'
import { IPV4, IPV6, cidrAddressFamily, familyOf, type AddressFamily } from './family.js'

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
  if (!Array.isArray(spec.lbAddresses) || spec.lbAddresses.length === 0 || spec.lbAddresses.length > 2) {
    throw new ProgrammerInputError('lbAddresses', `expected one LB address per family (1 or 2), got ${JSON.stringify(spec.lbAddresses)}`)
  }
  spec.lbAddresses.forEach((a, i) => {
    const f = cidrAddressFamily(a)
    checkCidrAddress(`lbAddresses[${i}]`, a, f ?? IPV4)
    if (i === 1 && (f !== IPV6 || cidrAddressFamily(spec.lbAddresses[0]) !== IPV4)) throw new ProgrammerInputError('lbAddresses[1]', `expected an IPv6 LB address after the IPv4 one, got ${JSON.stringify(a)}`)
  })
  if (!isMac(spec.lbMac)) throw new ProgrammerInputError('lbMac', `expected "aa:bb:cc:dd:ee:ff", got ${JSON.stringify(spec.lbMac)}`)
  if (!Array.isArray(spec.services)) throw new ProgrammerInputError('services', 'must be an array')
}

/** The families a sandbox serves (those of its LB addresses), for {@link validateService}. */
export function servedFamilies (spec: SandboxSpec): readonly AddressFamily[] {
  return spec.lbAddresses.map(a => cidrAddressFamily(a) ?? IPV4)
}

/**
 * Validate one service (`services[i]`) of a sandbox serving `families` (its
 * LB addresses'); throws {@link ProgrammerInputError} naming the field.
 */
export function validateService (svc: ServiceSpec, i: number, families: readonly AddressFamily[] = [IPV4]): void {
  const f = `services[${i}]`
  const fam = familyOf(svc.vip)
  if (fam === undefined) throw new ProgrammerInputError(`${f}.vip`, `expected an IPv4 or IPv6 address, got ${JSON.stringify(svc.vip)}`)
  if (!families.includes(fam)) throw new ProgrammerInputError(`${f}.vip`, `${svc.vip} is an ${fam.label} VIP but the sandbox has no ${fam.label} LB address (the network has no ${fam.label} subnet)`)
  if (svc.vip6 !== undefined) {
    if (!IPV6.isAddress(svc.vip6)) throw new ProgrammerInputError(`${f}.vip6`, `expected an IPv6 address, got ${JSON.stringify(svc.vip6)}`)
    if (fam !== IPV4) throw new ProgrammerInputError(`${f}.vip6`, 'an IPv6 VIP beside an IPv4 vip only (dual-stack)')
    if (!families.includes(IPV6)) throw new ProgrammerInputError(`${f}.vip6`, `${svc.vip6} is an IPv6 VIP but the sandbox has no IPv6 LB address (the network has no IPv6 subnet)`)
  }
  if (!Array.isArray(svc.ports)) throw new ProgrammerInputError(`${f}.ports`, 'must be an array')
  svc.ports.forEach((p, j) => {
    if (p.proto !== 'tcp' && p.proto !== 'udp') throw new ProgrammerInputError(`${f}.ports[${j}].proto`, `expected tcp or udp, got ${JSON.stringify(p.proto)}`)
    checkPort(`${f}.ports[${j}].port`, p.port)
    checkPort(`${f}.ports[${j}].targetPort`, p.targetPort)
  })
  if (!Array.isArray(svc.backends)) throw new ProgrammerInputError(`${f}.backends`, 'must be an array')
  svc.backends.forEach((b, j) => {
    if (!fam.isAddress(b.ip)) throw new ProgrammerInputError(`${f}.backends[${j}].ip`, `expected an ${fam.label} address (the VIP's family), got ${JSON.stringify(b.ip)}`)
    if (b.ip6 !== undefined && !IPV6.isAddress(b.ip6)) throw new ProgrammerInputError(`${f}.backends[${j}].ip6`, `expected an IPv6 address, got ${JSON.stringify(b.ip6)}`)
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
      for (const vip of svc.vip6 === undefined ? [svc.vip] : [svc.vip, svc.vip6]) {
        const key = `${vip} ${p.proto} ${p.port}`
        if (seen.has(key)) throw new ProgrammerInputError(`services[${i}].ports[${j}]`, `${p.proto}/${p.port} on ${vip} is programmed twice`)
        seen.add(key)
      }
    })
  })
}

/** Validate a whole {@link SandboxSpec}; throws {@link ProgrammerInputError}. */
export function validateSandboxSpec (spec: SandboxSpec): void {
  validateSandboxHeader(spec)
  const families = servedFamilies(spec)
  spec.services.forEach((svc, i) => { validateService(svc, i, families) })
  checkUniquePorts(spec.services)
}
