import { execa } from 'execa'
import { LAB_SYSTEM_PATH } from './constants.js'
import { LabError } from './errors.js'

/** Options of {@link run}. */
export interface RunInit {
  /** Written to stdin (e.g. an `ip -batch -` script). */
  input?: string
  /** Resolve with the result instead of throwing when the command fails. @default false */
  allowFail?: boolean
  /** Kill the command after this long (ms). @default 60000 */
  timeoutMs?: number
  signal?: AbortSignal
}

/** Outcome of one command. */
export interface RunResult {
  ok: boolean
  stdout: string
  stderr: string
  exitCode: number | undefined
}

/** Default timeout of one lab command (ms): `ip`/`nft` return in milliseconds; a CLI call to an agent within its own 30 s. */
const RUN_TIMEOUT_MS = 60_000

/**
 * Run one command (every `ip`, `nft`, `bridge`, `nsenter` call of the lab goes
 * through here). Throws {@link LabError} with the command line and stderr on
 * failure unless `allowFail`.
 */
export async function run (file: string, args: readonly string[], init: RunInit = {}): Promise<RunResult> {
  const res = await execa(file, args, {
    input: init.input ?? '',
    reject: false,
    timeout: init.timeoutMs ?? RUN_TIMEOUT_MS,
    cancelSignal: init.signal,
    stripFinalNewline: true,
    // system tools only: under npm/npx/ava, node_modules/.bin is first on PATH and holds an unrelated `nft` (@vercel/nft)
    env: { LC_ALL: 'C', PATH: LAB_SYSTEM_PATH }
  })
  const stdout = typeof res.stdout === 'string' ? res.stdout : ''
  const stderr = typeof res.stderr === 'string' ? res.stderr.trim() : ''
  const out: RunResult = { ok: !res.failed, stdout, stderr, exitCode: res.exitCode }
  if (res.failed && init.allowFail !== true) {
    throw new LabError(`${[file, ...args].join(' ')}: ${stderr !== '' ? stderr : res.shortMessage}`)
  }
  return out
}

/** argv prefix that runs a command in the named netns `ns` (network namespace only: the mount namespace stays the host's, so `ip netns add` inside is visible to everyone). */
export function inNetns (ns: string | undefined, file: string, args: readonly string[]): [string, string[]] {
  if (ns === undefined) return [file, [...args]]
  return ['nsenter', [`--net=/run/netns/${ns}`, '--', file, ...args]]
}

/** True when running as root (uid 0). */
export function isRoot (): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}
