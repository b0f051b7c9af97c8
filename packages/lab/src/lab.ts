import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises'
import { join } from 'node:path'
import { admitNodeDir, writeClusterKeys } from '@scalelb/agent'
import {
  LAB_AGENT_READY_TIMEOUT_MS, LAB_GOSSIP_PORT, LAB_ID_HEX_CHARS, LAB_METRICS_PORT, LAB_PREFIX_HEAD, LAB_PREFIX_HEAD_RE,
  LAB_JOIN_SEEDS, LAB_START_BATCH, LAB_STATE_VERSION, LAB_UNDERLAY_BASE, LAB_UNDERLAY_PREFIX_LEN, LAB_UNDERLAY_V6_HEAD, LAB_UNDERLAY_V6_PREFIX_LEN, MAX_LAB_NODES
} from './constants.js'
import { LabError, LabUsageError } from './errors.js'
import { httpGetIn, metricsUrl, resolveAgentCommand, startAgent, waitFor, waitMembers, aliveMembers } from './agents.js'
import { isRunning, stopProcess } from './procs.js'
import { run } from './exec.js'
import { loadLabState, saveLabState, type LabHost, type LabMode, type LabState } from './state.js'
import { createBridge, createUnderlayNetns, fitNeighbourTable, labNetnsName, listLinksWithPrefix, listNetnsWithPrefix, netnsPids, removeNetns, underlayIp } from './underlay.js'

/** Options of {@link labUp}. */
export interface LabUpInit {
  /** Number of hosts (1..MAX_LAB_NODES). */
  nodes: number
  /** Directory for the lab's state, keys, data dirs and logs. */
  stateDir: string
  /** `netns` (root: real kernel) or `loopback` (memory programmer). @default netns as root, else loopback */
  mode: LabMode
  /** Flags appended to every `scalelb agent` (e.g. `['--profile', 'local']`). @default [] */
  agentArgs?: readonly string[]
  /** How long to wait for the agents to see each other (ms). @default LAB_AGENT_READY_TIMEOUT_MS */
  readyTimeoutMs?: number
  /**
   * First letters of the lab's prefix (every netns, link and agent netns
   * prefix of the lab starts with `<head><random hex>`), 2-3 of [a-z0-9].
   * @default LAB_PREFIX_HEAD ('sl')
   */
  prefixHead?: string
  /** argv that runs the scalelb CLI. @default node packages/agent/bin/scalelb.js (built first if needed) */
  agentCommand?: string[]
  /** Progress lines. @default none */
  progress?: (line: string) => void
  /** Remove what was built when `lab up` fails half-way (callers that first show the logs pass false). @default true */
  cleanupOnFailure?: boolean
  /** An IPv6 underlay (`fd31:<id>::/64`): agents gossip and carry VXLAN over IPv6 (netns mode). @default false */
  underlayV6?: boolean
  /**
   * The cluster key file admits only nodes a manager admitted: each worker
   * host gets an admission (`<data-dir>/admission`) signed with the lab's
   * manager key before its agent starts; the manager host admits itself. @default false
   */
  requireAdmission?: boolean
}

/** A free TCP port on 127.0.0.1 (loopback labs pick their ports at start). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => {
        if (typeof addr === 'object' && addr !== null) resolve(addr.port)
        else reject(new LabError('no port'))
      })
    })
  })
}

/**
 * Build a lab: N hosts (netns on an underlay bridge, or processes on
 * loopback), one agent each, joined to the first; resolves once every agent
 * sees N alive members. Everything made is recorded in the state file before
 * it is made, so {@link labDown} removes it even after a failure half-way.
 */
