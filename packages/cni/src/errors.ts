import type { CniErrorResult } from './types.js'

/**
 * An error the plugin reports to the runtime as the spec's error JSON
 * (`{cniVersion, code, msg, details}` on stdout, non-zero exit). `msg`
 * starts with the field at fault: a configuration key, a CNI_* variable.
 */
export class CniError extends Error {
  override name = 'CniError' as const
  /** Spec (1-99) or scalelb (100+) error code: see CNI_ERR and SCALELB_ERR. */
  readonly code: number
  /** Longer text for logs (the agent's own error, a stack). */
  readonly details: string | undefined
  constructor (code: number, msg: string, details?: string) {
    super(msg)
    this.code = code
    this.details = details
  }

  /** The spec's error JSON, in the request's cniVersion. */
  toResult (cniVersion: string): CniErrorResult {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details === undefined ? {} : { details: this.details }) }
  }
}
