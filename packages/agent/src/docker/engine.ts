import type { IncomingMessage } from 'node:http'
import { nodeHttp } from '../api/http.js'
import { ENGINE_API_VERSION, ENGINE_CALL_TIMEOUT_MS } from './constants.js'
import { DockerEngineError } from './errors.js'

/**
 * The few Docker Engine API calls the agent makes (HTTP/1.1 over dockerd's
 * unix socket with node:http, through nodeHttp() so undici is not loaded; no SDK): list and inspect containers, inspect
 * a network, and the event stream.
 */
export interface DockerEngine {
  /** GET a JSON document (`/containers/json`); throws {@link DockerEngineError}. */
  get(path: string, opts?: { signal?: AbortSignal }): Promise<unknown>
  /**
   * Open the event stream (`/events` with `filters`); resolves once dockerd
   * answered with the stream, whose chunks go to `onData`; `ended` settles
   * when the stream ends (resolves) or breaks (rejects).
   */
  events(filters: Record<string, string[]>, onData: (chunk: Buffer) => void, opts?: { signal?: AbortSignal }): Promise<{ ended: Promise<void> }>
}

function url (path: string): string {
  return `/${ENGINE_API_VERSION}${path}`
}

async function readAll (res: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of res) {
    size += (c as Buffer).length
    if (size > limit) throw new DockerEngineError(`dockerd answer larger than ${limit} bytes`)
    chunks.push(c as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Largest JSON answer read (a container list of a busy host is a few MiB). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024

/** Client of the dockerd at `socketPath`. */
export function createDockerEngine (init: { socketPath: string }): DockerEngine {
  function open (path: string, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = nodeHttp().request({ socketPath: init.socketPath, path: url(path), method: 'GET', headers: { host: 'docker' }, ...(signal !== undefined ? { signal } : {}) }, resolve)
      req.on('error', (err) => { reject(new DockerEngineError(`dockerd at ${init.socketPath}: ${err.message}`)) })
      req.end()
    })
  }

  return {
    async get (path, opts = {}) {
      const signal = AbortSignal.any([AbortSignal.timeout(ENGINE_CALL_TIMEOUT_MS), ...(opts.signal !== undefined ? [opts.signal] : [])])
      const res = await open(path, signal)
      const text = await readAll(res, MAX_ANSWER_BYTES)
      if (res.statusCode !== 200) {
        let message = text.trim()
        try { message = String((JSON.parse(text) as { message?: unknown }).message ?? message) } catch { /* not JSON: the text as it is */ }
        throw new DockerEngineError(`GET ${path}: dockerd answered ${res.statusCode ?? '?'}: ${message.slice(0, 300)}`, res.statusCode)
      }
      try {
        return JSON.parse(text) as unknown
      } catch (err) {
        throw new DockerEngineError(`GET ${path}: not JSON: ${(err as Error).message}`)
      }
    },

    async events (filters, onData, opts = {}) {
      const res = await open(`/events?filters=${encodeURIComponent(JSON.stringify(filters))}`, opts.signal)
      if (res.statusCode !== 200) {
        const text = await readAll(res, 64 * 1024).catch(() => '')
        throw new DockerEngineError(`GET /events: dockerd answered ${res.statusCode ?? '?'}: ${text.trim().slice(0, 300)}`, res.statusCode)
      }
      const ended = new Promise<void>((resolve, reject) => {
        res.on('data', (c: Buffer) => { onData(c) })
        res.on('end', resolve)
        res.on('error', (err) => { reject(new DockerEngineError(`event stream broke: ${err.message}`)) })
        res.on('aborted', () => { reject(new DockerEngineError('event stream aborted')) })
      })
      return { ended }
    }
  }
}