export async function labUp (init: LabUpInit): Promise<LabState> {
  if (!Number.isInteger(init.nodes) || init.nodes < 1 || init.nodes > MAX_LAB_NODES) {
    throw new LabUsageError('--nodes', `must be an integer 1..${MAX_LAB_NODES}, got ${init.nodes}`)
  }
  // runs sharing a machine keep apart: SCALELB_LAB_PREFIX_HEAD when the caller names none
  const envHead = process.env.SCALELB_LAB_PREFIX_HEAD
  const head = init.prefixHead ?? (envHead === undefined || envHead === '' ? undefined : envHead)
  if (head !== undefined && !LAB_PREFIX_HEAD_RE.test(head)) {
    throw new LabUsageError(init.prefixHead === undefined ? 'SCALELB_LAB_PREFIX_HEAD' : 'prefixHead', `must be 2-3 of [a-z0-9], starting with a letter, got ${JSON.stringify(head)}`)
  }
  const existing = await loadLabState(init.stateDir)
  if (existing !== undefined) throw new LabError(`a lab (${existing.prefix}) is already up in ${init.stateDir}: run \`scalelb lab down\` first`)
  const say = init.progress ?? ((): void => {})
  const agentCommand = init.agentCommand ?? await resolveAgentCommand()
  const id = randomBytes(LAB_ID_HEX_CHARS / 2).toString('hex')
  const prefix = `${head ?? LAB_PREFIX_HEAD}${id}`
  const dir = init.stateDir
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const octet = parseInt(id.slice(0, 2), 16)
  const state: LabState = {
    version: LAB_STATE_VERSION,
    id,
    prefix,
    mode: init.mode,
    dir,
    bridge: undefined,
    underlayCidr: init.mode !== 'netns'
      ? undefined
      : init.underlayV6 === true ? `${LAB_UNDERLAY_V6_HEAD}:${parseInt(id.slice(0, 4), 16).toString(16)}::/${LAB_UNDERLAY_V6_PREFIX_LEN}` : `${LAB_UNDERLAY_BASE}.${octet}.0/${LAB_UNDERLAY_PREFIX_LEN}`,
    clusterKeyFile: join(dir, 'cluster.key'),
    managerKeyFile: join(dir, 'manager.key'),
    agentCommand,
    createdAt: new Date().toISOString(),
    hosts: [],
    helpers: [],
    processes: [],
    netns: [],
    links: []
  }
  await saveLabState(state)
  try {
    await buildLab(state, init)
  } catch (err) {
    if (init.cleanupOnFailure ?? true) await labDown(state).catch(() => undefined)
    throw err
  }
  say(`all ${init.nodes} agents see ${init.nodes} alive members`)
  return state
}

