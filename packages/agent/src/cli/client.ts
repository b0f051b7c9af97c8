import { ApiClientError } from '../errors.js'
import { CLI_TIMEOUT_MS } from '../constants.js'

/** Where the CLI finds the agent: its unix socket or a loopback TCP address (with the bearer token it requires). */
export type ApiTarget = { socketPath: string } | { host: string, port: number, token?: string }

/** Minimal JSON client of the control API. */
export interface ApiClient {
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<T>
}

/** Create a client; errors are {@link ApiClientError} (status 0 = agent unreachable). */
export function createApiClient (target: ApiTarget, timeoutMs = CLI_TIMEOUT_MS): ApiClient {
  return {
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
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
              const err = (parsed as { error?: { message?: string } } | undefined)?.error
              reject(new ApiClientError(status, err?.message ?? `HTTP ${status}`))
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
  }
}
