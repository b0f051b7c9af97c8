import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as delay } from 'node:timers/promises'
import { constants as agentConstants, createApiClient } from '@scalelb/agent'
import { LAB_POLL_INTERVAL_MS } from './constants.js'
import { LabError, LabTimeoutError } from './errors.js'
import { inNetns, run } from './exec.js'
import { isRunning, spawnDetached, type ProcRef } from './procs.js'
import { saveLabState, type LabHost, type LabState } from './state.js'

/** Root of the installed @scalelb/agent package (its entry is src/index.ts or dist/index.js). */
export function agentPackageRoot (): string {
  return fileURLToPath(new URL('../', import.meta.resolve('@scalelb/agent')))
}

/**
 * argv that runs the `scalelb` CLI: node with the agent's node flags
 * (`AGENT_NODE_FLAGS`, as the bin's first line) + packages/agent/bin/scalelb.js.
 * When the package has not been built yet (no dist/), builds it first with
 * the repository's compiler script, as `npm run lab` on a fresh checkout needs.
 */
export async function resolveAgentCommand (): Promise<string[]> {
  const root = agentPackageRoot()
  const bin = join(root, 'bin', 'scalelb.js')
  if (!existsSync(bin)) throw new LabError(`${bin} does not exist: cannot start agents`)
  if (!existsSync(join(root, 'dist', 'cli', 'bin.js'))) {
    const repo = join(root, '..', '..')
    const tsc = join(repo, 'scripts', 'tsc.mjs')
    if (!existsSync(tsc)) throw new LabError(`${join(root, 'dist')} is missing and ${tsc} is not there to build it`)
    process.stderr.write('lab: building the agent (dist/ is missing)\n')
    await run(process.execPath, [tsc, '-b', join(repo, 'packages', 'agent')], { timeoutMs: 300_000 })
  }
  return [process.execPath, ...agentConstants.AGENT_NODE_FLAGS, bin]
}

/** Arguments of `scalelb agent` for one lab host. */
export function agentArgs (state: LabState, host: LabHost, join: string[], extra: readonly string[] = []): string[] {
  const args = [
    'agent',
    '--listen', host.listen,
    '--data-dir', host.dataDir,
    '--netns-prefix', host.netnsPrefix,
    '--metrics-addr', host.metricsAddr,
    '--api-socket', host.apiSocket,
    '--cluster-key-file', state.clusterKeyFile
  ]
  if (host.manager === true && state.managerKeyFile !== undefined) args.push('--manager-key-file', state.managerKeyFile)
  if (state.mode === 'netns') args.push('--underlay-ip', host.ip)
  else args.push('--programmer', 'memory', '--underlay-ip', host.ip)
  for (const j of join) args.push('--join', j)
  args.push(...extra)
  return args
}

/** Extra agent flags of a lab (e.g. `--profile local` in tests), kept in the environment of `lab up`. */
export interface StartAgentInit {
  /** Peers to join (multiaddrs). */
  join: string[]
  /** Flags appended to `scalelb agent`. */
  extraArgs?: readonly string[]
}

/** Start (or restart) the agent of `host`, detached, logging to its log file; records its PID. */
export async function startAgent (state: LabState, host: LabHost, init: StartAgentInit): Promise<ProcRef> {
  if (host.pid !== undefined && host.pidStart !== undefined && isRunning({ pid: host.pid, pidStart: host.pidStart })) {
    throw new LabError(`agent ${host.name} still runs (pid ${host.pid}): stop it first`)
  }
  await mkdir(host.dataDir, { recursive: true, mode: 0o700 })
  const ref = spawnDetached({
    argv: [...state.agentCommand, ...agentArgs(state, host, init.join, init.extraArgs)],
    netns: host.netns,
    logFile: host.logFile
  })
  host.pid = ref.pid
  host.pidStart = ref.pidStart
  await saveLabState(state)
  return ref
}

/** Script run by `node -e` inside a netns: GET a URL, print the body, exit 1 on failure. */
const HTTP_GET_SCRIPT = `
const url = process.argv[1];
fetch(url, { signal: AbortSignal.timeout(2000) }).then(async (r) => {
  process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1)
}).catch((e) => { process.stderr.write(String(e)); process.exit(1) })`

/** GET `url` from inside netns `ns` (or from here when undefined); undefined when unreachable or not 2xx. */
export async function httpGetIn (ns: string | undefined, url: string): Promise<string | undefined> {
  if (ns === undefined) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) })
      return r.ok ? await r.text() : undefined
    } catch {
      return undefined
    }
  }
  const [f, a] = inNetns(ns, process.execPath, ['-e', HTTP_GET_SCRIPT, url])
  const res = await run(f, a, { allowFail: true, timeoutMs: 5000 })
  return res.ok ? res.stdout : undefined
}

/** Metrics URL of a host. */
export function metricsUrl (host: LabHost): string {
  return `http://${host.metricsAddr}/metrics`
}

/**
 * Value of one sample in Prometheus text: `name` with exactly the labels in
 * `labels` (other labels allowed). Undefined when absent.
 */
export function sampleValue (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line)
    if (m === null || m[1] !== name) continue
    const lbl = m[3] ?? ''
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) return Number(m[4])
  }
  return undefined
}

/** Alive members (self included) as host `h`'s agent reports them on its control socket; undefined when it does not answer. */
export async function aliveMembers (h: LabHost): Promise<number | undefined> {
  try {
    const s = await createApiClient({ socketPath: h.apiSocket }, 2000).status()
    return s.gossip.members.alive ?? 0
  } catch {
    return undefined
  }
}

/** scalelb_gossip_members{state="alive"} on host `h`'s /metrics (fetched from inside its netns); undefined when it does not answer. */
export async function aliveMembersFromMetrics (h: LabHost): Promise<number | undefined> {
  const text = await httpGetIn(h.netns, metricsUrl(h))
  if (text === undefined) return undefined
  return sampleValue(text, 'scalelb_gossip_members', { state: 'alive' })
}

/** Options of {@link waitFor}: the same shape as the tests' waitFor (`@scalelb/test-support`), plus an abort signal. */
export interface LabWaitOptions {
  timeoutMs: number
  signal?: AbortSignal
}

/** Poll `check` until it returns true or `timeoutMs` passes; throws {@link LabTimeoutError} with `what`. */
export async function waitFor (what: string, check: () => Promise<boolean>, { timeoutMs, signal }: LabWaitOptions): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (signal?.aborted === true) throw new LabTimeoutError(`${what}: aborted`)
    if (Date.now() >= end) throw new LabTimeoutError(`${what}: not reached within ${timeoutMs} ms`)
    await delay(LAB_POLL_INTERVAL_MS)
  }
}

/** Wait until every host's agent reports `expected` alive members. */
export async function waitMembers (state: LabState, expected: number, timeoutMs: number, hosts: LabHost[] = state.hosts): Promise<void> {
  let last = ''
  try {
    await waitFor(`every agent sees ${expected} alive members`, async () => {
      const counts = await Promise.all(hosts.map(aliveMembers))
      last = hosts.map((h, i) => `${h.name}=${String(counts[i])}`).join(' ')
      return counts.every((c) => c === expected)
    }, { timeoutMs })
  } catch (err) {
    throw new LabTimeoutError(`${(err as Error).message} (last: ${last}; logs in ${state.dir}/*/agent.log)`)
  }
}
