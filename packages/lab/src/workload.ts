import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DEMO_REQUEST_TIMEOUT_MS, DEMO_TARGET_PORT, LAB_TASK_READY_TIMEOUT_MS } from './constants.js'
import { waitFor } from './agents.js'
import { LabError } from './errors.js'
import { run } from './exec.js'
import { addTaskNetns } from './control.js'
import { isRunning, spawnDetached, stopProcess, type ProcRef } from './procs.js'
import { writeLabScripts, type LabScripts } from './scripts.js'
import { saveLabState, type LabHost, type LabProcess, type LabState } from './state.js'
import { createPlainNetns, removeNetns } from './underlay.js'

/**
 * Workloads of a netns lab: task namespaces running the tiny HTTP server,
 * client namespaces, and probes from them. Used by `--demo` and the e2e tests.
 */

/** Name of a task's netns. Not under any agent's `--netns-prefix`, so no agent mistakes it for its own sandbox. */
export function taskNetnsName (state: LabState, host: LabHost, task: string): string {
  return `${state.prefix}-t-${host.name}-${task.replace(/[^A-Za-z0-9_.-]/g, '_')}`
}

/** Write (once) and return the lab's scripts. */
export async function labScripts (state: LabState): Promise<LabScripts> {
  return await writeLabScripts(state.dir)
}

/** A running task: its netns and server process. */
export interface LabTaskRef {
  name: string
  service: string
  host: LabHost
  netns: string
  process: LabProcess
}

/** Options of {@link startTask}. */
export interface StartTaskInit {
  service: string
  /** Task name (cluster-unique). */
  name: string
  network: string
  /** Port the server listens on. @default DEMO_TARGET_PORT */
  port?: number
  /** Start the HTTP server (clients need none). @default true */
  serve?: boolean
}

/**
 * Create a task on `host`: a netns, the HTTP server answering `name` inside
 * it, then `scalelb task add --netns` on that host's agent.
 */
export async function startTask (state: LabState, host: LabHost, init: StartTaskInit): Promise<LabTaskRef> {
  if (state.mode !== 'netns') throw new LabError('tasks with namespaces need a netns lab (root)')
  const ns = taskNetnsName(state, host, init.name)
  await createPlainNetns(state, ns)
  const proc = (init.serve ?? true) ? await serveInNetns(state, ns, init.name, init.port) : undefined
  await addTaskNetns(host, { service: init.service, id: init.name, netnsPath: `/run/netns/${ns}`, networks: [init.network] })
  return { name: init.name, service: init.service, host, netns: ns, process: proc ?? { role: 'client', name: init.name, pid: 0, pidStart: '', netns: ns } }
}

/**
 * Start the lab's HTTP task server answering `name` inside the netns `ns`
 * (recorded in the lab state: `lab down` stops it); resolves once it listens.
 */
export async function serveInNetns (state: LabState, ns: string, name: string, port = DEMO_TARGET_PORT): Promise<LabProcess> {
  const scripts = await labScripts(state)
  const logDir = join(state.dir, 'tasks')
  await mkdir(logDir, { recursive: true, mode: 0o700 })
  const logFile = join(logDir, `${name}.log`)
  const ref = spawnDetached({ argv: [process.execPath, scripts.taskServer, name, String(port)], netns: ns, logFile })
  const proc: LabProcess = { role: 'task', name, pid: ref.pid, pidStart: ref.pidStart, netns: ns }
  state.processes.push(proc)
  await saveLabState(state)
  await waitListening(name, ref, logFile)
  return proc
}

/**
 * Wait until a task server has logged that it listens, so the task is added
 * to the agent only once it can answer. A server that exits first is a
 * {@link LabError} with its log, not a task that refuses every connection.
 */
async function waitListening (name: string, ref: ProcRef, logFile: string): Promise<void> {
  const log = async (): Promise<string> => await readFile(logFile, 'utf8').catch(() => '')
  await waitFor(`task server ${name} listening`, async () => {
    if ((await log()).includes('"msg":"listening"')) return true
    if (!isRunning(ref)) throw new LabError(`task server ${name} exited before listening; its log (${logFile}):\n${await log()}`)
    return false
  }, { timeoutMs: LAB_TASK_READY_TIMEOUT_MS })
}

/** Stop a task's server (the netns stays until `lab down` or {@link deleteTaskNetns}). */
export async function stopTaskServer (state: LabState, task: LabTaskRef): Promise<void> {
  if (task.process.pid > 1) await stopProcess(task.process)
  state.processes = state.processes.filter((p) => p.pid !== task.process.pid)
  await saveLabState(state)
}

/** Delete a task's netns (after `task rm`). */
export async function deleteTaskNetns (state: LabState, task: LabTaskRef): Promise<void> {
  await removeNetns(task.netns)
  state.netns = state.netns.filter((n) => n !== task.netns)
  await saveLabState(state)
}

/** One probe target. */
export interface ProbeTarget {
  /** The VIP, or a name the task's resolver answers (the demo uses names). */
  vip: string
  port: number
}

/** `{ "<vip>:<port>": { "<task name or error:CODE>": count } }` */
export type ProbeResult = Record<string, Record<string, number>>

/** From netns `ns`, send `count` requests (new connection each) to every target; counts answers. */
export async function probe (state: LabState, ns: string, targets: ProbeTarget[], count: number, timeoutMs = DEMO_REQUEST_TIMEOUT_MS): Promise<ProbeResult> {
  const scripts = await labScripts(state)
  // `ip netns exec`, as a task's processes run: it binds the resolv.conf the agent wrote for the task (targets may be names)
  const res = await run('ip', ['netns', 'exec', ns, process.execPath, scripts.probe, JSON.stringify(targets), String(count), String(timeoutMs)], { timeoutMs: 30_000 + count * targets.length * timeoutMs })
  return JSON.parse(res.stdout) as ProbeResult
}

/** Answers of a probe that were task names (not errors). */
export function answered (counts: Record<string, number>): string[] {
  return Object.keys(counts).filter((k) => !k.startsWith('error:')).sort()
}
