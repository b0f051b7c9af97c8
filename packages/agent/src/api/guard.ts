import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { API_TOKEN_FILE } from '../constants.js'
import { ForbiddenError, UnauthorizedError, UnsupportedMediaTypeError } from '../errors.js'
import { isLoopbackHost } from '../config/values.js'
import { sendError } from './http.js'

/** Host name of a `Host` header value (`name`, `name:port`, `[v6]:port`), lower case. */
function hostOf (header: string): string {
  const v = header.trim().toLowerCase()
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(v) ?? /^([^:[\]]+)(?::\d+)?$/.exec(v)
  return m === null ? '' : m[1] as string
}

/** Constant-time comparison of two tokens (hashed first, so the length does not leak either). */
function sameToken (a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest()
  const hb = createHash('sha256').update(b).digest()
  return timingSafeEqual(ha, hb)
}

/**
 * Check a request to the loopback TCP control API, in this order:
 * - `Host` must name a loopback address (a DNS-rebound name is refused),
 *   and `Origin`, when sent, must be a loopback origin (a web page open in
 *   a browser on this host is refused): 403;
 * - `Authorization: Bearer <token>` must carry the token of the data dir: 401;
 * - a request with a body (or a Content-Type) must be `application/json`,
 *   so a browser's "simple" cross-origin POST (text/plain, form) fails: 415.
 * Returns the refusal, or undefined when the request may proceed.
 */
export function checkTcpRequest (req: IncomingMessage, token: string): Error | undefined {
  const host = req.headers.host
  if (host === undefined || !isLoopbackHost(hostOf(host))) {
    return new ForbiddenError(`Host ${JSON.stringify(host ?? '')} is not a loopback address; the control API answers only requests addressed to loopback`)
  }
  const origin = req.headers.origin
  if (origin !== undefined) {
    let ok = false
    try {
      const u = new URL(origin)
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && isLoopbackHost(u.hostname.replace(/^\[|\]$/g, ''))
    } catch { /* "null" or garbage: refused */ }
    if (!ok) return new ForbiddenError(`Origin ${JSON.stringify(origin)} is not loopback; cross-origin requests (web pages) are refused`)
  }
  const auth = req.headers.authorization
  const m = auth === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(auth)
  if (m === null) return new UnauthorizedError(`a bearer token is required on the TCP control API (the agent wrote it to <data-dir>/${API_TOKEN_FILE}; scalelb reads it from SCALELB_DATA_DIR, --api-token-file or SCALELB_API_TOKEN)`)
  if (!sameToken(m[1] as string, token)) return new UnauthorizedError('wrong bearer token')
  const hasBody = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined
  const type = req.headers['content-type']
  if (hasBody || type !== undefined) {
    const mime = (type ?? '').split(';')[0]?.trim().toLowerCase()
    if (mime !== 'application/json') return new UnsupportedMediaTypeError(`Content-Type must be application/json, got ${JSON.stringify(type ?? 'none')}`)
  }
  return undefined
}

/** Answer a refusal of {@link checkTcpRequest} and close the connection (the body is never read). */
export function sendRefusal (res: ServerResponse, err: Error): void {
  res.setHeader('connection', 'close')
  if (err.name === 'UnauthorizedError') res.setHeader('www-authenticate', 'Bearer')
  sendError(res, err)
}
