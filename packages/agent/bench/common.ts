/**
 * Shared pieces of the agent benchmarks (bench:lb, bench:scale,
 * bench:cluster): flags, percentiles, the table and JSON-line output of
 * BENCH.md, a per-run prefix, and clean-up that also runs on
 * SIGINT/SIGTERM.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { execa } from 'execa'
import { performance } from 'node:perf_hooks'
import { createKernel, netnsList, SYSTEM_PATH, type Kernel, type RunOptions } from '../src/dataplane/kernel/index.js'

/** A benchmark flag is missing a valid value (the message names the flag). */
export class BenchUsageError extends Error {
  override name = 'BenchUsageError' as const
}

/** Parse an integer flag in [min, max]; throws {@link BenchUsageError} naming the flag. */
export function intFlag (name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def
  if (!/^\d+$/.test(raw)) throw new BenchUsageError(`--${name}: expected a whole number, got ${JSON.stringify(raw)}`)
  const n = Number(raw)
  if (n < min || n > max) throw new BenchUsageError(`--${name}: must be ${min}..${max}, got ${n}`)
  return n
}

/** Per-run prefix of every netns/file a benchmark makes: `<head><4 hex>`. */
export function runPrefix (head: string): string {
  return `${head}${randomBytes(2).toString('hex')}`
}

/** The p-th percentile (0..100, nearest rank) of `xs`; NaN when empty. */
export function percentile (xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * s.length)
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))] as number
}

/** Mean of `xs`; NaN when empty. */
export function mean (xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length
}

/** Round to `digits` decimals (JSON figures stay numbers). */
export function round (x: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** Print rows as an aligned table (first row = header). */
export function printTable (rows: ReadonlyArray<ReadonlyArray<string | number>>): void {
  const cells = rows.map((r) => r.map((c) => typeof c === 'number' ? String(round(c)) : c))
  const widths: number[] = []
  for (const r of cells) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length) })
  for (const [i, r] of cells.entries()) {
    console.log(r.map((c, j) => j === 0 ? c.padEnd(widths[j] as number) : c.padStart(widths[j] as number)).join('  '))
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  }
}

/** Environment of the BENCH.md JSON line. */
export function benchEnv (): { node: string, cpus: number } {
  return { node: process.version, cpus: cpus().length }
}

/** Print the BENCH.md JSON line (always the last line of stdout). */
export function printJsonLine (bench: string, params: Record<string, unknown>, results: Record<string, unknown>): void {
  console.log(JSON.stringify({ bench, params, results, env: benchEnv() }))
}

// from the kernel module, not through @scalelb/lab: that would load the whole agent into every benchmark process and inflate the RSS they report
export { isRoot } from '../src/dataplane/kernel/index.js'

/**
 * Clean-up actions run once, last added first: at the end of the run
 * (`finally`) or on SIGINT/SIGTERM (then the process exits 130/143).
 */
export interface Cleanup {
  add(what: string, fn: () => Promise<void>): void
  run(): Promise<void>
}

/** Create a {@link Cleanup} and install its signal handlers. */
export function createCleanup (): Cleanup {
  const actions: Array<{ what: string, fn: () => Promise<void> }> = []
  let running: Promise<void> | undefined
  const run = async (): Promise<void> => {
    running ??= (async () => {
      for (const a of actions.reverse()) {
        try {
          await a.fn()
        } catch (err) {
          console.error(`cleanup (${a.what}) failed: ${(err as Error).message}`)
        }
      }
    })()
    await running
  }
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    // `on`, not `once`: execa's signal-exit re-raises a signal nobody else listens to, which would kill us mid-cleanup
    process.on(sig, () => {
      if (running !== undefined) return
      console.error(`\n${sig}: cleaning up`)
      void run().finally(() => process.exit(code))
    })
  }
  return { add: (what, fn) => { actions.push({ what, fn }) }, run }
}

/**
 * Run a benchmark: a fresh per-run prefix (`<head><4 hex>`), a clean-up that
 * deletes every netns starting with it (plus what `body` adds), run at the
 * end, on failure and on SIGINT/SIGTERM. Exit code 2 on a usage error, 1 on
 * another failure.
 */
export function runBench (name: string, head: string, body: (run: string, cleanup: Cleanup) => Promise<void>): void {
  const run = runPrefix(head)
  const cleanup = createCleanup()
  cleanup.add(`netns ${run}*`, async () => { await deleteNetnsWithPrefix(run) })
  body(run, cleanup).finally(async () => { await cleanup.run() }).catch((err: unknown) => {
    const e = err as Error
    const cause = e.cause instanceof Error ? ` (${e.cause.message})` : ''
    console.error(`${name}: ${e.name}: ${e.message}${cause}`)
    process.exit(e instanceof BenchUsageError ? 2 : 1)
  })
}

/** Run a system command (ip, nft ...) and resolve stdout; throws with stderr on failure. */
export async function sh (file: string, args: readonly string[], input?: string): Promise<string> {
  const r = await execa(file, args, { input: input ?? '', reject: false, env: { LC_ALL: 'C', PATH: SYSTEM_PATH }, stripFinalNewline: true, timeout: 120_000 })
  if (r.failed) throw new Error(`${[file, ...args].join(' ')}: ${typeof r.stderr === 'string' && r.stderr !== '' ? r.stderr : (r.shortMessage ?? '')}`)
  return typeof r.stdout === 'string' ? r.stdout : ''
}

/** Named netns whose names start with `prefix`. */
export async function netnsWithPrefix (prefix: string): Promise<string[]> {
  return (await netnsList(createKernel())).filter((n) => n.startsWith(prefix))
}

/** Delete every named netns starting with `prefix` (its veths and nft tables go with it). Returns how many. */
export async function deleteNetnsWithPrefix (prefix: string): Promise<number> {
  let n = 0
  for (const ns of await netnsWithPrefix(prefix)) {
    await sh('ip', ['netns', 'delete', ns]).then(() => { n++ }, () => {})
  }
  return n
}

/** Resident set size of a process in MiB (from /proc/<pid>/status), undefined when gone. */
export async function rssMiB (pid: number): Promise<number | undefined> {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) / 1024
  } catch {
    return undefined
  }
}

/** A {@link Kernel} that also counts `nft` calls and the time spent in kernel commands. */
export interface InstrumentedKernel extends Kernel {
  /** `nft` commands so far, in-process (libnftables) or spawned; `spawns()` counts processes. */
  nftCalls(): number
  /** Wall time spent waiting for kernel commands so far (ms). */
  commandMs(): number
}

/** Wrap the real kernel access the programmers use, to see what an apply costs in processes and kernel time. */
export function instrumentKernel (base: Kernel): InstrumentedKernel {
  let nft = 0
  let ms = 0
  return {
    baseNetns: base.baseNetns,
    spawns: () => base.spawns(),
    nftGeneration: async (netns) => await base.nftGeneration?.(netns),
    nftCalls: () => nft,
    commandMs: () => ms,
    run: async (cmd: string, args: readonly string[], opts?: RunOptions): Promise<string> => {
      if (cmd === 'nft') nft++
      const t0 = performance.now()
      try {
        return await base.run(cmd, args, opts)
      } finally {
        ms += performance.now() - t0
      }
    }
  }
}
