import { CNI_ERR, CNI_SPEC_VERSION, SCALELB_ERR, SUPPORTED_VERSIONS } from './constants.js'
import { parseEnv, parseNetConf, type SocketDefaults } from './config.js'
import { CniError } from './errors.js'
import { runCommand, versionResult, type PluginDeps } from './plugin.js'
import type { NetConf } from './types.js'

/** One invocation as a runtime makes it. */
export interface PluginInvocation {
  /** The process environment (CNI_* and SCALELB_API_SOCKET). */
  env: Readonly<Record<string, string | undefined>>
  /** The network configuration read from stdin. */
  stdin: string
  /** Where the agent is when neither the configuration nor the environment says. */
  defaults: SocketDefaults
  /** The agent client and helpers, for the configuration's socket. */
  deps: (conf: NetConf) => PluginDeps
}

/** What the process prints on stdout and exits with. */
export interface PluginOutcome {
  /** 0 on success, 1 with the spec's error JSON. */
  exitCode: number
  /** The result or error JSON; empty for a DEL, CHECK or STATUS that succeeded. */
  stdout: string
}

/** The cniVersion an error is written in: the configuration's when the plugin supports it. */
function errorVersion (stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion
    return typeof v === 'string' && SUPPORTED_VERSIONS.includes(v) ? v : CNI_SPEC_VERSION
  } catch {
    return CNI_SPEC_VERSION
  }
}

/** Run the plugin for one invocation: never throws; an error is the spec's error JSON and exit code 1. */
export async function runPlugin (inv: PluginInvocation): Promise<PluginOutcome> {
  try {
    const env = parseEnv(inv.env)
    if (env.command === 'VERSION') return { exitCode: 0, stdout: JSON.stringify(versionResult()) }
    const conf = parseNetConf(inv.stdin, env, inv.env, inv.defaults)
    const out = await runCommand(env, conf, inv.deps(conf))
    return { exitCode: 0, stdout: out === undefined ? '' : JSON.stringify(out) }
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(SCALELB_ERR.INTERNAL, `scalelb-cni: ${(err as Error).message}`, (err as Error).stack)
    return { exitCode: 1, stdout: JSON.stringify(e.toResult(errorVersion(inv.stdin))) }
  }
}

/** Read all of stdin (a CNI configuration is small); an error is the spec's I/O error (5). */
export async function readAll (stream: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = []
  try {
    for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c)
  } catch (err) {
    throw new CniError(CNI_ERR.IO, `stdin: ${(err as Error).message}`)
  }
  return Buffer.concat(chunks).toString('utf8')
}