/** The part of {@link labUp} after the state file exists: key, underlay, hosts, agents. */
async function buildLab (state: LabState, init: LabUpInit): Promise<void> {
  const say = init.progress ?? ((): void => {})
  const { prefix, dir } = state
  // the cluster key every host gets, the manager key only manager hosts get (the agent's `scalelb keygen`)
  await writeClusterKeys({ clusterKey: state.clusterKeyFile, managerKey: state.managerKeyFile as string, requireAdmission: init.requireAdmission === true })

  if (init.mode === 'netns') {
    say(`lab ${prefix}: underlay ${String(state.underlayCidr)} on a bridge in netns ${prefix}-sw`)
    const raised = await fitNeighbourTable(init.nodes)
    if (raised !== undefined) say(raised)
    await createBridge(state)
  } else {
    say(`lab ${prefix}: not root, so the agents run on 127.0.0.1 with the memory programmer (no kernel changes)`)
  }
  for (let k = 1; k <= init.nodes; k++) {
    const name = `h${k}`
    const hostDir = join(dir, name)
    await mkdir(hostDir, { recursive: true, mode: 0o700 })
    let host: LabHost
    if (init.mode === 'netns') {
      const ns = labNetnsName(prefix, name)
      const ip = underlayIp(state.underlayCidr as string, k)
      await createUnderlayNetns(state, ns, ip)
      host = {
        name, netns: ns, ip,
        listen: ip.includes(':') ? `/ip6/${ip}/tcp/${LAB_GOSSIP_PORT}` : `/ip4/${ip}/tcp/${LAB_GOSSIP_PORT}`,
        metricsAddr: ip.includes(':') ? `[${ip}]:${LAB_METRICS_PORT}` : `${ip}:${LAB_METRICS_PORT}`,
        apiSocket: join(hostDir, 'api.sock'), dataDir: hostDir,
        netnsPrefix: `${prefix}-${name}-`, logFile: join(hostDir, 'agent.log'),
        manager: k === 1,
        pid: undefined, pidStart: undefined
      }
    } else {
      host = {
        name, netns: undefined, ip: '127.0.0.1',
        listen: `/ip4/127.0.0.1/tcp/${await freePort()}`,
        metricsAddr: `127.0.0.1:${await freePort()}`,
        apiSocket: join(hostDir, 'api.sock'), dataDir: hostDir,
        netnsPrefix: `${prefix}-${name}-`, logFile: join(hostDir, 'agent.log'),
        manager: k === 1,
        pid: undefined, pidStart: undefined
      }
    }
    // a worker's admission, made as an operator would with `scalelb node-id` and `scalelb keygen --admit`
    if (init.requireAdmission === true && host.manager !== true) await admitNodeDir(hostDir, state.managerKeyFile as string)
    state.hosts.push(host)
  }
  await saveLabState(state)

  const timeoutMs = init.readyTimeoutMs ?? LAB_AGENT_READY_TIMEOUT_MS
  const first = state.hosts[0] as LabHost
  say(`starting agent ${first.name} (${first.listen})`)
  await startAgent(state, first, { join: [], extraArgs: init.agentArgs })
  await waitFor(`agent ${first.name} answers on ${first.apiSocket} (log: ${first.logFile})`, async () => {
    assertAgentRunning(first)
    return (await aliveMembers(first)) !== undefined
  }, { timeoutMs })
  // in batches, each joining through the first LAB_JOIN_SEEDS hosts, the next batch once this one has joined
  const rest = state.hosts.slice(1)
  for (let i = 0; i < rest.length; i += LAB_START_BATCH) {
    const batch = rest.slice(i, i + LAB_START_BATCH)
    for (const h of batch) {
      const seeds = state.hosts.slice(0, LAB_JOIN_SEEDS).filter((s) => s !== h).map((s) => s.listen)
      say(`starting agent ${h.name} (${h.listen}), joining ${seeds.join(' ')}`)
      await startAgent(state, h, { join: seeds, extraArgs: init.agentArgs })
    }
    if (i + LAB_START_BATCH >= rest.length) break
    await waitFor(`agents ${batch.map((h) => h.name).join(', ')} answer and see another member`, async () => {
      const counts = await Promise.all(batch.map(async (h) => {
        assertAgentRunning(h)
        return await aliveMembers(h)
      }))
      return counts.every((n) => n !== undefined && n >= 2)
    }, { timeoutMs })
  }
  await waitMembers(state, init.nodes, timeoutMs)
}

function assertAgentRunning (h: LabHost): void {
  if (h.pid !== undefined && h.pidStart !== undefined && !isRunning({ pid: h.pid, pidStart: h.pidStart })) {
    throw new LabError(`agent ${h.name} exited (log: ${h.logFile})`)
  }
}

/** One host as `lab status` reports it. */
export interface LabHostStatus {
  name: string
  /** Its agent holds the manager key. */
  manager: boolean
  netns: string | undefined
  ip: string
  pid: number | undefined
  running: boolean
  /** scalelb_gossip_members{state="alive"} from its /metrics, undefined when it does not answer. */
  aliveMembers: number | undefined
  metricsUrl: string
  apiSocket: string
  logFile: string
}

/** What `lab status` reports. */
export interface LabStatus {
  prefix: string
  mode: LabMode
  dir: string
  underlayCidr: string | undefined
  createdAt: string
  hosts: LabHostStatus[]
  /** Named netns of this lab now in the kernel (hosts, tasks, and the agents' LB sandboxes). */
  netns: string[]
}

