import { PluginRequestError } from './errors.js'

/**
 * Request bodies of Docker's network and IPAM plugin protocol, as libnetwork
 * (Docker 20.10) sends them, and their validation. Every parser throws
 * {@link PluginRequestError} naming the field at fault.
 */

/** One entry of CreateNetwork's IPv4Data / IPv6Data. */
export interface IpamData {
  AddressSpace: string
  /** CIDR of the pool. */
  Pool: string
  /** The gateway IPAM answered for the pool, CIDR. */
  Gateway?: string
  AuxAddresses?: Record<string, string>
}

export interface CreateNetworkRequest {
  NetworkID: string
  Options: Record<string, unknown>
  IPv4Data: IpamData[]
  IPv6Data: IpamData[]
}

export interface NetworkRef { NetworkID: string }
export interface EndpointRef { NetworkID: string, EndpointID: string }

export interface CreateEndpointRequest extends EndpointRef {
  Interface: { Address: string, AddressIPv6: string, MacAddress: string }
  Options: Record<string, unknown>
}

export interface JoinRequest extends EndpointRef {
  SandboxKey: string
  Options: Record<string, unknown>
}

export interface RequestPoolRequest {
  AddressSpace: string
  Pool: string
  SubPool: string
  Options: Record<string, string>
  V6: boolean
}

export interface PoolRef { PoolID: string }

export interface RequestAddressRequest {
  PoolID: string
  /** The address asked for (`docker run --ip`, `--gateway`), or empty. */
  Address: string
  Options: Record<string, string>
}

export interface ReleaseAddressRequest { PoolID: string, Address: string }

function obj (v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new PluginRequestError(field, 'must be a JSON object')
  return v as Record<string, unknown>
}

function str (o: Record<string, unknown>, key: string, opts: { required?: boolean } = {}): string {
  const v = o[key]
  if (v === undefined || v === null) {
    if (opts.required === true) throw new PluginRequestError(key, 'required')
    return ''
  }
  if (typeof v !== 'string') throw new PluginRequestError(key, `must be a string, got ${typeof v}`)
  if (opts.required === true && v === '') throw new PluginRequestError(key, 'required')
  return v
}

function optionalObj (o: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = o[key]
  return v === undefined || v === null ? {} : obj(v, key)
}

function stringMap (o: Record<string, unknown>, key: string): Record<string, string> {
  const m = optionalObj(o, key)
  for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') throw new PluginRequestError(`${key}.${k}`, 'must be a string')
  return m as Record<string, string>
}

/** A Docker ID (network, endpoint): 64 hex chars as dockerd generates them, or any short safe name (tests, other engines). */
function id (o: Record<string, unknown>, key: string): string {
  const v = str(o, key, { required: true })
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/.test(v)) throw new PluginRequestError(key, `not a Docker ID: ${JSON.stringify(v.slice(0, 80))}`)
  return v
}

function ipamData (v: unknown, field: string): IpamData[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new PluginRequestError(field, 'must be an array')
  return v.map((e, i) => {
    const o = obj(e, `${field}[${i}]`)
    const d: IpamData = { AddressSpace: str(o, 'AddressSpace'), Pool: str(o, 'Pool', { required: true }) }
    const gw = str(o, 'Gateway')
    if (gw !== '') d.Gateway = gw
    const aux = stringMap(o, 'AuxAddresses')
    if (Object.keys(aux).length > 0) d.AuxAddresses = aux
    return d
  })
}

export function parseCreateNetwork (body: unknown): CreateNetworkRequest {
  const o = obj(body, 'body')
  return { NetworkID: id(o, 'NetworkID'), Options: optionalObj(o, 'Options'), IPv4Data: ipamData(o.IPv4Data, 'IPv4Data'), IPv6Data: ipamData(o.IPv6Data, 'IPv6Data') }
}

export function parseNetworkRef (body: unknown): NetworkRef {
  return { NetworkID: id(obj(body, 'body'), 'NetworkID') }
}

export function parseEndpointRef (body: unknown): EndpointRef {
  const o = obj(body, 'body')
  return { NetworkID: id(o, 'NetworkID'), EndpointID: id(o, 'EndpointID') }
}

export function parseCreateEndpoint (body: unknown): CreateEndpointRequest {
  const o = obj(body, 'body')
  const i = optionalObj(o, 'Interface')
  return {
    NetworkID: id(o, 'NetworkID'),
    EndpointID: id(o, 'EndpointID'),
    Interface: { Address: str(i, 'Address'), AddressIPv6: str(i, 'AddressIPv6'), MacAddress: str(i, 'MacAddress') },
    Options: optionalObj(o, 'Options')
  }
}

export function parseJoin (body: unknown): JoinRequest {
  const o = obj(body, 'body')
  const key = str(o, 'SandboxKey', { required: true })
  if (!key.startsWith('/')) throw new PluginRequestError('SandboxKey', `must be an absolute path, got ${JSON.stringify(key.slice(0, 80))}`)
  return { NetworkID: id(o, 'NetworkID'), EndpointID: id(o, 'EndpointID'), SandboxKey: key, Options: optionalObj(o, 'Options') }
}

export function parseRequestPool (body: unknown): RequestPoolRequest {
  const o = obj(body, 'body')
  if (o.V6 !== undefined && typeof o.V6 !== 'boolean') throw new PluginRequestError('V6', 'must be true or false')
  return { AddressSpace: str(o, 'AddressSpace'), Pool: str(o, 'Pool'), SubPool: str(o, 'SubPool'), Options: stringMap(o, 'Options'), V6: o.V6 === true }
}

export function parsePoolRef (body: unknown): PoolRef {
  return { PoolID: str(obj(body, 'body'), 'PoolID', { required: true }) }
}

export function parseRequestAddress (body: unknown): RequestAddressRequest {
  const o = obj(body, 'body')
  return { PoolID: str(o, 'PoolID', { required: true }), Address: str(o, 'Address'), Options: stringMap(o, 'Options') }
}

export function parseReleaseAddress (body: unknown): ReleaseAddressRequest {
  const o = obj(body, 'body')
  return { PoolID: str(o, 'PoolID', { required: true }), Address: str(o, 'Address', { required: true }) }
}
