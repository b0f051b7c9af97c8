import type { Clock } from '@scalelb/gossip'
import type { Logger } from 'winston'
import { ProgrammerInputError } from '../spec/errors.js'
import type { ApplyResult, NetworkDesired, Programmer } from '../spec/types.js'
import { BUSY_COALESCE_MS, BUSY_QUIET_MS, COALESCE_MS, RESYNC_INTERVAL_MS, RETRY_MAX_MS, RETRY_MIN_MS } from './constants.js'
import { ReconcilerAbortedError } from './errors.js'
import { sameDesired } from './same-desired.js'

/** Figures of one network's apply, given to `onApplied`. */
export type AppliedResult = ApplyResult & { durationMs: number }

/** Options of {@link createReconciler}. */
export interface ReconcilerInit {
  programmer: Programmer
  clock: Clock
  logger?: Logger
  /** @default COALESCE_MS (50) */
  coalesceMs?: number
  /** The window while changes keep coming (see `windowLeft`). @default BUSY_COALESCE_MS (200) */
  busyCoalesceMs?: number
  /** @default RESYNC_INTERVAL_MS (60 s) */
  resyncIntervalMs?: number
  /** @default RETRY_MIN_MS (200) */
  retryMinMs?: number
  /** @default RETRY_MAX_MS (30 s) */
  retryMaxMs?: number
  /** Called after each network's apply or removal that changed the kernel. */
  onApplied?: (networkId: string, result: AppliedResult) => void
}

/** Options of {@link Reconciler.flush}. */
export interface FlushOptions {
  signal?: AbortSignal
  /**
   * Apply now rather than at the end of the coalescing window (an API call
   * waiting for its change). A waiter that only needs to run after the
   * change (the ingress pass, on every table event) passes false, so events
   * arriving close together still share one kernel transaction per sandbox.
   * @default true
   */
  now?: boolean
}

/** Figures of {@link Reconciler.stats}. */
export interface ReconcilerStats {
  transactions: number
  failures: number
  kernelObjects: number
  sandboxes: number
  lastSyncDurationMs: number
}

/** Keeps the kernel equal to the desired state: diff, coalesce, one transaction per sandbox per tick, resync on failure. */
export interface Reconciler {
  /** Replace the whole desired state (networkId -> desired). Changes are coalesced (coalesceMs) and applied as one kernel transaction per sandbox. */
  setDesired(all: Map<string, NetworkDesired>): void
  /**
   * Adopt the kernel state (a restart does not cut traffic), then remove
   * sandboxes of networks not desired and apply the rest. Call setDesired
   * first. Resolves after this first pass even if it failed (it is then
   * retried with backoff; `synced()` tells).
   */
  start(): Promise<void>
  /** Stop timers and wait for a running tick; kernel state stays. Safe to call twice. */
  stop(): Promise<void>
  /**
   * Wait until the desired state as of this call is applied (or superseded
   * by a newer one): later setDesired calls do not hold it back. Rejects
   * with ReconcilerAbortedError when aborted, stopped or not running.
   */
  flush(opts?: FlushOptions): Promise<void>
  /** True when the kernel holds everything desired so far. */
  synced(): boolean
  stats(): ReconcilerStats
  /**
   * Networks whose last apply failed, id -> error: a refused desired state
   * (kept until that network's desired state changes and applies) or a failed
   * kernel transaction (kept until a retry applies it). For inspect and status.
   */
  errors(): ReadonlyMap<string, string>
  /** Remove everything this agent created (`scalelb leave`, --leave-on-stop), then stop. */
  teardown(): Promise<void>
}

