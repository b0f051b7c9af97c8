/**
 * HTTP load for the data-path benchmarks (bench:datapath, bench:ingress):
 * nginx answering from memory, wrk from a namespace, and the CPU they cost.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { spawnDetached, stopProcess, type ProcRef } from '@scalelb/lab'
import { intFlag, percentile, round, sh, type Cleanup } from './common.js'

/** Seconds of one wrk run by default. */
export const DEFAULT_WRK_SECONDS = 5
/** wrk connections by default. */
export const DEFAULT_WRK_CONNECTIONS = 16

/** Median of `xs` (NaN when empty). */
export const median = (xs: readonly number[]): number => percentile(xs, 50)

/** Port nginx listens on by default. */
export const TARGET_PORT = 8080
/** Bytes of the response body nginx returns. */
export const BODY_BYTES = 100

/** One wrk run: what it printed, read into numbers. */
export interface WrkResult { requests: number, rps: number, p50Ms: number, p99Ms: number, errors: number }

/** wrk's `--latency` figures (`50%    1.23ms`, units us/ms/s) and totals. */
export function parseWrk (out: string): WrkResult {
  const dur = (v: string, unit: string): number => Number(v) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[unit]!
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([0-9.]+)(us|ms|s|m)\\s*$`, 'm').exec(out)
    if (m === null) throw new Error(`wrk output has no ${p}% latency line:\n${out}`)
    return dur(m[1] as string, m[2] as string)
  }
  const req = /^\s*(\d+) requests in /m.exec(out)
  const rps = /^Requests\/sec:\s+([0-9.]+)/m.exec(out)
  if (req === null || rps === null) throw new Error(`wrk output without totals:\n${out}`)
  const err = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)
  const errors = (err === null ? 0 : [1, 2, 3, 4].reduce((s, i) => s + Number(err[i]), 0)) + (non2xx === null ? 0 : Number(non2xx[1]))
  return { requests: Number(req[1]), rps: Number(rps[1]), p50Ms: pct('50'), p99Ms: pct('99'), errors }
}

/** Busy and total jiffies of all CPUs (/proc/stat). */
export async function cpuJiffies (): Promise<{ busy: number, total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] as string
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const idle = (v[3] ?? 0) + (v[4] ?? 0)
  const total = v.slice(0, 8).reduce((s, x) => s + x, 0)
  return { busy: total - idle, total }
}

/** nginx answering every request with BODY_BYTES from memory, in `netns`; its files under `dir`. */
export async function startNginx (dir: string, netns: string | undefined, cleanup: Cleanup, port = TARGET_PORT): Promise<ProcRef> {
  await mkdir(join(dir, 'tmp'), { recursive: true })
  const conf = join(dir, 'nginx.conf')
  await writeFile(conf, [
    'worker_processes 1;',
    'daemon off;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${join(dir, 'tmp')}; proxy_temp_path ${join(dir, 'tmp')}; fastcgi_temp_path ${join(dir, 'tmp')}; uwsgi_temp_path ${join(dir, 'tmp')}; scgi_temp_path ${join(dir, 'tmp')};`,
    '  keepalive_requests 1000000;',
    `  server { listen ${port}; location / { return 200 "${'x'.repeat(BODY_BYTES - 1)}\\n"; } }`,
    '}',
    ''
  ].join('\n'))
  const ref = spawnDetached({ argv: ['nginx', '-c', conf], ...(netns === undefined ? {} : { netns }), logFile: join(dir, 'nginx.log') })
  cleanup.add(`nginx ${netns}`, async () => { await stopProcess(ref) })
  return ref
}

/** One wrk run (1 thread, keep-alive) from `clientNs`. */
export async function wrk (clientNs: string, url: string, f: { connections: number, seconds: number }): Promise<WrkResult> {
  const out = await sh('ip', ['netns', 'exec', clientNs, 'wrk', '-t1', `-c${f.connections}`, `-d${f.seconds}s`, '--latency', url])
  return parseWrk(out)
}


/** One wrk run of a path with the CPU it cost (all cores, µs per request). */
export type PathSample = WrkResult & { cpuUsPerReq: number }

/** Set-up and tear-down around one path's run, outside the CPU it is charged. */
export interface PathHooks<P> { before?: (p: P) => Promise<void>, after?: (p: P) => Promise<void> }

/**
 * Run every path in turn, `rounds` times (the paths of one round back to
 * back, so a ratio per round compares like with like), printing each run.
 */
export async function runRounds<P extends string> (paths: readonly P[], rounds: number, one: (p: P) => Promise<WrkResult>, hooks: PathHooks<P> = {}): Promise<Record<P, PathSample[]>> {
  const samples = Object.fromEntries(paths.map((p) => [p, [] as PathSample[]])) as Record<P, PathSample[]>
  const hz = Number(await sh('getconf', ['CLK_TCK']))
  for (let r = 0; r < rounds; r++) {
    for (const p of paths) {
      await hooks.before?.(p)
      const c0 = await cpuJiffies()
      const w = await one(p)
      const c1 = await cpuJiffies()
      await hooks.after?.(p)
      const cpuUsPerReq = ((c1.busy - c0.busy) / hz) * 1e6 / Math.max(1, w.requests)
      samples[p].push({ ...w, cpuUsPerReq })
      console.log(`round ${r + 1} ${p}: ${round(w.rps, 0)} req/s, p50 ${round(w.p50Ms, 3)} ms, p99 ${round(w.p99Ms, 3)} ms, ${round(cpuUsPerReq, 1)} µs CPU/request${w.errors > 0 ? `, ${w.errors} errors` : ''}`)
    }
  }
  return samples
}

/** Medians over a path's rounds (errors summed). */
export function pathFigures (samples: readonly PathSample[]): { rps: number, p50: number, p99: number, cpu: number, errors: number } {
  return {
    rps: median(samples.map((s) => s.rps)),
    p50: median(samples.map((s) => s.p50Ms)),
    p99: median(samples.map((s) => s.p99Ms)),
    cpu: median(samples.map((s) => s.cpuUsPerReq)),
    errors: samples.reduce((s, x) => s + x.errors, 0)
  }
}

/** The wrk flags an HTTP benchmark shares: `--rounds` (default `defaultRounds`), `--seconds`, `--connections`. */
export function wrkFlags (values: { rounds?: string, seconds?: string, connections?: string }, defaultRounds: number): { rounds: number, seconds: number, connections: number } {
  return {
    rounds: intFlag('rounds', values.rounds, defaultRounds, 1, 50),
    seconds: intFlag('seconds', values.seconds, DEFAULT_WRK_SECONDS, 1, 120),
    connections: intFlag('connections', values.connections, DEFAULT_WRK_CONNECTIONS, 1, 1000)
  }
}
