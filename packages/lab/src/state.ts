import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { readJsonFile, writeFileAtomic } from '@scalelb/agent'
import { LAB_STATE_FILE, LAB_STATE_VERSION } from './constants.js'
import { LabStateError } from './errors.js'

/** How the lab's hosts are built. */
export type LabMode = 'netns' | 'loopback'

/** One host of the lab: one agent process. */
export interface LabHost {
  /** Short name, `h1`..`hN`. */
  name: string
  /** Its netns (netns mode); undefined on loopback. */
  netns: string | undefined
  /** Address the agent listens on (underlay IP, or 127.0.0.1). */
  ip: string
  /** libp2p listen multiaddr. */
  listen: string
  /** Status server host:port. */
  metricsAddr: string
  /** Control API unix socket. */
  apiSocket: string
  /** Agent data dir. */
  dataDir: string
  /** `--netns-prefix` of the agent: everything it creates starts with it. */
  netnsPrefix: string
  /** Agent log file. */
  logFile: string
  /** Its agent gets the manager key (`h1`): lab commands change networks and services there. Absent in labs of older versions. */
  manager?: boolean
  /** Agent process, once started. */
  pid: number | undefined
  /** Start time of that process (/proc/<pid>/stat field 22), to never signal a recycled PID. */
  pidStart: string | undefined
}

/** Any other process the lab started (demo task servers). */
export interface LabProcess {
  role: string
  name: string
  pid: number
  pidStart: string
  netns: string | undefined
}

/** A netns the lab added to the underlay besides the hosts (e.g. a monitoring netns). */
export interface LabHelper {
  name: string
  netns: string
  ip: string
}

/** Everything `lab status` and `lab down` need, written before each object is created. */
export interface LabState {
  version: number
  /** Random lab ID (hex). */
  id: string
  /** Prefix of every kernel object of this lab (netns, links), e.g. `sl3f2a`. */
  prefix: string
  mode: LabMode
  /** The state directory (holds this file and the host dirs). */
  dir: string
  /** Underlay bridge as `<switch netns>/<bridge>` (netns mode). */
  bridge: string | undefined
  /** Underlay subnet, e.g. `172.31.42.0/24` (netns mode). */
  underlayCidr: string | undefined
  /** Cluster key file (pre-shared key and manager public key). */
  clusterKeyFile: string
  /** Manager key file, given to the manager hosts only. Absent in labs of older versions. */
  managerKeyFile?: string
  /** Agent command: argv before `agent ...`. */
  agentCommand: string[]
  /** ISO time `lab up` started. */
  createdAt: string
  hosts: LabHost[]
  helpers: LabHelper[]
  processes: LabProcess[]
  /** Netns names this lab added (hosts, helpers, demo tasks); agents' own netns are found by prefix. */
  netns: string[]
  /** Root-netns links this lab added (none since the underlay lives in a switch netns; swept by prefix anyway). */
  links: string[]
}

/** Path of the state file in `dir`. */
export function stateFilePath (dir: string): string {
  return join(dir, LAB_STATE_FILE)
}

/** Write the state atomically (the agent's {@link writeFileAtomic}: temp file, fsync, rename, fsync of the directory). */
export async function saveLabState (state: LabState): Promise<void> {
  await writeFileAtomic(stateFilePath(state.dir), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 })
}

/** Read the lab state in `dir`; undefined when there is none. Throws {@link LabStateError} naming the bad field. */
export async function loadLabState (dir: string): Promise<LabState | undefined> {
  const path = stateFilePath(dir)
  const parsed = await readJsonFile(path, (reason) => new LabStateError(path, reason))
  return parsed === undefined ? undefined : validateLabState(path, parsed)
}

