import type { EndpointState } from '../state/tables.js'
import type * as Validate from './validate.js'
import type { Resigned } from '../state/resign.js'
import type { AgentStatus, MemberInfo, NetworkCreateRequest, NetworkInfo, ServiceInfo, TaskAddRequest, TaskInfo } from '../types.js'

/**
 * The control API's contract: every route with its method, path pattern,
 * query parameters, request body (type and validator), success status and
 * response type. The server (api/server.ts) dispatches and validates with
 * it, the typed client (api/client.ts) derives its methods from it, and the
 * CLI calls those methods; nothing else spells a route.
 */

/** HTTP methods the control API uses. */
export type HttpMethod = 'GET' | 'POST' | 'DELETE'

/** Query parameters of a route, by name: a `flag` is true as `1` or `true`; a `string` is taken as given. */
export type QuerySchema = Readonly<Record<string, 'flag' | 'string'>>

/** The values of a route's query parameters, all optional. */
export type QueryValues<Q extends QuerySchema> = { -readonly [K in keyof Q]?: Q[K] extends 'flag' ? boolean : string }

/** Names of the `:name` segments of a path pattern, in order (`/v1/tasks/:id/state` → `['id']`). */
export type PathParams<S extends string> =
  S extends `${string}:${infer P}/${infer Rest}` ? [P, ...PathParams<`/${Rest}`>]
    : S extends `${string}:${infer P}` ? [P] : []

/**
 * One route. `In` is the body a client sends (type only: absent for routes
 * without a body), `B` what the validator makes of it, `R` the response body.
 */
export interface Route<Path extends string = string, Q extends QuerySchema = QuerySchema, In = unknown, B = unknown, R = unknown> {
  readonly method: HttpMethod
  /** Path pattern; `:name` is one percent-encoded segment. */
  readonly path: Path
  readonly query: Q
  /**
   * Loads the request body's validator (api/validate.ts), which throws
   * ValidationError naming the field. Absent: the body is not read.
   */
  readonly body?: () => Promise<Validator<B>>
  /** Status of a successful answer. */
  readonly status: number
  /** The call changes state: it is answered only once the change is persisted (it survives a SIGKILL of the agent). */
  readonly mutates: boolean
  /** Set on changes only managers may make (a worker answers 403 ManagerRequiredError): the operation's name. */
  readonly managerOnly?: string
  /** Type-level only, never set: the request body a client sends and the response body. */
  readonly types?: { request: In, response: R }
}

/** The body a client sends on a route (`undefined`: none). */
export type RequestOf<Rt> = Rt extends Route<string, QuerySchema, infer In, unknown, unknown> ? In : never
/** The response body of a route. */
export type ResponseOf<Rt> = Rt extends Route<string, QuerySchema, unknown, unknown, infer R> ? R : never

/** What the server hands a route's handler: decoded path parameters, query values and the validated body. */
export interface RouteInput<Rt> {
  params: Rt extends Route<infer Path> ? Record<PathParams<Path>[number], string> : never
  query: Rt extends Route<string, infer Q> ? QueryValues<Q> : never
  body: Rt extends Route<string, QuerySchema, unknown, infer B> ? B : never
}

/** One string per path parameter. */
type ParamArgs<P> = P extends string[] ? { [K in keyof P]: string } : []

/** Arguments of a client method: the path parameters in order, then the body (if any), then the query (if any). */
export type ClientArgs<Rt> = Rt extends Route<infer Path, infer Q, infer In>
  ? [
      ...ParamArgs<PathParams<Path>>,
      ...([In] extends [undefined] ? [] : [body: In]),
      ...([keyof Q] extends [never] ? [] : [query?: QueryValues<Q>])
    ]
  : never

/** Validates a request body: returns it typed, or throws ValidationError naming the field. */
export type Validator<B> = (body: unknown) => B

/**
 * The validators, loaded on the server's first call: a client (the CLI's
 * start) never loads them and what they need (ip-num, the MTU rules).
 */
const validators = async (): Promise<typeof Validate> => await import('./validate.js')

type RouteDef<Path extends string, Q extends QuerySchema, In, B> = {
  method: HttpMethod
  path: Path
  query?: Q
  /** @default 200 */
  status?: number
  /** @default false */
  mutates?: boolean
  managerOnly?: string
} & ([In] extends [undefined] ? { body?: never } : { body: () => Promise<Validator<B>> })

