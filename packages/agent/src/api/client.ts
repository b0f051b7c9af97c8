import { ApiClientError } from '../errors.js'
import { CLI_TIMEOUT_MS } from '../constants.js'
import { API_ROUTES, ROUTE_NAMES, buildPath, pathParamNames, type ApiRoutes, type ClientArgs, type ResponseOf, type Route } from './contract.js'

/** Where a client finds the agent: its unix socket, or a loopback TCP address with the bearer token it requires. */
export type ApiTarget = { socketPath: string } | { host: string, port: number, token?: string }

/** One method per route of the contract (api/contract.ts), e.g. `createNetwork(body): Promise<NetworkInfo>`. */
export type ApiMethods = { [K in keyof ApiRoutes]: (...args: ClientArgs<ApiRoutes[K]>) => Promise<ResponseOf<ApiRoutes[K]>> }

/** JSON client of the control API: typed methods derived from the contract. */
export interface ApiClient extends ApiMethods {
  /**
   * A raw request by method and path, outside the contract: for tests of
   * how the server answers requests no route describes (405, 404). Code
   * calls the typed methods.
   */
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<T>
}

/**
 * Create a client; usable on its own (CLI, lab, runtime plugins). Errors
 * are {@link ApiClientError}: status 0 when the agent cannot be reached,
 * else the HTTP status with the agent's error name, field and message.
 */
export function createApiClient (target: ApiTarget, timeoutMs = CLI_TIMEOUT_MS): ApiClient {
  const send = async <T>(method: string, path: string, body?: unknown): Promise<T> => await request<T>(target, timeoutMs, method, path, body)
  const methods: Record<string, (...args: unknown[]) => Promise<unknown>> = {}
  for (const name of ROUTE_NAMES) {
    const r: Route = API_ROUTES[name]
    const nParams = pathParamNames(r.path).length
    const hasQuery = Object.keys(r.query).length > 0
    methods[name] = async (...args) => {
      const params = args.slice(0, nParams) as string[]
      const body = r.body === undefined ? undefined : args[nParams]
      const query = hasQuery ? args[nParams + (r.body === undefined ? 0 : 1)] as Record<string, string | boolean | undefined> | undefined : undefined
      return await send(r.method, buildPath(r, params, query), body)
    }
  }
  return { ...(methods as unknown as ApiMethods), call: send }
}

/** One HTTP call; resolves with the parsed JSON answer of a 2xx/3xx status. */
async function request<T> (target: ApiTarget, timeoutMs: number, method: string, path: string, body: unknown): Promise<T> {
  // Loaded on first use (`scalelb --version` never needs it), and not with
  // `import`: node:http's ES module facade reads every export, including
  // the lazy ones that load undici (fetch, WebSocket), about 60 ms of a
  // CLI start measured here; the CommonJS view does not.
  const { request } = process.getBuiltinModule('node:http')
  const data = body === undefined ? undefined : JSON.stringify(body)
  return await new Promise<T>((resolve, reject) => {
    const req = request({
      ...('socketPath' in target ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
      method,
      path,
      timeout: timeoutMs,
      headers: {
        ...(data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }),
        ...('token' in target && target.token !== undefined ? { authorization: `Bearer ${target.token}` } : {})
      }
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown
        try {
          parsed = text === '' ? undefined : JSON.parse(text)
        } catch {
          reject(new ApiClientError(res.statusCode ?? 0, `agent sent invalid JSON (HTTP ${res.statusCode ?? 0})`))
          return
        }
        const status = res.statusCode ?? 0
        if (status >= 400) {
          const err = (parsed as { error?: { name?: unknown, field?: unknown, message?: string } } | undefined)?.error
          reject(new ApiClientError(status, err?.message ?? `HTTP ${status}`, {
            ...(typeof err?.name === 'string' ? { errorName: err.name } : {}),
            ...(typeof err?.field === 'string' ? { field: err.field } : {})
          }))
        } else {
          resolve(parsed as T)
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', (err) => {
      const where = 'socketPath' in target ? target.socketPath : `${target.host}:${target.port}`
      reject(new ApiClientError(0, `cannot reach the agent at ${where}: ${err.message}`))
    })
    if (data !== undefined) req.write(data)
    req.end()
  })
}