class DefaultReconciler implements Reconciler {
  private readonly p: Programmer
  private readonly clock: Clock
  private readonly logger: Logger | undefined
  private readonly coalesceMs: number
  private readonly busyCoalesceMs: number
  /** The coalescing window now: coalesceMs after a quiet spell, busyCoalesceMs while changes keep coming. */
  private windowMs: number
  private readonly resyncMs: number
  private readonly retryMin: number
  private readonly retryMax: number
  private readonly onApplied: ReconcilerInit['onApplied']
  private desired = new Map<string, NetworkDesired>()
  /** Last desired applied successfully (or refused), per network, to skip unchanged ones. */
  private applied = new Map<string, NetworkDesired>()
  private dirty = new Set<string>()
  private needResync = false
  private running: Promise<void> | undefined
  /** What `running` is: a tick (changes the kernel) or the periodic check (only reads it). */
  private runningKind: 'tick' | 'check' | undefined
  private cancelTick: (() => void) | undefined
  private cancelResync: (() => void) | undefined
  private started = false
  private stopped = false
  private consecutiveFailures = 0
  private failures = 0
  private lastSyncDurationMs = 0
  /** When the last kernel transaction of a tick ended (clock ms); the coalescing window counts from it. */
  private lastTransactionAt = -Infinity
  /** Bumped by every setDesired. */
  private generation = 0
  /** Generation whose desired state the kernel holds (that of the start of the last successful tick). */
  private appliedGeneration = 0
  private waiters: Array<{ generation: number, now: boolean, resolve: () => void, reject: (e: Error) => void }> = []
  private readonly lastErrors = new Map<string, string>()

  constructor (init: ReconcilerInit) {
    this.p = init.programmer
    this.clock = init.clock
    this.logger = init.logger
    this.coalesceMs = init.coalesceMs ?? COALESCE_MS
    this.busyCoalesceMs = Math.max(this.coalesceMs, init.busyCoalesceMs ?? BUSY_COALESCE_MS)
    this.windowMs = this.coalesceMs
    this.resyncMs = init.resyncIntervalMs ?? RESYNC_INTERVAL_MS
    this.retryMin = init.retryMinMs ?? RETRY_MIN_MS
    this.retryMax = init.retryMaxMs ?? RETRY_MAX_MS
    this.onApplied = init.onApplied
  }

  setDesired (all: Map<string, NetworkDesired>): void {
    const next = new Map(all)
    for (const id of new Set([...this.desired.keys(), ...next.keys()])) {
      const d = next.get(id)
      // cheap here (setDesired may run on every table change); the tick compares contents once per window
      if (d === undefined || d !== this.desired.get(id) || !this.applied.has(id)) this.dirty.add(id)
    }
    this.desired = next
    this.generation++
    if (this.started && !this.stopped) this.schedule(this.windowLeft())
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.stopped = false
    this.needResync = true
    this.armResync()
    this.kick()
    // one attempt; if it fails the retries run in the background (synced() stays false, /readyz says so)
    await this.running
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.cancelTick?.()
    this.cancelTick = undefined
    this.cancelResync?.()
    this.cancelResync = undefined
    await this.running?.catch(() => {})
    for (const w of this.waiters.splice(0)) w.reject(new ReconcilerAbortedError('reconciler stopped'))
    this.started = false
  }

