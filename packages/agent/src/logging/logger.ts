import winston from 'winston'
import type { Writable } from 'node:stream'

/** Log levels the agent uses (CONVENTIONS.md: error = act, warn = degraded, info = lifecycle, debug = per event). */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug'

/** All accepted log levels, most severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug']

/** The logger type passed to every component. */
export type Logger = winston.Logger

/** Options of {@link createRootLogger}. */
export interface LoggerInit {
  /** Minimum level written. @default 'info' */
  level?: LogLevel
  /** Where JSON lines go. @default process.stdout */
  stream?: Writable
  /** Fields added to every line (e.g. node id). */
  defaultMeta?: Record<string, unknown>
  /** Write nothing (tests). @default false */
  silent?: boolean
}

/**
 * The agent's root logger: winston, one JSON object per line on stdout, with a
 * timestamp. Components take `root.child({ component })`.
 */
export function createRootLogger (init: LoggerInit = {}): Logger {
  const logger = winston.createLogger({
    level: init.level ?? 'info',
    levels: { error: 0, warn: 1, info: 2, debug: 3 },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    defaultMeta: init.defaultMeta,
    silent: init.silent ?? false,
    transports: [new winston.transports.Stream({ stream: init.stream ?? process.stdout })]
  })
  skipDisabledLevels(logger)
  return logger
}

/**
 * winston runs every call through its streams and formats (timestamp, JSON)
 * before the transport drops a level that is off: at the default level
 * `info`, the `debug` line of each kernel transaction cost ~8 % of a churning
 * agent's CPU (bench:cluster profile). Here each level method returns at once
 * when its level is off, checked per call (a changed `level` applies); child
 * loggers inherit the methods.
 */
function skipDisabledLevels (logger: Logger): void {
  const methods = logger as unknown as Record<LogLevel, (...args: unknown[]) => Logger>
  for (const level of LOG_LEVELS) {
    const write = methods[level]
    Object.defineProperty(logger, level, {
      // a method called unbound logs through the root, as winston's own do
      value: function (this: Logger | undefined, ...args: unknown[]): Logger {
        const self = this ?? logger
        return self.isLevelEnabled(level) ? write.apply(self, args) : self
      },
      writable: true,
      configurable: true
    })
  }
}

/** A logger that writes nothing (tests, library use). */
export function createSilentLogger (): Logger {
  return createRootLogger({ silent: true })
}

/** The per-component child logger: every line carries `component`. */
export function componentLogger (root: Logger, component: string): Logger {
  return root.child({ component })
}
