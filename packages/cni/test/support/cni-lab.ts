/**
 * Kernel tests of the CNI plugin: drive `scalelb-cni` (and the reference
 * plugins of Debian's containernetworking-plugins) as a runtime does, with
 * CNI_* in the environment and the configuration on stdin, inside a lab
 * host's network namespace (where that host's agent and a runtime on it live).
 */
import { spawn } from 'node:child_process'
import { access } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { labRun, type LabHost } from '@scalelb/lab'

/** The repository root. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../../..')
/** The plugin's executable (runs the built dist/). */
export const PLUGIN_BIN = join(REPO, 'packages/cni/bin/scalelb-cni.js')
/** Where Debian's containernetworking-plugins put the reference plugins. */
export const REFERENCE_PLUGINS = '/usr/lib/cni'

/** Build the plugin's dist/ (and the agent's, which it imports). */
export async function buildPlugin (): Promise<void> {
  await labRun(process.execPath, [join(REPO, 'scripts/tsc.mjs'), '-b', join(REPO, 'packages/cni')], { timeoutMs: 300_000 })
}

/** What a plugin run printed and exited with; `json` is stdout parsed (undefined when empty). */
export interface PluginRun {
  code: number
  stdout: string
  stderr: string
  json: unknown
}

/** Run `file` in the named netns `ns` with `env` added and `input` on stdin. */
export async function runInNetns (ns: string | undefined, file: string, args: readonly string[], env: Record<string, string>, input: string): Promise<PluginRun> {
  const [cmd, argv] = ns === undefined ? [file, [...args]] : ['ip', ['netns', 'exec', ns, file, ...args]]
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.once('error', reject)
    child.once('close', (code) => {
      let json: unknown
      try { json = stdout.trim() === '' ? undefined : JSON.parse(stdout) } catch { json = undefined }
      resolve({ code: code ?? -1, stdout, stderr, json })
    })
    child.stdin.end(input)
  })
}

/** The CNI_* of one call. */
export interface CniCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS'
  containerId: string
  /** Path of the container's netns ('' for a DEL after it is gone). */
  netns: string
  /** @default 'eth0' */
  ifname?: string
  /** CNI_ARGS. */
  args?: string
}

function cniEnv (call: CniCall): Record<string, string> {
  return {
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.netns,
    CNI_IFNAME: call.ifname ?? 'eth0',
    CNI_PATH: REFERENCE_PLUGINS,
    ...(call.args === undefined ? {} : { CNI_ARGS: call.args })
  }
}

/** Run `scalelb-cni` on `host` (in its netns) as a runtime there would. */
export async function scalelbCni (host: LabHost, call: CniCall, conf: object): Promise<PluginRun> {
  return await runInNetns(host.netns, process.execPath, [PLUGIN_BIN], cniEnv(call), JSON.stringify(conf))
}

/** Run a reference plugin (`/usr/lib/cni/<type>`) on `host` with the same call. */
export async function referencePlugin (host: LabHost, type: string, call: CniCall, conf: object): Promise<PluginRun> {
  const file = join(REFERENCE_PLUGINS, type)
  await access(file)
  return await runInNetns(host.netns, file, [], cniEnv(call), JSON.stringify(conf))
}

/** The nft ruleset of `host`'s LB sandbox on `networkId` ('' when it has none). */
export async function sandboxRuleset (host: LabHost, networkId: string): Promise<string> {
  const ns = `${host.netnsPrefix}lb-${networkId.slice(0, 12)}`
  const r = await labRun('ip', ['netns', 'exec', ns, 'nft', 'list', 'ruleset'], { allowFail: true })
  return r.ok ? r.stdout : ''
}

/** True when `host`'s LB sandbox on `networkId` balances to `ip:port` (a backend element). */
export async function sandboxHasBackend (host: LabHost, networkId: string, ip: string, port: number): Promise<boolean> {
  return (await sandboxRuleset(host, networkId)).includes(`${ip} . ${port}`)
}

/** `ip -j link show` / `addr show` of the netns `ns` (path or name), parsed; [] when it is gone. */
export async function linksIn (ns: string | undefined, what: 'link' | 'addr' = 'link'): Promise<Array<{ ifname: string, mtu?: number, address?: string, master?: string, addr_info?: Array<{ family: string, local: string, prefixlen: number }> }>> {
  const args = ns === undefined ? ['-j', what, 'show'] : ns.includes('/') ? [] : ['-n', ns, '-j', what, 'show']
  const r = ns !== undefined && ns.includes('/')
    ? await labRun('nsenter', [`--net=${ns}`, 'ip', '-j', what, 'show'], { allowFail: true })
    : await labRun('ip', args, { allowFail: true })
  if (!r.ok) return []
  return JSON.parse(r.stdout) as Array<{ ifname: string, mtu?: number, address?: string }>
}
