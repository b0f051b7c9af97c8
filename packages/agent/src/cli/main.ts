import { parseArgs } from 'node:util'
import { join } from 'node:path'
import { API_SOCKET_NAME, API_TOKEN_FILE, AGENT_VERSION, DEFAULT_API_SOCKET, DEFAULT_DATA_DIR } from '../constants.js'
import { ConfigError, UsageError } from '../errors.js'
import { parseHostPort, isLoopbackHost } from '../config/values.js'
import { createApiClient, type ApiTarget } from './client.js'
import { readApiTokenFile } from '../api/token.js'
import { COMMANDS, parseCommandArgs, type CliContext } from './commands.js'


/** `scalelb --help` text. */
export function mainHelp (): string {
  const rows = Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(18)} ${c.summary}`)
  return [
    'Usage: scalelb [--socket PATH | --api-addr HOST:PORT] COMMAND [options]',
    '',
    'Commands:',
    `  ${'agent'.padEnd(18)} run the node agent (see scalelb agent --help)`,
    `  ${'keygen'.padEnd(18)} write a new cluster key (scalelb keygen --out FILE)`,
    `  ${'lab'.padEnd(18)} a local cluster in network namespaces (scalelb lab up|status|down --help)`,
    ...rows,
    '',
    'Client options (any position):',
    `  --socket PATH        control API socket (env SCALELB_API_SOCKET; default <SCALELB_DATA_DIR>/${API_SOCKET_NAME} or ${DEFAULT_API_SOCKET})`,
    '  --api-addr HOST:PORT control API on loopback TCP (env SCALELB_API_ADDR)',
    `  --api-token-file F   its bearer token (env SCALELB_API_TOKEN holds the token itself; default <SCALELB_DATA_DIR or ${DEFAULT_DATA_DIR}>/${API_TOKEN_FILE})`,
    '  --json               machine-readable output of read commands',
    '  -h, --help           help of any command',
    '',
    'Exit codes: 0 ok, 1 failure, 2 usage error.'
  ].join('\n')
}

function commandHelp (key: string): string {
  const c = COMMANDS[key]
  if (c === undefined) return mainHelp()
  const flags = Object.entries(c.flags).map(([k, f]) => `  --${k}${f.type === 'string' ? ' VALUE' : ''}${f.multiple === true ? ' (repeatable)' : ''}`)
  return [`Usage: ${c.usage}`, '', c.summary, ...(flags.length > 0 ? ['', 'Options:', ...flags] : [])].join('\n')
}

/** The TCP API's token: --api-token-file, else SCALELB_API_TOKEN, else the data dir's token file (absent: none; the agent says what it needs). */
function apiToken (file: string | undefined, env: CliContext['env']): string | undefined {
  if (file !== undefined) {
    const t = readApiTokenFile(file)
    if (t === undefined) throw new ConfigError('--api-token-file', `cannot read a token from ${file}`)
    return t
  }
  if (env.SCALELB_API_TOKEN !== undefined && env.SCALELB_API_TOKEN !== '') return env.SCALELB_API_TOKEN.trim()
  const dir = env.SCALELB_DATA_DIR !== undefined && env.SCALELB_DATA_DIR !== '' ? env.SCALELB_DATA_DIR : DEFAULT_DATA_DIR
  return readApiTokenFile(join(dir, API_TOKEN_FILE))
}

/** Pull `--socket` / `--api-addr` / `--api-token-file` out of argv (they may appear anywhere). */
function extractTarget (argv: string[], env: CliContext['env']): { rest: string[], target: ApiTarget } {
  const rest: string[] = []
  let socket: string | undefined
  let addr: string | undefined
  let tokenFile: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    const take = (name: string): string | undefined => {
      if (a === name) {
        const v = argv[++i]
        if (v === undefined) throw new UsageError(`${name} needs a value`)
        return v
      }
      if (a.startsWith(`${name}=`)) return a.slice(name.length + 1)
      return undefined
    }
    const s = take('--socket')
    if (s !== undefined) { socket = s; continue }
    const t = take('--api-addr')
    if (t !== undefined) { addr = t; continue }
    const f = take('--api-token-file')
    if (f !== undefined) { tokenFile = f; continue }
    rest.push(a)
  }
  addr ??= env.SCALELB_API_ADDR === '' ? undefined : env.SCALELB_API_ADDR
  if (socket === undefined && addr !== undefined) {
    const hp = parseHostPort('--api-addr', addr)
    if (!isLoopbackHost(hp.host)) throw new ConfigError('--api-addr', 'must be a loopback address')
    return { rest, target: { ...hp, token: apiToken(tokenFile, env) } }
  }
  socket ??= env.SCALELB_API_SOCKET !== undefined && env.SCALELB_API_SOCKET !== ''
    ? env.SCALELB_API_SOCKET
    : env.SCALELB_DATA_DIR !== undefined && env.SCALELB_DATA_DIR !== '' ? join(env.SCALELB_DATA_DIR, API_SOCKET_NAME) : DEFAULT_API_SOCKET
  return { rest, target: { socketPath: socket } }
}

/**
 * Run the `scalelb` CLI; resolves to the exit code (0 ok, 1 failure, 2 usage).
 * `agent` runs until the agent stops.
 */
export async function runCli (argv: string[], ctx: CliContext): Promise<number> {
  const { io } = ctx
  try {
    const first = argv[0]
    if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      ;(first === undefined ? io.err : io.out)(mainHelp())
      return first === undefined ? 2 : 0
    }
    if (first === '--version') {
      io.out(AGENT_VERSION)
      return 0
    }
    if (first === 'agent') {
      const { runAgentCommand } = await import('./agent-command.js')
      return await runAgentCommand(argv.slice(1), ctx)
    }
    if (first === 'keygen') {
      const { runKeygen } = await import('./keygen.js')
      return await runKeygen(argv.slice(1), ctx)
    }
    if (first === 'lab') {
      const { runLab } = await import('../lab/index.js')
      return await runLab(argv.slice(1))
    }
    const { rest, target } = extractTarget(argv, ctx.env)
    const [group, action] = rest
    let key = group ?? ''
    if (COMMANDS[key] === undefined) {
      if (action === undefined || action.startsWith('-')) {
        const known = Object.keys(COMMANDS).filter((k) => k.startsWith(`${key} `))
        if (known.length > 0) {
          const wantsHelp = action === '--help' || action === '-h'
          ;(wantsHelp ? io.out : io.err)(`Usage: scalelb ${key} ${known.map((k) => k.split(' ')[1]).join('|')} ...\n\n${known.map((k) => `  ${k.padEnd(18)} ${COMMANDS[k]?.summary ?? ''}`).join('\n')}`)
          return wantsHelp ? 0 : 2
        }
        throw new UsageError(`unknown command ${JSON.stringify(key)}; see scalelb --help`)
      }
      key = `${group ?? ''} ${action}`
    }
    const cmd = COMMANDS[key]
    if (cmd === undefined) throw new UsageError(`unknown command ${JSON.stringify(key)}; see scalelb --help`)
    const args = rest.slice(key.split(' ').length)
    const { positionals, values } = parseCommandArgs(cmd, args)
    if (values.help === true) {
      io.out(commandHelp(key))
      return 0
    }
    const [min, max] = cmd.positionals
    if (positionals.length < min || positionals.length > max) throw new UsageError(`wrong number of arguments\nUsage: ${cmd.usage}`)
    await cmd.run(createApiClient(target), positionals, values, io)
    return 0
  } catch (err) {
    const e = err as Error
    if (e.name === 'UsageError' || e.name === 'ConfigError') {
      io.err(`scalelb: ${e.message}`)
      return 2
    }
    io.err(`scalelb: ${e.message}`)
    return 1
  }
}

/** Parse helper re-exported for the agent/keygen commands. */
export { parseArgs }
