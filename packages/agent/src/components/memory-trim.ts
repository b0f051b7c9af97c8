/**
 * Gives back what a burst of work leaves committed. A large sync (10k x 10
 * entries) peaks far above what the agent then holds, and neither V8 (its
 * committed heap and pooled free pages) nor glibc (freed chunks in its
 * arenas) returned that memory while the agent was quiet: RSS stayed at the
 * peak (bench:memory: 648 MiB RSS for 167 MiB of live heap). The trimmer
 * watches anonymous RSS (file pages excluded: it unmaps them itself, and
 * their coming back is not a burst). Once it stopped growing after it grew by
 * {@link MEMORY_TRIM_GROWTH_BYTES} over what the last trim left (a burst,
 * and the start-up), it runs V8's memory-reducing full GC (`last-resort`: it
 * also frees the pooled pages) and `malloc_trim(0)` (every arena's free
 * pages), then unmaps the file pages the process touched
 * (components/file-pages.ts: the node binary's code and data that start-up
 * or the burst ran once). Every {@link MEMORY_TRIM_MAX_INTERVAL_MS} while RSS is settled it
 * runs `malloc_trim(0)` alone (what a burst freed after a trim taken during
 * it never shows as growth; a trim with little to return costs well under a
 * millisecond, a GC would not).
 *
 * Measured (bench:memory, 10k x 10, one run each, load 1-12): GC and trim
 * 215-257 MiB RSS in three runs; the trim alone 219 MiB once and 495 MiB
 * once (V8 kept 303 MiB committed for 128 used); the GC alone 280 MiB. The
 * GC blocks the loop: ~0.5-2 s per trim at 10k x 10 on the loaded 2-core
 * machine, 20-170 ms idle.
 */
import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Clock } from '@scalelb/gossip'
import type { Logger } from 'winston'
import { MEMORY_CHECK_INTERVAL_MS, MEMORY_TRIM_GROWTH_BYTES, MEMORY_TRIM_MAX_INTERVAL_MS, MEMORY_TRIM_SETTLED_BYTES } from '../constants.js'
import type { Component } from '../lifecycle.js'
import type { Libc } from '../dataplane/kernel/native.js'
import { releaseFilePages } from './file-pages.js'

/** What the trimmer reads and calls: the process's ({@link processMemory}) or a test's fakes. */
export interface ProcessMemory {
  /**
   * Resident anonymous memory, bytes: RSS less its file-backed pages (the
   * trimmer unmaps those itself, and the process maps them again as it
   * runs: counted, that would read as growth and call for GCs the heap does
   * not need).
   */
  rss(): number
  /** A full, memory-reducing GC (V8 also releases its pooled free pages). */
  gc(): void
  /** Return free malloc pages to the kernel (`malloc_trim(0)`). */
  mallocTrim(): Promise<void>
  /** Unmap the file pages touched so far (components/file-pages.ts); returns the bytes of the mappings released (0: not possible here). */
  releaseFilePages(): Promise<number>
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
  /** Longest time between trims while RSS is settled, ms. @default MEMORY_TRIM_MAX_INTERVAL_MS */
  maxIntervalMs?: number
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
  let lastTrimAt = clock.now()
  const maxIntervalMs = init.maxIntervalMs ?? MEMORY_TRIM_MAX_INTERVAL_MS
  let count = 0
  let cancel: (() => void) | undefined
  let stopped = true
  let busy = false

  async function check (): Promise<void> {
    const rss = memory.rss()
    base = Math.min(base, rss)
    // trim once RSS stopped growing, and either it grew past the last trim's result or that trim is old:
    // what a burst frees after a trim taken during it does not show as growth (a 10k x 10 sync kept 339 MiB so)
    const settled = rss <= last + MEMORY_TRIM_SETTLED_BYTES
    const grown = rss >= base + growth
    const due = settled && (grown || clock.now() - lastTrimAt >= maxIntervalMs)
    last = rss
    if (!due) return
    const t0 = performance.now()
    if (grown) memory.gc()
    await memory.mallocTrim()
    // after start-up or a burst: the code and data it ran once are file pages still mapped
    const released = grown ? await memory.releaseFilePages() : 0
    base = last = memory.rss()
    lastTrimAt = clock.now()
    count++
    const ms = performance.now() - t0
    init.onTrim?.(ms)
    logger.debug('memory trimmed', { gc: grown, fileMappingsMiB: Math.round(released / 2 ** 20), anonBeforeMiB: Math.round(rss / 2 ** 20), anonAfterMiB: Math.round(base / 2 ** 20), ms: Math.round(ms) })
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

/** RssAnon of /proc/self/status, bytes; undefined where there is none (not Linux). */
export function anonRss (): number | undefined {
  try {
    const m = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

/**
 * This process's memory hooks: anonymous RSS from /proc (all of RSS, from
 * libuv, where /proc has none), V8's `gc` (exposed at run time), and `malloc_trim` and `madvise` through the agent's one libc loader
 * (`dataplane/kernel/native.ts`; no-ops without koffi or glibc).
 */
export function processMemory (logger: Logger): ProcessMemory {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as (opts: { type: 'major', execution: 'sync', flavor: 'last-resort' }) => void
  let trim: Promise<(() => void) | undefined> | undefined
  const libc = async (): Promise<Libc | undefined> => await import('../dataplane/kernel/native.js').then(async (m) => await m.loadLibc(logger)).then((l) => l?.libc)
  return {
    rss: () => anonRss() ?? process.memoryUsage.rss(),
    gc: () => { gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }) },
    async mallocTrim () {
      trim ??= libc().then((l) => l === undefined ? undefined : () => { l.mallocTrim(0) })
      ;(await trim)?.()
    },
    async releaseFilePages () {
      const l = await libc()
      return l === undefined ? 0 : await releaseFilePages((addr, length, advice) => l.madvise(addr, length, advice) as number)
    }
  }
}
