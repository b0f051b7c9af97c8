import { spawn } from 'node:child_process'
import { openSync, closeSync, readFileSync } from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'
import { SYSTEM_PATH } from '@scalelb/agent'
import { LAB_POLL_INTERVAL_MS, LAB_STOP_GRACE_MS } from './constants.js'
import { LabError } from './errors.js'
import { inNetns } from './exec.js'

/** A process the lab started, identified by PID and start time. */
export interface ProcRef {
  pid: number
  /** /proc/<pid>/stat start time: a recycled PID has another one. */
  pidStart: string
}

/** Start time of `pid` (clock ticks since boot), or undefined when it does not run. */
export function readPidStart (pid: number): string | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // comm (field 2) may hold spaces and parentheses: fields after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // rest[0] is field 3 (state); field 22 (starttime) is rest[19]. A zombie counts as gone.
  if (rest[0] === 'Z') return undefined
  return rest[19]
}

/** True while the process `ref` names is running (same PID, same start time). */
export function isRunning (ref: ProcRef): boolean {
  return readPidStart(ref.pid) === ref.pidStart
}

/** Options of {@link spawnDetached}. */
export interface SpawnInit {
  /** Program and arguments. */
  argv: string[]
  /** Run in this named netns (network namespace only). */
  netns?: string
  /** stdout and stderr are appended here. */
  logFile: string
  /** Extra environment. */
  env?: Record<string, string>
}

/**
 * Start a process that outlives the lab command: own session, stdio to a log
 * file. `nsenter` execs the program, so the PID returned is the program's.
 */
export function spawnDetached (init: SpawnInit): ProcRef {
  const [file, args] = inNetns(init.netns, init.argv[0] as string, init.argv.slice(1))
  const fd = openSync(init.logFile, 'a', 0o600)
  try {
    const child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      // system PATH: under npm/npx/ava node_modules/.bin comes first and shadows system tools (e.g. `nft`)
      env: { ...process.env, PATH: SYSTEM_PATH, ...init.env }
    })
    const pid = child.pid
    if (pid === undefined) throw new LabError(`could not start ${init.argv.join(' ')}`)
    child.unref()
    // the kernel has the process once spawn returns a PID; its start time is readable at once
    const pidStart = readPidStart(pid)
    if (pidStart === undefined) throw new LabError(`${init.argv.join(' ')} exited at once (see ${init.logFile})`)
    return { pid, pidStart }
  } finally {
    closeSync(fd)
  }
}

/** Wait until `ref` is gone or `timeoutMs` passes; true when gone. */
export async function waitGone (ref: ProcRef, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (isRunning(ref)) {
    if (Date.now() >= end) return false
    await delay(Math.min(LAB_POLL_INTERVAL_MS, 50))
  }
  return true
}

/**
 * Stop a process the lab started: `signal` (default SIGTERM), then SIGKILL
 * after `graceMs`. Signals only the exact process (PID and start time).
 * Resolves once it is gone.
 */
export async function stopProcess (ref: ProcRef, opts: { signal?: NodeJS.Signals, graceMs?: number } = {}): Promise<void> {
  if (!isRunning(ref)) return
  try {
    process.kill(ref.pid, opts.signal ?? 'SIGTERM')
  } catch {
    return
  }
  if (await waitGone(ref, opts.graceMs ?? LAB_STOP_GRACE_MS)) return
  if (isRunning(ref)) {
    try {
      process.kill(ref.pid, 'SIGKILL')
    } catch {
      return
    }
  }
  await waitGone(ref, LAB_STOP_GRACE_MS)
}
