import type { Server } from 'node:http'
import type { Logger } from '../logging/logger.js'
import type { AgentMetrics } from '../metrics.js'
import type { AgentStatus } from '../types.js'
import { closeServer, listen, nodeHttp, sendJson } from '../api/http.js'
import { connectionBudget, survivesAcceptErrors } from '../api/fd-budget.js'
import { isLoopbackHost } from '../config/values.js'
import {
  STATUS_FD_SHARE, STATUS_HEADERS_TIMEOUT_MS, STATUS_IDLE_TIMEOUT_MS, STATUS_KEEPALIVE_TIMEOUT_MS, STATUS_MAX_CONNECTIONS, STATUS_REQUEST_TIMEOUT_MS
} from '../constants.js'
import { capConnections, type ConnectionCap } from './connection-cap.js'

/** How much `/v1/status` shows on a non-loopback address. */
export type StatusDetail = 'summary' | 'full'

/** What `/v1/status` shows off loopback by default: what Prometheus and health checks need. */
export type StatusSummary = Pick<AgentStatus, 'node' | 'version' | 'ready'> & { gossip: { members: Record<string, number> } }

/** Options of {@link createStatusServer}. */
export interface StatusServerInit {
  host: string
  port: number
  metrics: AgentMetrics
  logger: Logger
  /** Ready = reconciler synced and gossip started. */
  ready: () => boolean
  status: () => AgentStatus
  /**
   * `/v1/status` to a request that reached a non-loopback address: `summary`
   * (node, version, ready, member counts) or `full`. Loopback always gets full.
   * @default 'summary'
   */
  statusDetail?: StatusDetail
  /** Connections held at most (beyond it the idlest is closed). @default min(STATUS_MAX_CONNECTIONS, STATUS_FD_SHARE of RLIMIT_NOFILE) */
  maxConnections?: number
}

/** Read-only status server: /metrics, /healthz, /readyz, /v1/status. */
export interface StatusServer {
  start(): Promise<void>
  stop(): Promise<void>
  /** Bound port (useful with port 0). */
  port(): number
  /** Connections held now. */
  connections(): number
}

/** The summary view of a status. */
export function statusSummary (s: AgentStatus): StatusSummary {
  return { node: s.node, version: s.version, ready: s.ready, gossip: { members: s.gossip.members } }
}

/**
 * Create the status server. Only GET/HEAD are served; nothing here mutates
 * the agent (the control API lives on the unix socket). It holds a bounded
 * number of connections with short timeouts, so a flood on it cannot use up
 * the descriptors the control API and gossip need.
 */
export function createStatusServer (init: StatusServerInit): StatusServer {
  let server: Server | undefined
  let cap: ConnectionCap | undefined
  let port = init.port
  const maxConnections = init.maxConnections ?? connectionBudget(STATUS_MAX_CONNECTIONS, STATUS_FD_SHARE)
  return {
    async start () {
      if (server !== undefined) return
      server = nodeHttp().createServer({ headersTimeout: STATUS_HEADERS_TIMEOUT_MS, requestTimeout: STATUS_REQUEST_TIMEOUT_MS, keepAliveTimeout: STATUS_KEEPALIVE_TIMEOUT_MS }, (req, res) => {
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
          const local = isLoopbackHost((req.socket.localAddress ?? '').replace(/^::ffff:/, ''))
          const s = init.status()
          sendJson(res, 200, local || init.statusDetail === 'full' ? s : statusSummary(s))
        } else {
          sendJson(res, 404, { error: { name: 'NotFoundError', message: `no such endpoint ${path}` } })
        }
      })
      // an idle socket (no request at all) is closed too, not only a slow request
      server.timeout = STATUS_IDLE_TIMEOUT_MS
      cap = capConnections(server, maxConnections, (reason) => init.metrics.statusConnectionDropped(reason))
      port = await listen(server, { host: init.host, port: init.port })
      survivesAcceptErrors(server, init.logger, 'status')
      init.logger.info('status server listening', { addr: `${init.host}:${port}`, maxConnections })
    },
    async stop () {
      if (server === undefined) return
      await closeServer(server)
      server = undefined
    },
    port: () => port,
    connections: () => cap?.open() ?? 0
  }
}
