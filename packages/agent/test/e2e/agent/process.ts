/** Run `scalelb agent` as a real child process (optionally inside a netns), for process-level tests. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { runCli } from '../../../src/cli/main.js'

const BIN = fileURLToPath(new URL('../../../src/cli/bin.ts', import.meta.url))

/** A running agent process. */
export interface AgentProcess {
  child: ChildProcess
  /** Everything it printed (JSON log lines). */
  output: () => string
  /** Send a signal and resolve the exit code. */
  stop: (signal: NodeJS.Signals) => Promise<number | null>
  exited: Promise<number | null>
}

/**
 * Start `scalelb agent ARGS` (inside `netns` when given). `nsenter --net`
 * switches only the network namespace: under `ip netns exec` (a private
 * mount namespace) the LB netns the agent creates would be bind-mounted where
 * nobody else sees them, and vanish with the process.
 */
export function startAgentProcess (args: string[], netns?: string): AgentProcess {
  const node = [process.execPath, '--import', 'tsx', '--conditions=scalelb-source', BIN, 'agent', ...args]
  const child = netns === undefined
    ? spawn(node[0] as string, node.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('nsenter', [`--net=/run/netns/${netns}`, '--', ...node], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {
    child,
    output: () => out,
    exited,
    async stop (signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return await exited
    }
  }
}

/** Run a CLI command against a socket; returns exit code and output. */
export async function cli (socket: string, ...argv: string[]): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(argv, { io: { out: (s) => { out += s + '\n' }, err: (s) => { err += s + '\n' } }, env: { SCALELB_API_SOCKET: socket } })
  return { code, out, err }
}
