/**
 * Gives back what a burst of work leaves in malloc. A large sync (10k x 10
 * entries) peaks far above what the agent then holds, and glibc keeps the
 * freed chunks (decoded frames, libp2p and V8 worker threads' buffers) in
 * its arenas, which it does not return while the agent is quiet: RSS stayed
 * at the peak (bench:memory: 648 MiB RSS for 167 MiB of live heap, 419 MiB
 * neither heap nor Buffers). The trimmer watches RSS; once it has grown by
 * {@link MEMORY_TRIM_GROWTH_BYTES} over what the last trim left and stopped
 * growing, it calls `malloc_trim(0)`, which returns every arena's free
 * pages. V8 shrinks its own heap by itself: a full GC before the trim
 * (measured, `last-resort` and regular) gained at most 3 MiB more and
 * blocked the loop for seconds.
 */
import type { Clock } from '@scalelb/gossip'
import type { Logger } from 'winston'
import { MEMORY_CHECK_INTERVAL_MS, MEMORY_TRIM_GROWTH_BYTES, MEMORY_TRIM_SETTLED_BYTES } from '../constants.js'
import type { Component } from '../lifecycle.js'

/** What the trimmer reads and calls: the process's ({@link processMemory}) or a test's fakes. */
export interface ProcessMemory {
  /** Resident set size, bytes. */
  rss(): number
  /** Return free malloc pages to the kernel (`malloc_trim(0)`). */
  mallocTrim(): Promise<void>
}

/** Options and components of {@link createMemoryTrim}. */
export interface MemoryTrimInit {
  memory: ProcessMemory
  clock: Clock
  logger: Logger
  /** Time between RSS checks, ms. @default MEMORY_CHECK_INTERVAL_MS */
  intervalMs?: number
  /** RSS growth over the last trim's result that calls for a trim, bytes. @default MEMORY_TRIM_GROWTH_BYTES */
  growthBytes?: number
  /** Called after each trim with its duration. @default none */
  onTrim?: (durationMs: number) => void
}

/** The trimmer: a component with one timer. */
export interface MemoryTrim {
  readonly component: Component
  /** Trims so far. */
  trims(): number
}

/** Create the trimmer; it checks every `intervalMs` once started. */
export function createMemoryTrim (init: MemoryTrimInit): MemoryTrim {
  const { memory, clock, logger } = init
  const intervalMs = init.intervalMs ?? MEMORY_CHECK_INTERVAL_MS
  const growth = init.growthBytes ?? MEMORY_TRIM_GROWTH_BYTES
  // the first check trims what the start-up left (import-time garbage, the start's malloc peak)
  let base = 0
  let last = Number.POSITIVE_INFINITY
  let count = 0
  let cancel: (() => void) | undefined
  let stopped = true
  let busy = false

  async function check (): Promise<void> {
    const rss = memory.rss()
    base = Math.min(base, rss)
    // trim once the burst is over: grown past the last trim's result, and no longer growing
    const due = rss >= base + growth && rss <= last + MEMORY_TRIM_SETTLED_BYTES
    last = rss
    if (!due) return
    const t0 = performance.now()
    await memory.mallocTrim()
    base = last = memory.rss()
    count++
    const ms = performance.now() - t0
    init.onTrim?.(ms)
    logger.debug('memory trimmed', { rssBeforeMiB: Math.round(rss / 2 ** 20), rssAfterMiB: Math.round(base / 2 ** 20), ms: Math.round(ms) })
  }

  function arm (): void {
    if (stopped) return
    cancel = clock.setTimer(intervalMs, () => {
      cancel = undefined
      if (busy) return arm()
      busy = true
      check().catch((err: unknown) => {
        logger.warn('memory trim failed', { error: (err as Error).message })
      }).finally(() => {
        busy = false
        arm()
      })
    })
  }

  return {
    trims: () => count,
    component: {
      name: 'memory-trim',
      start () {
        if (!stopped) return
        stopped = false
        arm()
      },
      stop () {
        stopped = true
        cancel?.()
        cancel = undefined
      }
    }
  }
}

/**
 * This process's memory hooks: RSS from libuv, and `malloc_trim` through the
 * agent's one libc loader (`dataplane/kernel/native.ts`; a no-op without
 * koffi or glibc).
 */
export function processMemory (logger: Logger): ProcessMemory {
  let trim: Promise<(() => void) | undefined> | undefined
  return {
    rss: () => process.memoryUsage.rss(),
    async mallocTrim () {
      trim ??= import('../dataplane/kernel/native.js').then(async (m) => await m.loadLibc(logger)).then((l) => l === undefined ? undefined : () => { l.libc.mallocTrim(0) })
      ;(await trim)?.()
    }
  }
}
