import { isIP } from 'node:net'
import { ConfigError } from '../errors.js'

/** A host:port pair for a TCP listener. */
export interface HostPort {
  host: string
  port: number
}

/** Parse `host:port` / `[v6]:port`; `field` names the setting in errors. */
export function parseHostPort (field: string, raw: string): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(raw) ?? /^([^:[\]]+):(\d+)$/.exec(raw)
  if (m === null) throw new ConfigError(field, `expected host:port or [ipv6]:port, got ${JSON.stringify(raw)}`)
  const host = m[1] as string
  const port = Number(m[2])
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(field, `port must be 0..65535, got ${m[2]}`)
  if (isIP(host) === 0 && host !== 'localhost') throw new ConfigError(field, `host must be an IP address or localhost, got ${JSON.stringify(host)}`)
  return { host, port }
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopbackHost (host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

/** Parse a duration: a number of ms, or `500ms`, `30s`, `2m`, `1h`. */
export function parseDurationMs (field: string, raw: string | number): number {
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw) || raw < 0) throw new ConfigError(field, `duration must be >= 0 ms, got ${raw}`)
    return raw
  }
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim())
  if (m === null) throw new ConfigError(field, `expected a duration like 500ms, 30s, 2m, got ${JSON.stringify(raw)}`)
  const n = Number(m[1])
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h']
  return Math.round(n * mult)
}

/** Parse a boolean from env/config text. */
export function parseBool (field: string, raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw
  if (typeof raw === 'string') {
    const v = raw.trim().toLowerCase()
    if (['1', 'true', 'yes', 'on'].includes(v)) return true
    if (['0', 'false', 'no', 'off', ''].includes(v)) return false
  }
  throw new ConfigError(field, `expected true or false, got ${JSON.stringify(raw)}`)
}

const MULTIADDR_RE = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d+)(\/p2p\/[1-9A-HJ-NP-Za-km-z]+)?$/

/** Validate a TCP multiaddr (`/ip4/1.2.3.4/tcp/7946[/p2p/<id>]`); returns it unchanged. */
export function parseTcpMultiaddr (field: string, raw: string, opts: { allowPeerId: boolean }): string {
  const m = MULTIADDR_RE.exec(raw)
  if (m === null) throw new ConfigError(field, `expected a multiaddr like /ip4/10.0.0.1/tcp/7946, got ${JSON.stringify(raw)}`)
  const [, proto, host, port, p2p] = m as unknown as [string, string, string, string, string | undefined]
  if (proto === 'ip4' && isIP(host) !== 4) throw new ConfigError(field, `bad IPv4 address ${JSON.stringify(host)}`)
  if (proto === 'ip6' && isIP(host) !== 6) throw new ConfigError(field, `bad IPv6 address ${JSON.stringify(host)}`)
  if (Number(port) > 65535) throw new ConfigError(field, `port must be 0..65535, got ${port}`)
  if (p2p !== undefined && !opts.allowPeerId) throw new ConfigError(field, 'a listen address takes no /p2p/ part')
  return raw
}
