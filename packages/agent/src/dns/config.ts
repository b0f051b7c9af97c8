import { isIP } from 'node:net'
import { ConfigError } from '../errors.js'
import { parseHostPort } from '../config/values.js'
import { DNS_PORT } from './constants.js'
import type { Upstream } from './forward.js'

/** Longest TTL of own answers (s): answers must follow task changes. */
export const MAX_DNS_TTL_S = 3600

/** Longest upstream timeout (ms). */
export const MAX_DNS_UPSTREAM_TIMEOUT_MS = 30_000

/** Parse one `--dns-upstream` value: `IP`, `IP:PORT` or `[IPv6]:PORT`. */
export function parseUpstream (field: string, raw: string): Upstream {
  if (isIP(raw) !== 0) return { host: raw, port: DNS_PORT }
  const hp = parseHostPort(field, raw)
  if (isIP(hp.host) === 0) throw new ConfigError(field, `must be an IP address, got ${JSON.stringify(hp.host)}`)
  if (hp.port === 0) throw new ConfigError(field, 'port must be 1..65535')
  return { host: hp.host, port: hp.port }
}

/** Check the TTL of own answers (s). */
export function checkDnsTtl (field: string, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_DNS_TTL_S) throw new ConfigError(field, `must be 0..${MAX_DNS_TTL_S} seconds, got ${n}`)
  return n
}

/** Check the upstream timeout (ms). */
export function checkDnsTimeout (field: string, ms: number): number {
  if (ms < 1 || ms > MAX_DNS_UPSTREAM_TIMEOUT_MS) throw new ConfigError(field, `must be 1 ms..${MAX_DNS_UPSTREAM_TIMEOUT_MS / 1000} s, got ${ms} ms`)
  return ms
}
