import { FieldError } from '../errors.js'

/** Errors of the Docker plugin. Callers branch on `name`. */

/**
 * The plugin understood the request but cannot do it: answered with HTTP 200
 * and `{"Err": message}`, which dockerd shows to the user.
 */
export class DockerPluginError extends Error {
  override name = 'DockerPluginError' as const
}

/** A plugin request is malformed (not JSON, a field missing or of the wrong type): HTTP 400. */
export class PluginRequestError extends FieldError {
  override name = 'PluginRequestError' as const
}

/** A Docker Engine API call failed (dockerd unreachable, an error status, a bad answer). */
export class DockerEngineError extends Error {
  override name = 'DockerEngineError' as const
  /** HTTP status of dockerd's answer, when it answered. */
  readonly status: number | undefined
  constructor (message: string, status?: number) {
    super(message)
    this.status = status
  }
}