/** Remove the state file (the rest of the dir is removed by `lab down`). */
export async function removeLabStateFile (dir: string): Promise<void> {
  await rm(stateFilePath(dir), { force: true })
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/

function need (cond: boolean, field: string, msg: string): void {
  if (!cond) throw new LabStateError(field, msg)
}

function isStr (v: unknown): v is string {
  return typeof v === 'string'
}

function optStr (v: unknown): boolean {
  return v === undefined || typeof v === 'string'
}

function isPid (v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v > 1
}

/**
 * Check a parsed state file field by field: `lab down` signals the PIDs and
 * deletes the names it finds there, so nothing unexpected may pass.
 */
export function validateLabState (path: string, raw: unknown): LabState {
  need(raw !== null && typeof raw === 'object' && !Array.isArray(raw), path, 'must hold a JSON object')
  const s = raw as Record<string, unknown>
  need(s.version === LAB_STATE_VERSION, `${path}: version`, `must be ${LAB_STATE_VERSION}, got ${JSON.stringify(s.version)}`)
  need(isStr(s.id) && /^[0-9a-f]{1,16}$/.test(s.id), `${path}: id`, 'must be hex')
  need(isStr(s.prefix) && /^[a-z0-9]{2,10}$/.test(s.prefix), `${path}: prefix`, 'must be 2-10 lowercase letters/digits')
  need(s.mode === 'netns' || s.mode === 'loopback', `${path}: mode`, 'must be netns or loopback')
  need(isStr(s.dir) && s.dir.startsWith('/'), `${path}: dir`, 'must be an absolute path')
  need(optStr(s.bridge) && optStr(s.underlayCidr), `${path}: bridge`, 'must be a string')
  need(isStr(s.clusterKeyFile), `${path}: clusterKeyFile`, 'must be a string')
  need(optStr(s.managerKeyFile), `${path}: managerKeyFile`, 'must be a string')
  need(Array.isArray(s.agentCommand) && s.agentCommand.every(isStr), `${path}: agentCommand`, 'must be an array of strings')
  need(isStr(s.createdAt), `${path}: createdAt`, 'must be a string')
  const prefix = s.prefix as string
  for (const key of ['netns', 'links'] as const) {
    const list = s[key]
    need(Array.isArray(list) && list.every((n) => isStr(n) && NAME_RE.test(n) && n.startsWith(prefix)), `${path}: ${key}`, `must be names starting with ${prefix}`)
  }
  need(Array.isArray(s.hosts), `${path}: hosts`, 'must be an array')
  for (const [i, h] of (s.hosts as unknown[]).entries()) {
    const f = `${path}: hosts[${i}]`
    need(h !== null && typeof h === 'object', f, 'must be an object')
    const o = h as Record<string, unknown>
    for (const k of ['name', 'ip', 'listen', 'metricsAddr', 'apiSocket', 'dataDir', 'netnsPrefix', 'logFile']) need(isStr(o[k]), `${f}.${k}`, 'must be a string')
    need(optStr(o.netns) && optStr(o.pidStart), `${f}.netns`, 'must be a string')
    need(o.pid === undefined || isPid(o.pid), `${f}.pid`, 'must be a PID > 1')
    need(o.manager === undefined || typeof o.manager === 'boolean', `${f}.manager`, 'must be true or false')
  }
  need(Array.isArray(s.processes), `${path}: processes`, 'must be an array')
  for (const [i, p] of (s.processes as unknown[]).entries()) {
    const f = `${path}: processes[${i}]`
    need(p !== null && typeof p === 'object', f, 'must be an object')
    const o = p as Record<string, unknown>
    need(isPid(o.pid), `${f}.pid`, 'must be a PID > 1')
    need(isStr(o.pidStart) && isStr(o.role) && isStr(o.name) && optStr(o.netns), f, 'pidStart, role, name must be strings')
  }
  need(Array.isArray(s.helpers), `${path}: helpers`, 'must be an array')
  for (const [i, hp] of (s.helpers as unknown[]).entries()) {
    const o = hp as Record<string, unknown> | null
    need(o !== null && typeof o === 'object' && isStr(o.name) && isStr(o.netns) && isStr(o.ip), `${path}: helpers[${i}]`, 'needs name, netns, ip strings')
  }
  return s as unknown as LabState
}
