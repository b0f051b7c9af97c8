import { runCommand, wrapNetns, type CommandResult } from '@scalelb/agent'
import { LabError } from './errors.js'

/** Options of {@link run}. */
export interface RunInit {
  /** Written to stdin (e.g. an `ip -batch -` script). */
  input?: string
  /** Resolve with the result instead of throwing when the command fails. @default false */
  allowFail?: boolean
  /** Kill the command after this long (ms). @default RUN_TIMEOUT_MS */
  timeoutMs?: number
  signal?: AbortSignal
}

/** Outcome of one command (the agent's {@link CommandResult}). */
export type RunResult = CommandResult

/** Default timeout of one lab command (ms): `ip`/`nft` return in milliseconds; a CLI call to an agent within its own 30 s. */
const RUN_TIMEOUT_MS = 60_000

/**
 * Run one command (every `ip`, `nft`, `bridge`, `nsenter` call of the lab goes
 * through here) with the agent's runner: system PATH, `LC_ALL=C`. Throws
 * {@link LabError} with the command line and stderr on failure unless
 * `allowFail`.
 */
export async function run (file: string, args: readonly string[], init: RunInit = {}): Promise<RunResult> {
  const res = await runCommand(file, args, { input: init.input, timeoutMs: init.timeoutMs ?? RUN_TIMEOUT_MS, signal: init.signal })
  if (!res.ok && init.allowFail !== true) throw new LabError(`${res.command}: ${res.stderr !== '' ? res.stderr : res.reason}`)
  return res
}

/** argv prefix that runs a command in the named netns `ns` (network namespace only, through `nsenter`: the mount namespace stays the host's, so `ip netns add` inside is visible to everyone). */
export function inNetns (ns: string | undefined, file: string, args: readonly string[]): [string, string[]] {
  return wrapNetns(ns === undefined ? undefined : `/run/netns/${ns}`, file, args)
}

