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

/**
 * Log the `n`-th occurrence of a repeated event that a peer can cause at
 * will: the 1st, 10th, 100th, ... as a warning, the others at debug, so a
 * flood cannot flood the log.
 */
export function logRepeated (log: Logger, n: number, msg: string, fields: Record<string, unknown>): void {
  if (/^10*$/.test(String(n))) log.warn(msg, { ...fields, count: n })
  else log.debug(msg, { ...fields, count: n })
}
