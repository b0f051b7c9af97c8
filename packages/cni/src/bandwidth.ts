import { CNI_ERR, SCALELB_ERR } from './constants.js'
import { CniError } from './errors.js'
import type { CniEnv, CniResult, NetConf } from './types.js'

/**
 * The `bandwidth` capability (`runtimeConfig.bandwidth`, bits per second and
 * bits, as containernetworking/plugins' `bandwidth` reads it).
 */
export interface Bandwidth {
  ingressRate?: number
  ingressBurst?: number
  egressRate?: number
  egressBurst?: number
}

const FIELDS = ['ingressRate', 'ingressBurst', 'egressRate', 'egressBurst'] as const

/** Validate `runtimeConfig.bandwidth`; undefined when absent or all zero (nothing to shape, as the reference plugin treats it). */
export function parseBandwidth (v: unknown): Bandwidth | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CniError(CNI_ERR.INVALID_CONFIG, 'runtimeConfig.bandwidth: must be an object')
  const out: Bandwidth = {}
  for (const f of FIELDS) {
    const n = (v as Record<string, unknown>)[f]
    if (n === undefined) continue
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new CniError(CNI_ERR.INVALID_CONFIG, `runtimeConfig.bandwidth.${f}: must be a non-negative integer`)
    out[f] = n
  }
  return FIELDS.some((f) => (out[f] ?? 0) > 0) ? out : undefined
}

/** One run of the reference `bandwidth` plugin: its command, and the netns (a path) it runs in; undefined = this process's. */
export interface BandwidthCall {
  command: 'ADD' | 'DEL' | 'CHECK'
  /** Netns of the host end of the container's veth (the agent's `hostNetns`). */
  netns: string | undefined
  env: CniEnv
  /** The CNI_PATH the runtime gave (where `bandwidth` is). */
  cniPath: string | undefined
  /** Its stdin: the configuration with the capability and a prevResult naming the host end as a host interface. */
  stdin: string
}

/** Runs the reference `bandwidth` plugin (a process); answers its exit code and output. */
export type BandwidthRunner = (call: BandwidthCall) => Promise<{ code: number, out: string }>

/**
 * The stdin of the reference `bandwidth` plugin for our result: the host end
 * of the veth listed with no `sandbox` (the plugin looks it up by the
 * container veth's peer index in the netns it runs in, which is the one
 * holding that end), the container's interface as we report it.
 */
export function bandwidthStdin (conf: NetConf, bw: Bandwidth, hostIfName: string, result: CniResult): string {
  const interfaces = (result.interfaces ?? []).map((i) => i.name === hostIfName ? { name: i.name } : i)
  return JSON.stringify({ cniVersion: result.cniVersion, name: conf.name, type: 'bandwidth', capabilities: { bandwidth: true }, runtimeConfig: { bandwidth: bw }, prevResult: { ...result, interfaces } })
}

/**
 * Shape the container's traffic as the reference `bandwidth` plugin does,
 * run by this plugin where the host end of the veth is: with
 * `--overlay-netns` that is the network's overlay netns, where a
 * `bandwidth` chained after this plugin (run by the runtime in the host's
 * netns) cannot find it. A failure is the spec's error naming the plugin's output.
 */
export async function runBandwidth (run: BandwidthRunner, call: BandwidthCall): Promise<void> {
  const r = await run(call)
  if (r.code !== 0) throw new CniError(SCALELB_ERR.AGENT, `runtimeConfig.bandwidth: the bandwidth plugin failed ${call.command} in ${call.netns ?? 'the host netns'}: ${r.out.trim()}`)
}

/** The process runner: `<CNI_PATH dir>/bandwidth`, entered into `netns` by `nsenter --net`. node:child_process is loaded here only. */
export const spawnBandwidth: BandwidthRunner = async (call) => {
  const { execFile } = process.getBuiltinModule('node:child_process')
  const { access, constants } = process.getBuiltinModule('node:fs/promises')
  const dirs = (call.cniPath ?? '').split(':').filter((d) => d !== '')
  let bin: string | undefined
  for (const d of dirs) {
    if (await access(`${d}/bandwidth`, constants.X_OK).then(() => true, () => false)) {
      bin = `${d}/bandwidth`
      break
    }
  }
  if (bin === undefined) return { code: 1, out: `no executable bandwidth in CNI_PATH ${JSON.stringify(call.cniPath ?? '')}` }
  const argv = call.netns === undefined ? [bin] : ['nsenter', `--net=${call.netns}`, bin]
  const env: Record<string, string> = { ...process.env as Record<string, string>, CNI_COMMAND: call.command, CNI_CONTAINERID: call.env.containerId ?? '', CNI_NETNS: call.env.netns ?? '', CNI_IFNAME: call.env.ifname ?? '', CNI_PATH: call.cniPath ?? '' }
  return await new Promise((resolve) => {
    const child = execFile(argv[0] as string, argv.slice(1), { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1), out: `${stdout}${stderr}` })
    })
    child.stdin?.end(call.stdin)
  })
}
