import { createServer, type Server } from 'node:http'
import type { Logger } from '../logging/logger.js'
import type { AgentMetrics } from '../metrics.js'
import type { AgentStatus } from '../types.js'
import { closeServer, listen, sendJson } from '../api/http.js'

/** Options of {@link createStatusServer}. */
export interface StatusServerInit {
  host: string
  port: number
  metrics: AgentMetrics
  logger: Logger
  /** Ready = reconciler synced and gossip started. */
  ready: () => boolean
  status: () => AgentStatus
}

/** Read-only status server: /metrics, /healthz, /readyz, /v1/status. */
export interface StatusServer {
  start(): Promise<void>
  stop(): Promise<void>
  /** Bound port (useful with port 0). */
  port(): number
}

/**
 * Create the status server. Only GET/HEAD are served; nothing here mutates
 * the agent (the control API lives on the unix socket).
 */
export function createStatusServer (init: StatusServerInit): StatusServer {
  let server: Server | undefined
  let port = init.port
  return {
    async start () {
      if (server !== undefined) return
      server = createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          sendJson(res, 405, { error: { name: 'MethodNotAllowed', message: 'the status server is read-only; use the control API socket' } })
          return
        }
        if (path === '/metrics') {
          init.metrics.registry.metrics().then((text) => {
            res.writeHead(200, { 'content-type': init.metrics.registry.contentType })
            res.end(text)
          }, (err: unknown) => {
            init.logger.error('metrics collection failed', { error: (err as Error).message })
            res.writeHead(500).end()
          })
        } else if (path === '/healthz') {
          sendJson(res, 200, { ok: true })
        } else if (path === '/readyz') {
          const ready = init.ready()
          sendJson(res, ready ? 200 : 503, { ready })
        } else if (path === '/v1/status') {
          sendJson(res, 200, init.status())
        } else {
          sendJson(res, 404, { error: { name: 'NotFoundError', message: `no such endpoint ${path}` } })
        }
      })
      port = await listen(server, { host: init.host, port: init.port })
      init.logger.info('status server listening', { addr: `${init.host}:${port}` })
    },
    async stop () {
      if (server === undefined) return
      await closeServer(server)
      server = undefined
    },
    port: () => port
  }
}
