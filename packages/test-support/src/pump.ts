import { setImmediate as turn } from 'node:timers/promises'

/** The part of a manual clock the pump drives (gossip's `ManualClock` is one). */
export interface PumpClock {
  now(): number
  advance(ms: number): void
}

/** Options of {@link pump} and {@link pumpUntil}. */
export interface PumpOptions {
  /** Virtual ms per step; promise callbacks run between steps. @default 20 */
  stepMs?: number
  /** Runs after every step; returning false stops the pump (it resolves false). */
  each?: () => boolean
  /** Checked after every step; once it holds the pump stops (it resolves true). */
  until?: () => boolean
}

/** Default of {@link PumpOptions.stepMs}: below every protocol timer the tests use. */
const PUMP_STEP_MS = 20

/**
 * Advance a manual clock by `ms` in steps, letting promises run after each.
 * Resolves false if `each` stopped it, else whether `until` holds at the end
 * (false when no `until` is given and the time ran out).
 */
export async function pump (clock: PumpClock, ms: number, opts: PumpOptions = {}): Promise<boolean> {
  const step = opts.stepMs ?? PUMP_STEP_MS
  const until = opts.until ?? (() => false)
  const end = clock.now() + ms
  while (clock.now() < end) {
    clock.advance(step)
    await turn()
    if (opts.each !== undefined && !opts.each()) return false
    if (until()) return true
  }
  return until()
}

/**
 * {@link pump} until `cond` holds, at most `maxMs` of virtual time; resolves
 * at once (no step) when it already holds. Resolves whether it holds.
 */
export async function pumpUntil (clock: PumpClock, cond: () => boolean, maxMs: number, opts: Omit<PumpOptions, 'until'> = {}): Promise<boolean> {
  return cond() || await pump(clock, maxMs, { ...opts, until: cond })
}
