import { setImmediate as turn, setTimeout as sleep } from 'node:timers/promises'

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** Give up after this long (ms of wall time). @default 20000 */
  timeoutMs?: number
  /** Time between two checks (ms). @default 20 */
  intervalMs?: number
  /** Added to the failure message (a string as is, anything else as JSON), e.g. the state seen. */
  detail?: () => unknown
}

/** Default of {@link WaitOptions.timeoutMs}: long enough for a loaded CI machine, it only bounds a failing run. */
const WAIT_TIMEOUT_MS = 20_000
/** Default of {@link WaitOptions.intervalMs}. */
const WAIT_INTERVAL_MS = 20

/**
 * Check `cond` until it holds; throw naming `what` after the timeout. For
 * real time (sockets, processes, the kernel): code on a manual clock is
 * driven with {@link pump} instead, and no test sleeps a fixed time.
 */
export async function waitFor (what: string, cond: () => boolean | Promise<boolean>, opts: WaitOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? WAIT_TIMEOUT_MS
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) {
      const d = opts.detail?.()
      const detail = d === undefined ? '' : `: ${typeof d === 'string' ? d : JSON.stringify(d)}`
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`)
    }
    await sleep(opts.intervalMs ?? WAIT_INTERVAL_MS)
  }
}

/**
 * Let pending promise callbacks run, without a clock and without wall-time
 * waits: up to `maxTurns` event-loop turns until `cond` holds. Resolves
 * whether it holds.
 */
export async function settle (cond: () => boolean, maxTurns = 200): Promise<boolean> {
  for (let i = 0; i < maxTurns && !cond(); i++) await turn()
  return cond()
}