/**
 * Declare a route answering `R`, whose client sends `In` (omit for no body):
 * `route<NetworkInfo, NetworkCreateBody>()({ method, path, body: validator, ... })`.
 * A route with a request type must have a validator, one without must not.
 */
function route<R, In = undefined> () {
  return <const Path extends string, B = undefined, const Q extends QuerySchema = Record<never, never>>(def: RouteDef<Path, Q, In, B>): Route<Path, Q, In, B, R> =>
    ({ query: {} as Q, status: 200, mutates: false, ...def }) as Route<Path, Q, In, B, R>
}

/** A port as a client may send it: `80:8080/tcp`, `53/udp`, `8080`, or the object form (`targetPort` defaults to `port`, `proto` to tcp). */
export type PortInput = string | { port: number, targetPort?: number, proto?: 'tcp' | 'udp' }

/** POST /v1/networks body. */
export type NetworkCreateBody = NetworkCreateRequest

/** A published port as a client may send it: `8080:80/tcp`, `published=8080,target=80,protocol=udp,mode=host`, or the object form. */
export type PublishInput = string | { published: number, target?: number, protocol?: 'tcp' | 'udp', mode?: 'ingress' | 'host' }

/** POST /v1/services/:ref/publish body: ports to publish and ports (`8080`, `53/udp`) to withdraw. */
export interface ServicePublishBody {
  add?: PublishInput[]
  rm?: string[]
}

/** POST /v1/services body. */
export interface ServiceCreateBody {
  name: string
  ports: PortInput[]
  /** Network names or ids. */
  networks: string[]
  /** `dnsrr`: no VIP, the name resolves to the task IPs. @default 'vip' */
  endpointMode?: 'vip' | 'dnsrr'
  /** Ports published on every node (mode=ingress) or on nodes with tasks (mode=host). @default none */
  publish?: PublishInput[]
}

/** POST /v1/tasks body: exactly one of `netns` and `ip`; `networks` when there is no `service` (an endpoint-only task). */
export type TaskAddBody = TaskAddRequest

/** POST /v1/tasks/:id/state body. */
export interface TaskStateBody {
  state: EndpointState
}

/** POST /v1/members/:id/revoke body. */
export interface MemberRevokeBody {
  /** Why (at most 200 characters), shown by `scalelb members`. */
  reason?: string
}

/** Answer of a revocation. */
export interface RevokedMember {
  id: string
  atMs: number
  reason?: string
}

/** Answer of a remove. */
export interface Removed {
  /** The name or id as given. */
  removed: string
}

