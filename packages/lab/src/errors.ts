/** Typed errors of `scalelb lab`. Callers branch on `name`. */

/** A `scalelb lab` argument is malformed (unknown flag, bad value). Exit code 2. */
export class LabUsageError extends Error {
  override name = 'LabUsageError' as const
  /** The flag at fault, e.g. `--nodes`. */
  readonly field: string
  constructor (field: string, message: string) {
    super(`${field}: ${message}`)
    this.field = field
  }
}

/** The lab state file is missing, unreadable or corrupt. */
export class LabStateError extends Error {
  override name = 'LabStateError' as const
  /** The file or field at fault. */
  readonly field: string
  constructor (field: string, message: string) {
    super(`${field}: ${message}`)
    this.field = field
  }
}

/** Building or running the lab failed (a command, an agent that did not come up). */
export class LabError extends Error {
  override name = 'LabError' as const
}

/** The lab did not reach the expected state in time. */
export class LabTimeoutError extends Error {
  override name = 'LabTimeoutError' as const
}