  async flush (opts: FlushOptions = {}): Promise<void> {
    const generation = this.generation
    const now = opts.now !== false
    if (this.isClean() || this.reached(generation)) return
    if (this.stopped || !this.started) throw new ReconcilerAbortedError('reconciler is not running')
    if (opts.signal?.aborted === true) throw new ReconcilerAbortedError('flush aborted')
    let w = { generation, now, resolve: (): void => {}, reject: (_e: Error): void => {} }
    const promise = new Promise<void>((resolve, reject) => { w = { generation, now, resolve, reject } })
    this.waiters.push(w)
    const onAbort = (): void => {
      this.waiters = this.waiters.filter(x => x !== w)
      w.reject(new ReconcilerAbortedError('flush aborted'))
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    if (this.consecutiveFailures === 0) {
      if (now) this.kick()
      // at the end of the coalescing window (setDesired armed it; a running tick re-arms it when it ends)
      else if (this.dirty.size > 0 && this.running === undefined) this.schedule(this.windowLeft())
    }
    try {
      await promise
    } finally {
      opts.signal?.removeEventListener('abort', onAbort)
    }
  }

  synced (): boolean {
    return this.started && this.isClean()
  }

  stats (): ReconcilerStats {
    return {
      transactions: this.p.counters().transactions,
      failures: this.failures,
      kernelObjects: this.p.kernelObjects(),
      sandboxes: this.p.networks().length,
      lastSyncDurationMs: this.lastSyncDurationMs
    }
  }

  errors (): ReadonlyMap<string, string> {
    return this.lastErrors
  }

  async teardown (): Promise<void> {
    await this.stop()
    const ids = new Set([...this.p.networks(), ...await this.p.adopt(this.desired)])
    for (const id of ids) await this.p.remove(id)
    this.applied.clear()
    this.dirty = new Set(this.desired.keys())
  }

  /** Whether the kernel holds the desired state of `generation` (or a newer one). */
  private reached (generation: number): boolean {
    return this.appliedGeneration >= generation && !this.needResync
  }

  private isClean (): boolean {
    return this.dirty.size === 0 && !this.needResync && this.runningKind !== 'tick'
  }

  /**
   * Time until a change may go out: the coalescing window counts from the
   * last kernel transaction, so a change after a quiet spell goes out at the
   * next turn of the event loop (what arrives in the same turn with it), and
   * changes arriving while the kernel is busy, or within the window after,
   * share one transaction per sandbox. A change within the window shows
   * changes streaming in (a remote task event every ~200 ms per agent at
   * 5 events/s in a cluster): the windows after it are busyCoalesceMs long,
   * so the stream costs one transaction per sandbox per busy window rather
   * than one per change, until BUSY_QUIET_MS pass without a transaction (a
   * change that merely comes after a busy window goes out at once, and the
   * window stays busy).
   */
  private windowLeft (): number {
    const since = this.clock.now() - this.lastTransactionAt
    const left = this.windowMs - since
    if (left <= 0) {
      if (since >= BUSY_QUIET_MS) this.windowMs = this.coalesceMs
      return 0
    }
    if (this.dirty.size > 0) this.windowMs = this.busyCoalesceMs
    return left
  }

  private schedule (ms: number): void {
    if (this.cancelTick !== undefined || this.stopped) return
    this.cancelTick = this.clock.setTimer(ms, () => {
      this.cancelTick = undefined
      this.kick()
    })
  }

  /** Run a tick now (or right after the running one). */
  private kick (): void {
    if (this.stopped) return
    if (this.running !== undefined) return
    this.cancelTick?.()
    this.cancelTick = undefined
    this.run('tick', async () => { await this.tick() })
  }

  /**
   * Run `work` (a tick or the periodic check) as the one call on the
   * programmer (its calls must not overlap: a check reading the kernel while
   * a tick changes it would see a half-made change and resync for nothing),
   * then wake waiters and schedule what changed meanwhile.
   */
  private run (kind: 'tick' | 'check', work: () => Promise<void>): void {
    this.runningKind = kind
    this.running = work().finally(() => {
      this.running = undefined
      this.runningKind = undefined
      if (this.isClean()) this.appliedGeneration = this.generation
      const done = this.waiters.filter(w => this.reached(w.generation))
      this.waiters = this.waiters.filter(w => !done.includes(w))
      for (const w of done) w.resolve()
      if (this.dirty.size > 0 || this.needResync) {
        if (this.consecutiveFailures > 0) return // the backoff timer retries
        // changed while the tick ran: a flush() waiting goes on at once, otherwise the next window;
        // drift found by a check (or changes held back by it) at once
        if (this.waiters.some(w => w.now) || kind === 'check') queueMicrotask(() => { this.kick() })
        else this.schedule(this.windowLeft())
      }
    })
  }

  private armResync (): void {
    if (this.stopped) return
    this.cancelResync = this.clock.setTimer(this.resyncMs, () => {
      this.cancelResync = undefined
      this.armResync()
      // a tick running now: this round's check is skipped (the tick's own failure handling resyncs)
      if (this.running !== undefined || this.stopped) return
      this.run('check', async () => { await this.check() })
    })
  }

  /** Periodic check of the in-memory copy against the kernel (runs as `running`: no tick meanwhile). */
  private async check (): Promise<void> {
    try {
      for (const id of this.p.networks()) {
        if (!await this.p.verify(id)) {
          this.logger?.warn('kernel differs from the programmed copy; resyncing', { networkId: id })
          this.needResync = true
          break
        }
      }
    } catch (err) {
      this.logger?.warn('kernel check failed; resyncing', { err: (err as Error).message })
      this.needResync = true
    }
  }

  private async tick (): Promise<void> {
    const t0 = this.clock.now()
    const generation = this.generation
    let current: string | undefined
    try {
      if (this.needResync) {
        const found = await this.p.adopt(this.desired)
        this.applied.clear()
        this.dirty = new Set([...found, ...this.desired.keys()])
        this.needResync = false
      }
      const ids = [...this.dirty].sort()
      for (const id of ids) {
        current = id
        const d = this.desired.get(id)
        const s0 = this.clock.now()
        let res: ApplyResult
        if (d === undefined) {
          if (!this.p.networks().includes(id)) {
            this.dirty.delete(id)
            this.lastErrors.delete(id)
            continue
          }
          res = await this.p.remove(id)
          this.applied.delete(id)
          this.lastErrors.delete(id)
          // a setDesired during the await keeps the network dirty
          if (this.desired.get(id) === undefined) this.dirty.delete(id)
        } else {
          const last = this.applied.get(id)
          if (last !== undefined && sameDesired(last, d)) {
            this.dirty.delete(id)
            continue
          }
          try {
            res = await this.p.apply(d)
          } catch (err) {
            if (!(err instanceof ProgrammerInputError)) throw err
            // bad desired state is the caller's bug, not the kernel's: skip this network until its desired state changes
            this.failures++
            this.logger?.error('desired state refused; network left as it was', { networkId: id, field: err.field, err: err.message })
            this.lastErrors.set(id, `desired state refused: ${err.message}`)
            this.applied.set(id, d)
            this.dirty.delete(id)
            continue
          }
          this.applied.set(id, d)
          this.lastErrors.delete(id)
          if (this.desired.get(id) === d) this.dirty.delete(id)
        }
        if (res.transactions > 0) {
          this.lastTransactionAt = this.clock.now()
          this.onApplied?.(id, { ...res, durationMs: this.clock.now() - s0 })
        }
      }
      this.consecutiveFailures = 0
      // every network dirty at the start was applied (or refused) with desired state at least this new
      if (!this.needResync) this.appliedGeneration = Math.max(this.appliedGeneration, generation)
      this.lastSyncDurationMs = this.clock.now() - t0
    } catch (err) {
      this.failures++
      this.consecutiveFailures++
      this.needResync = true
      if (current !== undefined) this.lastErrors.set(current, `kernel transaction failed (retried): ${(err as Error).message}`)
      const delay = Math.min(this.retryMax, this.retryMin * 2 ** (this.consecutiveFailures - 1))
      this.logger?.error('kernel transaction failed; full resync with backoff', { err: (err as Error).message, name: (err as Error).name, retryMs: delay })
      this.cancelTick?.()
      this.cancelTick = undefined
      this.cancelTick = this.clock.setTimer(delay, () => {
        this.cancelTick = undefined
        this.kick()
      })
    }
  }
}

/** Create the reconciler of the agent's data plane. */
export function createReconciler (init: ReconcilerInit): Reconciler {
  return new DefaultReconciler(init)
}