/** Every control API route, by the name of its client method. */
export const API_ROUTES = {
  listNetworks: route<NetworkInfo[]>()({ method: 'GET', path: '/v1/networks' }),
  createNetwork: route<NetworkInfo, NetworkCreateBody>()({ method: 'POST', path: '/v1/networks', body: async () => (await validators()).parseNetworkCreate, status: 201, mutates: true, managerOnly: 'network create' }),
  inspectNetwork: route<NetworkInfo>()({ method: 'GET', path: '/v1/networks/:ref' }),
  removeNetwork: route<Removed>()({ method: 'DELETE', path: '/v1/networks/:ref', query: { force: 'flag' }, mutates: true, managerOnly: 'network rm' }),
  listServices: route<ServiceInfo[]>()({ method: 'GET', path: '/v1/services' }),
  createService: route<ServiceInfo, ServiceCreateBody>()({ method: 'POST', path: '/v1/services', body: async () => (await validators()).parseServiceCreate, status: 201, mutates: true, managerOnly: 'service create' }),
  inspectService: route<ServiceInfo>()({ method: 'GET', path: '/v1/services/:ref' }),
  removeService: route<Removed>()({ method: 'DELETE', path: '/v1/services/:ref', query: { force: 'flag' }, mutates: true, managerOnly: 'service rm' }),
  /** Publish ports of a service and/or withdraw some (`service update --publish-add/--publish-rm`). */
  publishService: route<ServiceInfo, ServicePublishBody>()({ method: 'POST', path: '/v1/services/:ref/publish', body: async () => (await validators()).parseServicePublish, mutates: true, managerOnly: 'service update' }),
  listTasks: route<TaskInfo[]>()({ method: 'GET', path: '/v1/tasks', query: { service: 'string' } }),
  /** A task of this node; 404 NotFoundError on field `task` when there is none. */
  inspectTask: route<TaskInfo>()({ method: 'GET', path: '/v1/tasks/:id' }),
  /** 201 when the task was added, 200 when it existed with the same parameters. */
  addTask: route<TaskInfo, TaskAddBody>()({ method: 'POST', path: '/v1/tasks', body: async () => (await validators()).parseTaskAdd, status: 201, mutates: true }),
  /**
   * 404 NotFoundError on field `task` when this node has no such task (a
   * runtime's repeated DEL takes that as done: see the CNI plugin).
   */
  removeTask: route<Removed>()({ method: 'DELETE', path: '/v1/tasks/:id', mutates: true }),
  setTaskState: route<TaskInfo, TaskStateBody>()({ method: 'POST', path: '/v1/tasks/:id/state', body: async () => (await validators()).parseTaskStateBody, mutates: true }),
  members: route<MemberInfo[]>()({ method: 'GET', path: '/v1/members' }),
  /** Write every network, service and revocation again under this manager's key (`scalelb manager resign`, a key rotation). */
  resignManagerEntries: route<Resigned>()({ method: 'POST', path: '/v1/manager/resign', mutates: true, managerOnly: 'manager resign' }),
  /** Revoke a member (a manager): every node refuses its connections, traffic and entries. */
  revokeMember: route<RevokedMember, MemberRevokeBody>()({ method: 'POST', path: '/v1/members/:id/revoke', body: async () => (await validators()).parseMemberRevoke, mutates: true, managerOnly: 'member revoke' }),
  /** Withdraw a revocation; 404 NotFoundError on field `id` when the member is not revoked. */
  unrevokeMember: route<{ unrevoked: string }>()({ method: 'DELETE', path: '/v1/members/:id/revoke', mutates: true, managerOnly: 'member unrevoke' }),
  status: route<AgentStatus>()({ method: 'GET', path: '/v1/status' }),
  /** Answered first; the agent then leaves the cluster and stops. */
  leave: route<{ leaving: true }>()({ method: 'POST', path: '/v1/leave', status: 202 })
} as const satisfies Record<string, Route>

/** The routes' type, by name. */
export type ApiRoutes = typeof API_ROUTES
/** A route's name (its client method). */
export type RouteName = keyof ApiRoutes

/** The routes' names, in dispatch order. */
export const ROUTE_NAMES = Object.keys(API_ROUTES) as RouteName[]

/** The names of a path pattern's parameters. */
export function pathParamNames (pattern: string): string[] {
  return pattern.split('/').filter((s) => s.startsWith(':')).map((s) => s.slice(1))
}

/**
 * Match a request path against a pattern; returns the raw (still
 * percent-encoded) parameters by name, or undefined when it does not match.
 */
export function matchPath (pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/')
  const got = path.split('/')
  if (want.length !== got.length) return undefined
  const params: Record<string, string> = {}
  for (const [i, w] of want.entries()) {
    const g = got[i] as string
    if (w.startsWith(':')) {
      if (g === '') return undefined
      params[w.slice(1)] = g
    } else if (w !== g) {
      return undefined
    }
  }
  return params
}

/** Read a route's query parameters from a URL's search params. */
export function parseQuery<Q extends QuerySchema> (schema: Q, q: URLSearchParams): QueryValues<Q> {
  const out: Record<string, string | boolean | undefined> = {}
  for (const [k, kind] of Object.entries(schema)) {
    const v = q.get(k)
    out[k] = kind === 'flag' ? v === '1' || v === 'true' : v ?? undefined
  }
  return out as QueryValues<Q>
}

/** The request path of a route: parameters filled in (percent-encoded), then the query (a false flag and an absent string are left out). */
export function buildPath (r: Route, params: readonly string[], query: Record<string, string | boolean | undefined> = {}): string {
  let i = 0
  const path = r.path.split('/').map((s) => s.startsWith(':') ? encodeURIComponent(params[i++] ?? '') : s).join('/')
  const q: string[] = []
  for (const [k, kind] of Object.entries(r.query)) {
    const v = query[k]
    if (kind === 'flag' && v === true) q.push(`${k}=1`)
    else if (kind === 'string' && typeof v === 'string') q.push(`${k}=${encodeURIComponent(v)}`)
  }
  return q.length === 0 ? path : `${path}?${q.join('&')}`
}
