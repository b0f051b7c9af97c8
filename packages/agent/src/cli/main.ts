import { join } from 'node:path'
import { API_SOCKET_NAME, API_TOKEN_FILE, AGENT_VERSION, DEFAULT_API_SOCKET, DEFAULT_DATA_DIR } from '../constants.js'
import { ConfigError, UsageError, exitCodeOf } from '../errors.js'
import { parseHostPort, isLoopbackHost } from '../config/values.js'
import { createApiClient, type ApiTarget } from '../api/client.js'
import { readApiTokenFile } from '../api/token-file.js'
import { COMMANDS, parseCommandArgs, type CliContext } from './commands.js'
import { loadLab } from './lab-loader.js'


/** `scalelb --help` text. */
export function mainHelp (): string {
  const rows = Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(18)} ${c.summary}`)
  return [
    'Usage: scalelb [--socket PATH | --api-addr HOST:PORT] COMMAND [options]',
    '',
    'Commands:',
    `  ${'agent'.padEnd(18)} run the node agent (see scalelb agent --help)`,
    `  ${'keygen'.padEnd(18)} write a new cluster's keys (scalelb keygen --out cluster.key --manager-out manager.key)`,
    `  ${'node-id'.padEnd(18)} print this host's node ID, making its node key if needed (scalelb node-id [--data-dir DIR])`,
    `  ${'lab'.padEnd(18)} a local cluster in network namespaces (scalelb lab up|status|down --help)`,
    ...rows,
    '',
    'Client options (any position):',
    `  --socket PATH        control API socket (env SCALELB_API_SOCKET; default <SCALELB_DATA_DIR>/${API_SOCKET_NAME} or ${DEFAULT_API_SOCKET})`,
    '  --api-addr HOST:PORT control API on loopback TCP (env SCALELB_API_ADDR)',
    `  --api-token-file F   its bearer token (env SCALELB_API_TOKEN holds the token itself; default <SCALELB_DATA_DIR or ${DEFAULT_DATA_DIR}>/${API_TOKEN_FILE})`,
    '  --json               machine-readable output of read commands',
    '  -h, --help           help of any command',
    '  --version            print the version',
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

/** Client options given anywhere on the command line. */
interface ClientOptions {
  /** argv without the client options. */
  rest: string[]
  socket?: string
  addr?: string
  tokenFile?: string
  json: boolean
}

/**
 * Pull the client options (`--socket`, `--api-addr`, `--api-token-file`, `--json`) out of argv:
 * they may appear before the command, between its words or after them.
 */
function extractClientOptions (argv: string[]): ClientOptions {
  const out: ClientOptions = { rest: [], json: false }
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
    if (s !== undefined) { out.socket = s; continue }
    const t = take('--api-addr')
    if (t !== undefined) { out.addr = t; continue }
    const f = take('--api-token-file')
    if (f !== undefined) { out.tokenFile = f; continue }
    if (a === '--json') { out.json = true; continue }
    out.rest.push(a)
  }
  return out
}

/** Where the control API is: flags first, then SCALELB_API_SOCKET / SCALELB_API_ADDR / SCALELB_DATA_DIR, then the default. */
function resolveTarget (opts: ClientOptions, env: CliContext['env']): ApiTarget {
  let socket = opts.socket
  const addr = opts.addr ?? (env.SCALELB_API_ADDR === '' ? undefined : env.SCALELB_API_ADDR)
  if (socket === undefined && addr !== undefined) {
    const hp = parseHostPort('--api-addr', addr)
    if (!isLoopbackHost(hp.host)) throw new ConfigError('--api-addr', 'must be a loopback address')
    return { ...hp, token: apiToken(opts.tokenFile, env) }
  }
  socket ??= env.SCALELB_API_SOCKET !== undefined && env.SCALELB_API_SOCKET !== ''
    ? env.SCALELB_API_SOCKET
    : env.SCALELB_DATA_DIR !== undefined && env.SCALELB_DATA_DIR !== '' ? join(env.SCALELB_DATA_DIR, API_SOCKET_NAME) : DEFAULT_API_SOCKET
  return { socketPath: socket }
}

/** Client options that take a value. */
const VALUED_CLIENT_OPTIONS = ['--socket', '--api-addr', '--api-token-file']

/** Commands with their own option parser (and no client options). */
const PROCESS_COMMANDS = new Set(['agent', 'keygen', 'node-id', 'lab'])

/**
 * Leading options before the command word: client options (kept for the
 * client commands), `--help`/`-h` and `--version`. Returns the index of the
 * command word (argv.length when there is none).
 */
function scanLeading (argv: string[]): { index: number, help: boolean, version: boolean } {
  let help = false
  let version = false
  let i = 0
  for (; i < argv.length; i++) {
    const a = argv[i] as string
    if (!a.startsWith('-')) break
    if (a === '--help' || a === '-h') help = true
    else if (a === '--version') version = true
    else if (VALUED_CLIENT_OPTIONS.includes(a)) i++
    else if (!(a === '--json' || VALUED_CLIENT_OPTIONS.some((o) => a.startsWith(`${o}=`)))) throw new UsageError(`unknown option ${JSON.stringify(a)} before the command; see scalelb --help`)
  }
  return { index: i, help, version }
}

/**
 * Run the `scalelb` CLI; resolves to the exit code (0 ok, 1 failure, 2 usage).
 * `agent` runs until the agent stops.
 */
export async function runCli (argv: string[], ctx: CliContext): Promise<number> {
  const { io } = ctx
  try {
    const lead = scanLeading(argv)
    const first = argv[lead.index]
    if (lead.version) {
      io.out(AGENT_VERSION)
      return 0
    }
    if (first === undefined || first === 'help') {
      const asked = lead.help || first === 'help'
      ;(asked ? io.out : io.err)(mainHelp())
      return asked ? 0 : 2
    }
    if (PROCESS_COMMANDS.has(first)) {
      if (lead.index > 0 && !lead.help) throw new UsageError(`${first} takes its options after the command; see scalelb ${first} --help`)
      const args = [...argv.slice(lead.index + 1), ...(lead.help ? ['--help'] : [])]
      if (first === 'agent') {
        const { runAgentCommand } = await import('./agent-command.js')
        return await runAgentCommand(args, ctx)
      }
      if (first === 'keygen') {
        const { runKeygen } = await import('./keygen.js')
        return await runKeygen(args, ctx)
      }
      if (first === 'node-id') {
        const { runNodeId } = await import('./keygen.js')
        return await runNodeId(args, ctx)
      }
      const { runLab } = await loadLab()
      return await runLab(args)
    }
    const opts = extractClientOptions(argv)
    // a leading --help is the help of the command that follows
    const rest = lead.help ? [...opts.rest.filter((a) => a !== '--help' && a !== '-h'), '--help'] : opts.rest
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
    if (opts.json) values.json = true
    const [min, max] = cmd.positionals
    if (positionals.length < min || positionals.length > max) throw new UsageError(`wrong number of arguments\nUsage: ${cmd.usage}`)
    await cmd.run(createApiClient(resolveTarget(opts, ctx.env)), positionals, values, io)
    return 0
  } catch (err) {
    const e = err as Error
    io.err(`scalelb: ${e.message}`)
    return exitCodeOf(e)
  }
}
