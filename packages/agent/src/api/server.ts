import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http'
import { chmod, mkdir, stat, unlink } from 'node:fs/promises'
import { connect } from 'node:net'
import { dirname } from 'node:path'
import type { Logger } from '../logging/logger.js'
import { DeadlineExceededError, ManagerRequiredError, NotFoundError, ValidationError } from '../errors.js'
import type { Controller } from '../state/controller.js'
import type { AgentRole, AgentStatus, MemberInfo } from '../types.js'
import { closeServer, listen, readJson, sendError, sendJson } from './http.js'
import { API_FD_SHARE, API_MAX_CONNECTIONS, API_REQUEST_DEADLINE_MS } from '../constants.js'
import { connectionBudget, survivesAcceptErrors } from './fd-budget.js'
import { checkTcpRequest, sendRefusal } from './guard.js'
import { parseNetworkCreate, parseServiceCreate, parseTaskAdd, parseTaskState } from './validate.js'

/** Options of {@link createApiServer}. */
export interface ApiServerInit {
  controller: Controller
  logger: Logger
  /** Unix socket path. */
  socketPath: string
  /** Optional loopback TCP address (validated as loopback by the config). */
  tcp?: { host: string, port: number }
  /** Bearer token the TCP listener requires (api/token.ts); required with `tcp`. */
  token?: string
  /** This node's role: a `worker` refuses network and service changes (403). */
  role: AgentRole
  /** Connections each listener holds at most. @default min(API_MAX_CONNECTIONS, API_FD_SHARE of RLIMIT_NOFILE) */
  maxConnections?: number
  members: () => MemberInfo[]
  status: () => AgentStatus
  /** Awaited after every mutation before answering (persist state: an answered call survives a SIGKILL). */
  afterMutation: () => Promise<void>
  /** `scalelb leave`: answered first, then run. */
  leave: () => Promise<void>
  /**
   * Every call is answered within this long: past it the call's signal is
   * aborted (waits for donations stop, the work rolls back) and the caller
   * gets a DeadlineExceededError (HTTP 503).
   * @default API_REQUEST_DEADLINE_MS (20 s, under the CLI's 30 s timeout)
   */
  requestDeadlineMs?: number
}

/** The control API (HTTP+JSON). */
export interface ApiServer {
  start(): Promise<void>
  stop(): Promise<void>
  /** Bound TCP port of the loopback listener, if any. */
  tcpPort(): number | undefined
}

type Handler = (req: IncomingMessage, params: string[], query: URLSearchParams, signal: AbortSignal) => Promise<{ status: number, body: unknown }>
/** One route: method, path, handler, and for a change of networks or services its name (managers only). */
type Route = [method: string, path: RegExp, handler: Handler, clusterChange?: string]

/** Rejects with the signal's reason once it aborts. */
async function aborted (signal: AbortSignal): Promise<never> {
  return await new Promise<never>((_resolve, reject) => {
    signal.addEventListener('abort', () => { reject(signal.reason as Error) }, { once: true })
  })
}

