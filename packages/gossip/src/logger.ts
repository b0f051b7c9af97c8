/** Minimal structured logger; winston loggers (and child loggers) fit it. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

/** A logger that discards everything. */
export function createNullLogger (): Logger {
  const noop = (): void => {}
  return { debug: noop, info: noop, warn: noop, error: noop }
}
