import type * as Http from 'node:http'
import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import { MAX_API_BODY_BYTES } from '../constants.js'
import { FieldError, ValidationError, httpStatusOf } from '../errors.js'

/**
 * node:http through its CommonJS view, for the servers. An `import` of
 * node:http builds its ES module facade, which reads every export, including
 * the lazy ones that load Node's bundled undici (fetch, WebSocket): ~6 MiB
 * more resident memory in every agent, which uses none of them (README
 * "Performance"). The CLI's client does the same on its own: it must not
 * load this module (test/unit/cli/startup.test.ts).
 */
export function nodeHttp (): typeof Http {
  return process.getBuiltinModule('node:http')
}

/** Write a JSON response (`contentType`: Docker's plugin protocol names its own). */
export function sendJson (res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(body) + '\n'
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Write an error as `{ error: { name, field?, message } }`. */
export function sendError (res: ServerResponse, err: Error): void {
  const body: { name: string, message: string, field?: string } = { name: err.name, message: err.message }
  if (err instanceof FieldError) body.field = err.field
  sendJson(res, httpStatusOf(err), { error: body })
}

/**
 * Read a JSON body of at most `maxBytes`; an empty body reads as `{}`. A body
 * too large or not JSON throws `fail('body', reason)` (the control API's
 * ValidationError by default).
 */
export async function readJson (req: IncomingMessage, maxBytes = MAX_API_BODY_BYTES, fail: (field: string, reason: string) => Error = (f, r) => new ValidationError(f, r)): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req) {
    const b = c as Buffer
    size += b.length
    if (size > maxBytes) throw fail('body', `larger than ${maxBytes} bytes`)
    chunks.push(b)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch (err) {
    throw fail('body', `not valid JSON: ${(err as Error).message}`)
  }
}

/** Listen on a TCP host/port or a unix socket path; resolves with the bound port (0 for sockets). */
export async function listen (server: Server, where: { host: string, port: number } | { path: string }): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    const done = (): void => { server.off('error', reject); resolve() }
    if ('path' in where) server.listen(where.path, done)
    else server.listen(where.port, where.host, done)
  })
  const a = server.address()
  return typeof a === 'object' && a !== null ? a.port : 0
}

/** Close a server and its idle/open connections. Safe to call twice. */
export async function closeServer (server: Server): Promise<void> {
  if (!server.listening) return
  await new Promise<void>((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}
