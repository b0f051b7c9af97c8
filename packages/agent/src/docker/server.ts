import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { chmod, mkdir, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { closeServer, listen, nodeHttp, readJson, sendJson } from '../api/http.js'
import type { Logger } from '../logging/logger.js'
import { MAX_PLUGIN_BODY_BYTES, PLUGIN_CALL_TIMEOUT_MS, PLUGIN_CONTENT_TYPE } from './constants.js'
import { PluginRequestError } from './errors.js'
import type { DockerPlugin } from './plugin.js'

/** Docker's plugin protocol on a unix socket: `POST /<Method>` with a JSON body, answered in JSON. */
export interface PluginServer {
  start(): Promise<void>
  /** Stop listening and remove the socket; safe to call twice. */
  stop(): Promise<void>
}

function send (res: ServerResponse, status: number, body: unknown): void {
  sendJson(res, status, body, PLUGIN_CONTENT_TYPE)
}

/** A call's JSON body; Plugin.Activate and GetCapabilities come without one, or with `null`: `{}`. */
async function readBody (req: IncomingMessage): Promise<unknown> {
  const body = await readJson(req, MAX_PLUGIN_BODY_BYTES, (field, reason) => new PluginRequestError(field, reason))
  return body === null ? {} : body
}

/**
 * Serve `plugin` on `socketPath` (dockerd finds `/run/docker/plugins/<name>.sock`).
 * A request dockerd can act on fails with HTTP 200 and `{"Err": "..."}`
 * (`{"Error": "..."}` for IPAM calls; shown to the user); a malformed one with 400, an unknown method with 404
 * (so dockerd treats it as not implemented), a bug with 500.
 */
export function createPluginServer (init: { plugin: DockerPlugin, socketPath: string, logger: Logger }): PluginServer {
  const { plugin, logger } = init
  let server: Server | undefined

  async function serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.url ?? '').replace(/^\//, '').split('?')[0] ?? ''
    if (req.method !== 'POST') {
      send(res, 405, { Err: 'plugin calls are POST' })
      return
    }
    if (!plugin.methods().includes(method)) {
      send(res, 404, { Err: `unknown plugin method ${JSON.stringify(method.slice(0, 80))}` })
      return
    }
    // libnetwork reads a network driver's error from `Err`, an IPAM driver's from `Error`
    const errKey = method.startsWith('IpamDriver.') ? 'Error' : 'Err'
    try {
      const body = await readBody(req)
      logger.debug('plugin call', { method, body })
      const answer = await plugin.handle(method, body, { signal: AbortSignal.timeout(PLUGIN_CALL_TIMEOUT_MS) })
      send(res, 200, answer)
    } catch (err) {
      const e = err as Error
      if (e.name === 'DockerPluginError') {
        logger.warn('plugin call refused', { method, error: e.message })
        send(res, 200, { [errKey]: e.message })
      } else if (e.name === 'PluginRequestError') {
        logger.warn('malformed plugin call', { method, error: e.message })
        send(res, 400, { Err: e.message, [errKey]: e.message })
      } else {
        logger.error('plugin call failed', { method, error: e.message, stack: e.stack })
        send(res, 500, { Err: `${method} failed: ${e.message}`, [errKey]: `${method} failed: ${e.message}` })
      }
    }
  }

  return {
    async start () {
      if (server !== undefined) return
      await mkdir(dirname(init.socketPath), { recursive: true, mode: 0o700 })
      // a socket left by a previous run (the agent does not run twice: the control socket refuses that)
      await unlink(init.socketPath).catch(() => {})
      const s = nodeHttp().createServer((req, res) => { void serve(req, res) })
      await listen(s, { path: init.socketPath })
      await chmod(init.socketPath, 0o600)
      server = s
      logger.info('Docker plugin listening', { socket: init.socketPath })
    },
    async stop () {
      const s = server
      if (s === undefined) return
      server = undefined
      await closeServer(s)
      await unlink(init.socketPath).catch(() => {})
    }
  }
}
