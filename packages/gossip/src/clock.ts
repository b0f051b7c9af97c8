import type { Clock, Millis } from './types.js'

/** A clock advanced by hand: for tests and the simulator. */
export interface ManualClock extends Clock {
  /** Move time forward by `ms`, running due timers in time order. */
  advance(ms: Millis): void
  /** Move time to `t` (no-op if in the past), running due timers in order. */
  advanceTo(t: Millis): void
  /** Number of pending timers. */
  pending(): number
}

interface Timer { at: Millis, seq: number, fn: () => void, cancelled: boolean }

/**
 * Create a manual clock starting at `start` ms. Timers set for the same time
 * run in the order they were set.
 */
export function createManualClock (start: Millis = 0): ManualClock {
  let now = start
  let seq = 0
  let timers: Timer[] = []
  const advanceTo = (t: Millis): void => {
    for (;;) {
      let best: Timer | undefined
      for (const tm of timers) {
        if (tm.cancelled || tm.at > t) continue
        if (best === undefined || tm.at < best.at || (tm.at === best.at && tm.seq < best.seq)) best = tm
      }
      if (best === undefined) break
      timers = timers.filter(x => x !== best && !x.cancelled)
      if (best.at > now) now = best.at
      best.fn()
    }
    if (t > now) now = t
  }
  return {
    now: () => now,
    setTimer (ms, fn) {
      const tm: Timer = { at: now + Math.max(0, ms), seq: seq++, fn, cancelled: false }
      timers.push(tm)
      return () => { tm.cancelled = true }
    },
    advance (ms) { advanceTo(now + ms) },
    advanceTo,
    pending: () => timers.filter(t => !t.cancelled).length
  }
}

/** The real clock: `Date.now()` and `setTimeout` (timers are unref'd). */
export function createSystemClock (): Clock {
  return {
    now: () => Date.now(),
    setTimer (ms, fn) {
      const h = setTimeout(fn, Math.max(0, ms))
      h.unref?.()
      return () => { clearTimeout(h) }
    }
  }
}

/**
 * Run `fn` with a signal that aborts `ms` after now on `clock` (a
 * `TimeoutError` DOMException, as AbortSignal.timeout) or when `signal`
 * aborts; `fn` also gets the timeout alone, to tell the two apart. The timer
 * is dropped once `fn` settles. Like AbortSignal.timeout, but driven by the
 * injected clock, so a manual clock drives it in tests.
 */
export async function withTimeout<T> (
  clock: Clock, ms: number, signal: AbortSignal | undefined,
  fn: (signal: AbortSignal, timeout: AbortSignal) => Promise<T>
): Promise<T> {
  const ctl = new AbortController()
  const cancel = clock.setTimer(ms, () => { ctl.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')) })
  try {
    return await fn(signal !== undefined ? AbortSignal.any([ctl.signal, signal]) : ctl.signal, ctl.signal)
  } finally {
    cancel()
  }
}
