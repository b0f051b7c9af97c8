/** A spec handed to a programmer is invalid; `field` names the offending field (e.g. `services[3].ports[0].port`). */
export class ProgrammerInputError extends Error {
  override name = 'ProgrammerInputError' as const
  readonly field: string

  constructor (field: string, message: string) {
    super(`${field}: ${message}`)
    this.field = field
  }
}

/** Unknown programmer kind or LB mode. */
export class UnknownProgrammerError extends Error {
  override name = 'UnknownProgrammerError' as const
}

/** A memory programmer was told to fail (fault injection in tests). */
export class InjectedFailureError extends Error {
  override name = 'InjectedFailureError' as const
}
