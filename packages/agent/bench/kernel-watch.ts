/**
 * Watch LB sandboxes change, as the kernel reports it: one `nft monitor`
 * process per sandbox netns, every line time-stamped on arrival. A backend
 * is programmed on a node when an `add element` line with `: <ip> . <port>`
 * arrives from its sandbox, and withdrawn when a `delete element` line does.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { setTimeout as delay } from 'node:timers/promises'
import { SYSTEM_PATH } from '../src/dataplane/kernel/index.js'

/** One element change seen in one sandbox. */
export interface ElementEvent {
  /** performance.now() on arrival. */
  t: number
  op: 'add' | 'delete'
  line: string
}

/** A running `nft monitor` on one sandbox. */
export interface SandboxWatch {
  readonly name: string
  readonly netns: string
  readonly pid: number | undefined
  /** Element changes seen so far (backend maps only). */
  readonly events: ElementEvent[]
  /** First change `op` of a backend `ip . port` at or after `since`; undefined when not (yet) seen. */
  find(op: 'add' | 'delete', ip: string, port: number, since: number): number | undefined
  stop(): void
}

/** Start `nft monitor` inside named netns `netns` (killed by {@link SandboxWatch.stop}, by its PID). */
export function watchSandbox (name: string, netns: string): SandboxWatch {
  const child: ChildProcess = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', 'nft', 'monitor'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    // system tools only: under npm, node_modules/.bin is on PATH and holds an unrelated `nft`
    env: { LC_ALL: 'C', PATH: SYSTEM_PATH }
  })
  const events: ElementEvent[] = []
  const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  rl.on('line', (line) => {
    const t = performance.now()
    if (!line.includes(' backends_')) return
    if (line.startsWith('add element')) events.push({ t, op: 'add', line })
    else if (line.startsWith('delete element')) events.push({ t, op: 'delete', line })
  })
  child.on('error', () => {})
  let stopped = false
  return {
    name,
    netns,
    pid: child.pid,
    events,
    find (op, ip, port, since) {
      const needle = `: ${ip} . ${port}`
      for (const e of events) {
        if (e.t < since || e.op !== op) continue
        // `: 10.0.0.1 . 8080` must not match `: 10.0.0.11 . 8080`: the needle ends with the port and a separator follows
        const i = e.line.indexOf(needle)
        if (i >= 0) {
          const after = e.line.charAt(i + needle.length)
          if (after === ',' || after === ' ' || after === '') return e.t
        }
      }
      return undefined
    },
    stop () {
      if (stopped) return
      stopped = true
      rl.close()
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGTERM')
    }
  }
}

/**
 * Wait until `found()` gives a value for every watch in `watches`, or
 * `timeoutMs` passes. Resolves the per-watch times (undefined = not seen).
 */
export async function waitAll (watches: readonly SandboxWatch[], found: (w: SandboxWatch) => number | undefined, timeoutMs: number): Promise<Array<number | undefined>> {
  const end = performance.now() + timeoutMs
  for (;;) {
    const ts = watches.map(found)
    if (ts.every((t) => t !== undefined) || performance.now() >= end) return ts
    await delay(10)
  }
}