async function socketInUse (path: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

/**
 * The socket's file mode (0660) is its only guard: refuse a directory anyone
 * may write to (they could replace the socket), warn for a sticky one (/tmp).
 */
async function checkSocketDir (dir: string, logger: Logger): Promise<void> {
  const mode = (await stat(dir)).mode
  if ((mode & 0o002) === 0) return
  if ((mode & 0o1000) === 0) throw new ValidationError('--api-socket', `directory ${dir} is world-writable: anyone could replace the control socket; use a directory only root can write`)
  logger.warn('control socket directory is world-writable (sticky)', { dir })
}

/** Create the control API server: routes under /v1 on a unix socket and optionally loopback TCP. */
export function createApiServer (init: ApiServerInit): ApiServer {
  const { controller: ctl, logger } = init
  const deadlineMs = init.requestDeadlineMs ?? API_REQUEST_DEADLINE_MS
  const force = (q: URLSearchParams): boolean => q.get('force') === '1' || q.get('force') === 'true'
  const mutated = async <T>(status: number, body: T): Promise<{ status: number, body: T }> => {
    await init.afterMutation()
    return { status, body }
  }
  const routes: Route[] = [
    ['GET', /^\/v1\/networks$/, async () => ({ status: 200, body: ctl.listNetworks() })],
    ['POST', /^\/v1\/networks$/, async (req) => await mutated(201, await ctl.createNetwork(parseNetworkCreate(await readJson(req)))), 'network create'],
    ['GET', /^\/v1\/networks\/([^/]+)$/, async (_r, p) => ({ status: 200, body: ctl.inspectNetwork(p[0] as string) })],
    ['DELETE', /^\/v1\/networks\/([^/]+)$/, async (_r, p, q) => { await ctl.removeNetwork(p[0] as string, { force: force(q) }); return await mutated(200, { removed: p[0] }) }, 'network rm'],
    ['GET', /^\/v1\/services$/, async () => ({ status: 200, body: ctl.listServices() })],
    ['POST', /^\/v1\/services$/, async (req, _p, _q, signal) => await mutated(201, await ctl.createService(parseServiceCreate(await readJson(req)), { signal })), 'service create'],
    ['GET', /^\/v1\/services\/([^/]+)$/, async (_r, p) => ({ status: 200, body: ctl.inspectService(p[0] as string) })],
    ['DELETE', /^\/v1\/services\/([^/]+)$/, async (_r, p, q) => { await ctl.removeService(p[0] as string, { force: force(q) }); return await mutated(200, { removed: p[0] }) }, 'service rm'],
    ['GET', /^\/v1\/tasks$/, async (_r, _p, q) => ({ status: 200, body: ctl.listTasks({ service: q.get('service') ?? undefined }) })],
    ['POST', /^\/v1\/tasks$/, async (req, _p, _q, signal) => {
      const r = await ctl.addTask(parseTaskAdd(await readJson(req)), { signal })
      return await mutated(r.created ? 201 : 200, r.task)
    }],
    ['DELETE', /^\/v1\/tasks\/([^/]+)$/, async (_r, p) => { await ctl.removeTask(p[0] as string); return await mutated(200, { removed: p[0] }) }],
    ['POST', /^\/v1\/tasks\/([^/]+)\/state$/, async (req, p) => {
      const b = await readJson(req) as Record<string, unknown>
      return await mutated(200, ctl.setTaskState(p[0] as string, parseTaskState(b?.state)))
    }],
    ['GET', /^\/v1\/members$/, async () => ({ status: 200, body: init.members() })],
    ['GET', /^\/v1\/status$/, async () => ({ status: 200, body: init.status() })],
    ['POST', /^\/v1\/leave$/, async () => ({ status: 202, body: { leaving: true } })]
  ]

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://scalelb')
    const path = url.pathname
    let pathMatched = false
    try {
      for (const [method, re, h, clusterChange] of routes) {
        const m = re.exec(path)
        if (m === null) continue
        pathMatched = true
        if (method !== req.method) continue
        if (clusterChange !== undefined && init.role === 'worker') throw new ManagerRequiredError(clusterChange)
        const params = m.slice(1).map((x) => decodeURIComponent(x))
        const ac = new AbortController()
        const timer = setTimeout(() => { ac.abort(new DeadlineExceededError(`${req.method ?? ''} ${path}`, deadlineMs)) }, deadlineMs)
        let r: { status: number, body: unknown }
        try {
          r = await Promise.race([h(req, params, url.searchParams, ac.signal), aborted(ac.signal)])
        } finally {
          clearTimeout(timer)
        }
        sendJson(res, r.status, r.body)
        if (path === '/v1/leave') {
          logger.info('leave requested over the API')
          res.once('finish', () => { init.leave().catch((err: unknown) => logger.error('leave failed', { error: (err as Error).message })) })
        }
        return
      }
      if (pathMatched) sendJson(res, 405, { error: { name: 'MethodNotAllowed', message: `${req.method ?? ''} not allowed on ${path}` } })
      else sendError(res, new NotFoundError('path', `no such endpoint ${path}`))
    } catch (err) {
      const e = err instanceof Error ? err : new ValidationError('body', String(err))
      if (!['ValidationError', 'NotFoundError', 'ConflictError', 'PoolExhaustedError', 'NetworkFullError', 'ManagerRequiredError'].includes(e.name)) logger.error('API call failed', { method: req.method, path, error: e.message, stack: e.stack })
      else logger.debug('API call refused', { method: req.method, path, error: e.message })
      if (!res.headersSent) sendError(res, e)
    }
  }

  const servers: Server[] = []
  let tcpPort: number | undefined
  let started = false
  return {
    async start () {
      if (started) return
      started = true
      const maxConnections = init.maxConnections ?? connectionBudget(API_MAX_CONNECTIONS, API_FD_SHARE)
      const unix = createServer((req, res) => { void handle(req, res) })
      unix.maxConnections = maxConnections
      await mkdir(dirname(init.socketPath), { recursive: true, mode: 0o755 })
      await checkSocketDir(dirname(init.socketPath), logger)
      if (await socketInUse(init.socketPath)) throw new ValidationError('--api-socket', `${init.socketPath} is in use by another agent`)
      await unlink(init.socketPath).catch(() => {})
      await listen(unix, { path: init.socketPath })
      await chmod(init.socketPath, 0o660)
      survivesAcceptErrors(unix, logger, 'api-socket')
      servers.push(unix)
      if (init.tcp !== undefined) {
        const token = init.token
        if (token === undefined) throw new ValidationError('--api-addr', 'the TCP control API needs a token')
        const tcp = createServer((req, res) => {
          const refused = checkTcpRequest(req, token)
          if (refused === undefined) { void handle(req, res); return }
          logger.debug('TCP control API request refused', { method: req.method, path: req.url, reason: refused.name, origin: req.headers.origin, host: req.headers.host })
          sendRefusal(res, refused)
        })
        tcp.maxConnections = maxConnections
        tcpPort = await listen(tcp, init.tcp)
        survivesAcceptErrors(tcp, logger, 'api-tcp')
        servers.push(tcp)
      }
      logger.info('control API listening', { socket: init.socketPath, tcp: init.tcp === undefined ? undefined : `${init.tcp.host}:${tcpPort ?? ''}` })
    },
    async stop () {
      for (const s of servers.splice(0)) await closeServer(s)
      if (started) await unlink(init.socketPath).catch(() => {})
      started = false
    },
    tcpPort: () => tcpPort
  }
}
