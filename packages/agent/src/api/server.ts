import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import { chmod, mkdir, stat, unlink } from 'node:fs/promises'
import { connect } from 'node:net'
import { dirname } from 'node:path'
import type { Logger } from '../logging/logger.js'
import { DeadlineExceededError, ManagerRequiredError, NotFoundError, ValidationError, isRefusal } from '../errors.js'
import type { Controller } from '../state/controller.js'
import type { AgentRole, AgentStatus, MemberInfo } from '../types.js'
import { closeServer, listen, nodeHttp, readJson, sendError, sendJson } from './http.js'
import { API_FD_SHARE, API_MAX_CONNECTIONS, API_REQUEST_DEADLINE_MS } from '../constants.js'
import { connectionBudget, survivesAcceptErrors } from './fd-budget.js'
import { checkTcpRequest, sendRefusal } from './guard.js'
import { API_ROUTES, ROUTE_NAMES, matchPath, parseQuery, type ApiRoutes, type ResponseOf, type Route, type RouteInput, type RouteName } from './contract.js'

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

/** A handler's answer with a status other than its route's (task add: 200 when the task existed). */
class Answer<T> {
  constructor (readonly status: number, readonly body: T) {}
}

/** The server's half of the contract: one handler per route, given the validated input. */
type Handlers = {
  [K in RouteName]: (input: RouteInput<ApiRoutes[K]>, signal: AbortSignal) => Promise<ResponseOf<ApiRoutes[K]> | Answer<ResponseOf<ApiRoutes[K]>>>
}
/** A handler as the dispatcher calls it (the contract's types checked the table above). */
type AnyHandler = (input: { params: Record<string, string>, query: unknown, body: unknown }, signal: AbortSignal) => Promise<unknown>

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
  const handlers: Handlers = {
    listNetworks: async () => ctl.listNetworks(),
    createNetwork: async ({ body }) => await ctl.createNetwork(body),
    inspectNetwork: async ({ params }) => ctl.inspectNetwork(params.ref),
    removeNetwork: async ({ params, query }) => { await ctl.removeNetwork(params.ref, { force: query.force === true }); return { removed: params.ref } },
    listServices: async () => ctl.listServices(),
    createService: async ({ body }, signal) => await ctl.createService(body, { signal }),
    inspectService: async ({ params }) => ctl.inspectService(params.ref),
    removeService: async ({ params, query }) => { await ctl.removeService(params.ref, { force: query.force === true }); return { removed: params.ref } },
    publishService: async ({ params, body }) => await ctl.publishService(params.ref, body),
    listTasks: async ({ query }) => ctl.listTasks({ service: query.service }),
    inspectTask: async ({ params }) => ctl.inspectTask(params.id),
    addTask: async ({ body }, signal) => {
      const r = await ctl.addTask(body, { signal })
      return r.created ? r.task : new Answer(200, r.task)
    },
    removeTask: async ({ params }) => { await ctl.removeTask(params.id); return { removed: params.id } },
    setTaskState: async ({ params, body }) => ctl.setTaskState(params.id, body.state),
    members: async () => init.members(),
    revokeMember: async ({ params, body }) => ctl.revokeMember(params.id, body.reason),
    unrevokeMember: async ({ params }) => { ctl.unrevokeMember(params.id); return { unrevoked: params.id } },
    resignManagerEntries: async () => ctl.resignManagerEntries(),
    status: async () => init.status(),
    leave: async () => ({ leaving: true })
  }

  /** Run a matched route: validate the body, call its handler, persist a change; the answer's status and body. */
  async function run (name: RouteName, req: IncomingMessage, params: Record<string, string>, query: URLSearchParams, signal: AbortSignal): Promise<{ status: number, body: unknown }> {
    const route: Route = API_ROUTES[name]
    let body: unknown
    if (route.body !== undefined) {
      const raw = await readJson(req)
      body = (await route.body())(raw)
    }
    const out = await (handlers[name] as AnyHandler)({ params, query: parseQuery(route.query, query), body }, signal)
    if (route.mutates) await init.afterMutation()
    return out instanceof Answer ? { status: out.status, body: out.body } : { status: route.status, body: out }
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://scalelb')
    const path = url.pathname
    let pathMatched = false
    try {
      for (const name of ROUTE_NAMES) {
        const route: Route = API_ROUTES[name]
        const raw = matchPath(route.path, path)
        if (raw === undefined) continue
        pathMatched = true
        if (route.method !== req.method) continue
        if (route.managerOnly !== undefined && init.role === 'worker') throw new ManagerRequiredError(route.managerOnly)
        const params = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, decodeURIComponent(v)]))
        const ac = new AbortController()
        const timer = setTimeout(() => { ac.abort(new DeadlineExceededError(`${req.method ?? ''} ${path}`, deadlineMs)) }, deadlineMs)
        let r: { status: number, body: unknown }
        try {
          r = await Promise.race([run(name, req, params, url.searchParams, ac.signal), aborted(ac.signal)])
        } finally {
          clearTimeout(timer)
        }
        sendJson(res, r.status, r.body)
        if (name === 'leave') {
          logger.info('leave requested over the API')
          res.once('finish', () => { init.leave().catch((err: unknown) => logger.error('leave failed', { error: (err as Error).message })) })
        }
        return
      }
      if (pathMatched) sendJson(res, 405, { error: { name: 'MethodNotAllowed', message: `${req.method ?? ''} not allowed on ${path}` } })
      else sendError(res, new NotFoundError('path', `no such endpoint ${path}`))
    } catch (err) {
      const e = err instanceof Error ? err : new ValidationError('body', String(err))
      if (!isRefusal(e)) logger.error('API call failed', { method: req.method, path, error: e.message, stack: e.stack })
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
      const unix = nodeHttp().createServer((req, res) => { void handle(req, res) })
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
        const tcp = nodeHttp().createServer((req, res) => {
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
