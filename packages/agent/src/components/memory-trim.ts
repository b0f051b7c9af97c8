/**
 * Gives back what a burst of work leaves committed. A large sync (10k x 10
 * entries) peaks far above what the agent then holds: V8 keeps the freed
 * pages of its heap in a pool, and glibc keeps freed malloc chunks (decoded
 * frames, libp2p buffers) in its arenas; neither returns them while the agent
 * is quiet, so RSS stays at the peak (bench:memory: 653 MiB RSS for 167 MiB
 * of live heap). The trimmer watches RSS; once it has grown by
 * {@link MEMORY_TRIM_GROWTH_BYTES} over what the last trim left and stopped
 * growing, it runs one memory-reducing full GC and `malloc_trim(0)`.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Clock } from '@scalelb/gossip'
import type { Logger } from 'winston'
import { MEMORY_CHECK_INTERVAL_MS, MEMORY_TRIM_GROWTH_BYTES, MEMORY_TRIM_SETTLED_BYTES } from '../constants.js'
import type { Component } from '../lifecycle.js'

/** What the trimmer reads and calls: the process's ({@link processMemory}) or a test's fakes. */
export interface ProcessMemory {
  /** Resident set size, bytes. */
  rss(): number
  /** A full, memory-reducing GC (V8 releases its pooled free pages). */
  gc(): void
  /** Return free malloc pages to the kernel (`malloc_trim(0)`); undefined without libc. */
  mallocTrim?: () => Promise<void>
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
    memory.gc()
    await memory.mallocTrim?.()
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
 * This process's memory hooks: RSS from libuv, V8's `gc` (exposed at run
 * time, `last-resort` flavour: the GC V8 runs before giving up on memory,
 * which also returns its pooled pages), and `malloc_trim` through the
 * agent's one libc loader (`dataplane/kernel/native.ts`).
 */
export function processMemory (logger: Logger): ProcessMemory {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as (opts: { type: 'major', execution: 'sync', flavor: 'last-resort' }) => void
  let trim: Promise<(() => void) | undefined> | undefined
  return {
    rss: () => process.memoryUsage.rss(),
    gc: () => { gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }) },
    async mallocTrim () {
      trim ??= import('../dataplane/kernel/native.js').then(async (m) => await m.loadLibc(logger)).then((l) => l === undefined ? undefined : () => { l.libc.mallocTrim(0) })
      ;(await trim)?.()
    }
  }
}
