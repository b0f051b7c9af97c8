/** Typed errors of the agent. Callers branch on `name`. */

/** Base of the errors that blame one input field (flag, env var, config key, API body field). */
export class FieldError extends Error {
  override name: string = 'FieldError'
  /** The input at fault, e.g. `--metrics-addr`, `subnets[0]`. */
  readonly field: string
  constructor (field: string, message: string) {
    super(`${field}: ${message}`)
    this.field = field
  }
}

/** A setting (flag, env var, config file key) has a bad value. */
export class ConfigError extends FieldError {
  override name = 'ConfigError' as const
}

/** A CLI invocation is malformed (unknown command, missing argument). Exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError' as const
}

/** An API request is invalid; HTTP 400. */
export class ValidationError extends FieldError {
  override name = 'ValidationError' as const
}

/** A named object (network, service, task) does not exist; HTTP 404. */
export class NotFoundError extends FieldError {
  override name = 'NotFoundError' as const
}

/** The request conflicts with current state (duplicate name, network in use); HTTP 409. */
export class ConflictError extends FieldError {
  override name = 'ConflictError' as const
}

/** An address pool has no free address and no donation could be obtained; HTTP 409. */
export class PoolExhaustedError extends FieldError {
  override name = 'PoolExhaustedError' as const
}

/**
 * Every address of a network is in use or cooling down on every node that
 * owns part of it (decided from the ring and the usage each owner
 * publishes, not from a timeout); HTTP 409.
 */
export class NetworkFullError extends FieldError {
  override name = 'NetworkFullError' as const
  /** The network's ID. */
  readonly networkId: string
  /** Addresses in use (allocated or cooling down). */
  readonly used: number
  /** Usable addresses of the network's subnets. */
  readonly total: number
  /** Of `used`, addresses released recently: free again once their cooldown ends. */
  readonly cooling: number
  constructor (networkId: string, label: string, counts: { used: number, total: number, cooling: number }) {
    const cooling = counts.cooling > 0 ? ` (${counts.cooling} of them released and cooling down, free again within the reuse cooldown)` : ''
    super('network', `network ${label} is full: ${counts.used}/${counts.total} addresses in use${cooling}`)
    this.networkId = networkId
    this.used = counts.used
    this.total = counts.total
    this.cooling = counts.cooling
  }
}

/** The agent did not finish an API call within its deadline (the call was abandoned); HTTP 503. */
export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError' as const
  /** The deadline that passed, ms. */
  readonly deadlineMs: number
  constructor (what: string, deadlineMs: number) {
    super(`${what} did not finish within ${deadlineMs} ms; it was abandoned (try again)`)
    this.deadlineMs = deadlineMs
  }
}

/** A persisted file (node key, state) is unreadable or corrupt. */
export class PersistenceError extends Error {
  override name = 'PersistenceError' as const
  readonly path: string
  constructor (path: string, message: string) {
    super(`${path}: ${message}`)
    this.path = path
  }
}

/** The agent could not be reached or answered with an error (CLI side). */
export class ApiClientError extends Error {
  override name = 'ApiClientError' as const
  /** HTTP status, or 0 when the agent could not be reached. */
  readonly status: number
  /** The agent's name of the error (`ValidationError`, `NotFoundError`, ...), when it sent one. */
  readonly errorName?: string
  /** The input the agent blamed (`subnets[0]`), when it named one. */
  readonly field?: string
  constructor (status: number, message: string, remote: { errorName?: string, field?: string } = {}) {
    super(message)
    this.status = status
    if (remote.errorName !== undefined) this.errorName = remote.errorName
    if (remote.field !== undefined) this.field = remote.field
  }
}

/** A TCP control API request without the right bearer token; HTTP 401. */
export class UnauthorizedError extends Error {
  override name = 'UnauthorizedError' as const
}

/** A TCP control API request whose Host or Origin is not loopback (browser, DNS rebinding); HTTP 403. */
export class ForbiddenError extends Error {
  override name = 'ForbiddenError' as const
}

/**
 * A worker (a node without the cluster manager key) was asked to change a
 * network or service; HTTP 403. Refused before anything is done.
 */
export class ManagerRequiredError extends Error {
  override name = 'ManagerRequiredError' as const
  /** The refused operation, e.g. `network create`. */
  readonly operation: string
  constructor (operation: string) {
    super(`${operation}: only manager nodes may change networks and services; this agent has no --manager-key-file`)
    this.operation = operation
  }
}

/** A control API request body that is not `application/json`; HTTP 415. */
export class UnsupportedMediaTypeError extends Error {
  override name = 'UnsupportedMediaTypeError' as const
}

/** `scalelb lab` was run but the `@scalelb/lab` package cannot be loaded (not installed beside the agent). */
export class LabNotInstalledError extends Error {
  override name = 'LabNotInstalledError' as const
  /** The package the CLI tried to load. */
  readonly packageName: string
  constructor (packageName: string, reason: string) {
    super(`scalelb lab needs the ${packageName} package, but ${reason}: install it beside @scalelb/agent (npm install ${packageName}), or run \`npm run lab\` in the scalelb repository`)
    this.packageName = packageName
  }
}

/** What an error means to the caller of the control API or the CLI. */
interface ErrorMeaning {
  /** HTTP status the control API answers with. @default 500 */
  readonly http?: number
  /** The caller's request was refused (bad input, a conflict, a rule): the API server logs it at debug, not as a failure. @default false */
  readonly refusal?: boolean
  /** Exit code of the CLI. @default 1 */
  readonly exit?: number
}

/**
 * The one list of error names callers treat specially, by `name` (errors
 * of other packages too, e.g. gossip's NotManagerError). Any other error
 * is a failure: HTTP 500, logged as an error, CLI exit 1.
 */
const ERROR_MEANINGS: ReadonlyMap<string, ErrorMeaning> = new Map([
  ['UsageError', { exit: 2 }],
  ['ConfigError', { exit: 2 }],
  ['ValidationError', { http: 400, refusal: true }],
  ['UnauthorizedError', { http: 401, refusal: true }],
  ['ForbiddenError', { http: 403, refusal: true }],
  ['ManagerRequiredError', { http: 403, refusal: true }],
  // the gossip tables refuse a manager table write on a node without the manager key: a surprise after the role check, so logged as a failure
  ['NotManagerError', { http: 403 }],
  ['NotFoundError', { http: 404, refusal: true }],
  ['ConflictError', { http: 409, refusal: true }],
  ['PoolExhaustedError', { http: 409, refusal: true }],
  ['NetworkFullError', { http: 409, refusal: true }],
  ['UnsupportedMediaTypeError', { http: 415, refusal: true }],
  ['DeadlineExceededError', { http: 503 }]
])

/** HTTP status of an error, by its name (500 for any other error). */
export function httpStatusOf (err: Error): number {
  return ERROR_MEANINGS.get(err.name)?.http ?? 500
}

/** True when an error refuses the caller's request (logged at debug) rather than reporting a failure. */
export function isRefusal (err: Error): boolean {
  return ERROR_MEANINGS.get(err.name)?.refusal ?? false
}

/** The CLI's exit code for an error: 2 for a malformed command line or setting, else 1. */
export function exitCodeOf (err: Error): number {
  return ERROR_MEANINGS.get(err.name)?.exit ?? 1
}

/** True for an error of a malformed command line or setting (the CLI prints it as `scalelb: ...` and exits 2). */
export function isUsageError (err: Error): boolean {
  return exitCodeOf(err) === 2
}
