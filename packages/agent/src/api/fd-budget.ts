import { readFileSync } from 'node:fs'
import type { Server } from 'node:net'
import type { Logger } from '../logging/logger.js'
import { MIN_LISTENER_CONNECTIONS } from '../constants.js'

/** Soft RLIMIT_NOFILE of this process (Linux /proc/self/limits); undefined when unknown or unlimited. */
export function readOpenFileLimit (limitsText?: string): number | undefined {
  let text = limitsText
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8')
    } catch {
      return undefined
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text)
  if (m === null || m[1] === 'unlimited') return undefined
  return Number(m[1])
}

/**
 * Connections one listener may hold: `max`, but never more than `share` of
 * the open-file limit (each connection is a descriptor), and at least
 * MIN_LISTENER_CONNECTIONS.
 */
export function connectionBudget (max: number, share: number, openFileLimit = readOpenFileLimit()): number {
  const byLimit = openFileLimit === undefined ? max : Math.floor(openFileLimit * share)
  return Math.max(MIN_LISTENER_CONNECTIONS, Math.min(max, byLimit))
}

/**
 * Keep a listening server alive through accept errors (EMFILE when the
 * process runs out of descriptors): without an `error` listener Node throws
 * them and the agent dies. Logs the first and then every 1000th.
 */
export function survivesAcceptErrors (server: Server, logger: Logger, what: string): void {
  let errors = 0
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (errors++ % 1000 === 0) logger.warn('accepting a connection failed', { server: what, code: err.code, error: err.message, errors })
  })
}