/** Report a lab: processes, members seen by each agent, kernel objects. */
export async function labStatus (state: LabState): Promise<LabStatus> {
  const hosts = await Promise.all(state.hosts.map(async (h): Promise<LabHostStatus> => {
    const running = h.pid !== undefined && h.pidStart !== undefined && isRunning({ pid: h.pid, pidStart: h.pidStart })
    return {
      name: h.name, manager: h.manager === true, netns: h.netns, ip: h.ip, pid: h.pid, running,
      aliveMembers: running ? await aliveMembers(h) : undefined,
      metricsUrl: metricsUrl(h), apiSocket: h.apiSocket, logFile: h.logFile
    }
  }))
  const netns = state.mode === 'netns' ? await listNetnsWithPrefix(`${state.prefix}-`) : []
  return { prefix: state.prefix, mode: state.mode, dir: state.dir, underlayCidr: state.underlayCidr, createdAt: state.createdAt, hosts, netns }
}

/** What {@link labDown} removed. */
export interface LabDownReport {
  processesStopped: number
  netnsRemoved: string[]
  linksRemoved: string[]
}

/**
 * Remove a lab: stop exactly the processes it started (PID + start time),
 * kill what still runs inside its namespaces, delete every netns and root
 * link with its prefix, then its files. Safe to run twice and after a
 * half-done `lab up`.
 */
export async function labDown (state: LabState): Promise<LabDownReport> {
  let stopped = 0
  const refs = [
    ...state.hosts.flatMap((h) => h.pid !== undefined && h.pidStart !== undefined ? [{ pid: h.pid, pidStart: h.pidStart }] : []),
    ...state.processes.map((p) => ({ pid: p.pid, pidStart: p.pidStart }))
  ]
  await Promise.all(refs.map(async (r) => {
    if (isRunning(r)) {
      stopped++
      await stopProcess(r)
    }
  }))
  const netnsRemoved: string[] = []
  const linksRemoved: string[] = []
  if (state.mode === 'netns') {
    const names = new Set([...state.netns, ...await listNetnsWithPrefix(`${state.prefix}-`)])
    // processes left inside the lab's namespaces were started by its agents or task servers
    for (const ns of names) {
      for (const pid of await netnsPids(ns)) {
        try {
          process.kill(pid, 'SIGKILL')
          stopped++
        } catch {
          // already gone
        }
      }
    }
    for (const ns of names) {
      if (await removeNetns(ns)) netnsRemoved.push(ns)
    }
    const links = new Set([...state.links, ...await listLinksWithPrefix(`${state.prefix}-`)])
    for (const l of links) {
      const r = await run('ip', ['link', 'del', l], { allowFail: true })
      if (r.ok) linksRemoved.push(l)
    }
  }
  await removeLabFiles(state)
  return { processesStopped: stopped, netnsRemoved, linksRemoved }
}

async function removeLabFiles (state: LabState): Promise<void> {
  for (const h of state.hosts) await rm(h.dataDir, { recursive: true, force: true })
  for (const f of ['cluster.key', 'manager.key', 'scripts', 'tasks', 'helpers', 'lab.json']) await rm(join(state.dir, f), { recursive: true, force: true })
  try {
    if ((await readdir(state.dir)).length === 0) await rmdir(state.dir)
  } catch {
    // not empty or already gone: leave it
  }
}

/** Kernel objects of a lab still present (for tests: empty after `lab down`). */
export async function labLeftovers (prefix: string): Promise<{ netns: string[], links: string[] }> {
  return { netns: await listNetnsWithPrefix(`${prefix}-`), links: await listLinksWithPrefix(`${prefix}-`) }
}

/** GET a path of a host's status server (from inside its netns). */
export async function hostGet (h: LabHost, path: string): Promise<string | undefined> {
  return await httpGetIn(h.netns, `http://${h.metricsAddr}${path}`)
}

/** Save the state (after callers changed it, e.g. a restarted agent). */
export async function saveLab (state: LabState): Promise<void> {
  await saveLabState(state)
}
