import type { Logger } from 'winston'
import { KERNEL_COMMAND_TIMEOUT_MS, NFT_IN_PROCESS_MAX_BYTES, SYSTEM_PATH } from './constants.js'
import { KernelCommandError } from './errors.js'
import { applyRtnlOps, parseRtnlLines } from './rtnl-lib.js'
import { matchRtnlRead, runRtnlRead } from './rtnl-read.js'
import { inNetns, loadLibc } from './native.js'
import { readFileSync } from 'node:fs'
import { loadNftLibrary, type NftLibrary } from './nft-lib.js'

/**
 * Where a command runs: a named netns (`/run/netns/<name>`, entered with
 * `ip netns exec`) or a netns path such as `/proc/123/ns/net` (entered with
 * `nsenter`). Undefined = the kernel's base netns.
 */
export type NetnsRef = string

/** Options of one kernel command. */
export interface RunOptions {
  /**
   * Run inside this netns instead of the base one; `null` = the process's own
   * netns (netns add/delete/list: `ip netns add` inside `ip netns exec` would
   * bind-mount in a throw-away mount namespace).
   */
  netns?: NetnsRef | null
  /** Written to the command's stdin (e.g. an `nft -f -` script). */
  input?: string
  signal?: AbortSignal
}

/** The only way scalelb runs `ip`, `nft`, `bridge`, `sysctl`, `ipvsadm`: counts spawns, types errors. */
export interface Kernel {
  /** Run `cmd args...` (in `opts.netns` or the base netns); resolves stdout, rejects with {@link KernelCommandError}. */
  run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<string>
  /** Processes spawned so far by this instance. */
  spawns(): number
  /**
   * The nf_tables generation of a netns (it changes with every committed
   * nf_tables transaction there); undefined when it cannot be read cheaply
   * (no in-process nft), so callers read the state itself.
   */
  nftGeneration?(netns?: NetnsRef): Promise<number | undefined>
  /**
   * A sysctl of a netns (`net.bridge.bridge-nf-call-iptables`), trimmed;
   * undefined when the kernel has none of that name. Read from this process
   * where libc loads (the thread enters the netns), else by `cat`.
   */
  readSysctl?(key: string, netns?: NetnsRef): Promise<string | undefined>
  /** The base netns (undefined = the process's own). */
  readonly baseNetns: NetnsRef | undefined
}

/** Options of {@link createKernel}. */
export interface KernelInit {
  /**
   * Run every command in this netns (a "host" netns in tests and the lab).
   * @default undefined (the agent's own netns)
   */
  baseNetns?: NetnsRef
  logger?: Logger
  /**
   * Per-command timeout (ms).
   * @default KERNEL_COMMAND_TIMEOUT_MS
   */
  timeoutMs?: number
  /**
   * Run `nft -f -` scripts of up to NFT_IN_PROCESS_MAX_BYTES in-process
   * through libnftables (no process per transaction) when it loads.
   * @default true
   */
  nftInProcess?: boolean
  /**
   * Run `ip -batch -` / `bridge -batch -` batches made only of the lines the
   * data plane's hot paths write (overlay neighbour / FDB entries, task veth
   * plumbing: see rtnl-lib.ts) as rtnetlink messages from this process when
   * libc loads through koffi, instead of a process per batch; and answer the
   * data plane's reads (`ip -d -j link show`, `ip -j addr|neigh show`,
   * `bridge -j fdb show dev D`: see rtnl-read.ts) from rtnetlink dumps.
   * @default true
   */
  rtnlInProcess?: boolean
}

/** Options of {@link runCommand}. */
export interface CommandInit {
  /** Written to the command's stdin (e.g. an `nft -f -` script). */
  input?: string
  /**
   * Kill the command after this long (ms).
   * @default KERNEL_COMMAND_TIMEOUT_MS
   */
  timeoutMs?: number
  signal?: AbortSignal
}

/** Outcome of {@link runCommand}. */
export interface CommandResult {
  /** The command line (argv joined by spaces). */
  command: string
  /** It ran and exited 0. */
  ok: boolean
  stdout: string
  /** Standard error, trimmed. */
  stderr: string
  /** Exit code, if it ran. */
  exitCode: number | undefined
  /** Why it failed in a few words (e.g. `Command timed out after 60000 milliseconds`); empty when ok. */
  reason: string
}

/**
 * Run one command with the system PATH and `LC_ALL=C`; resolves whatever
 * the outcome. Every kernel command of the agent (and of the lab) is spawned
 * here.
 */
export async function runCommand (file: string, args: readonly string[], init: CommandInit = {}): Promise<CommandResult> {
  // imported at the first command: an agent that spawns none (the in-process kernel paths, the memory programmer) does not hold execa's 107 modules
  const { execa } = await import('execa')
  const res = await execa(file, args, {
    input: init.input ?? '',
    reject: false,
    timeout: init.timeoutMs ?? KERNEL_COMMAND_TIMEOUT_MS,
    cancelSignal: init.signal,
    stripFinalNewline: true,
    // system tools only: under npm/npx, node_modules/.bin is on PATH and holds an unrelated `nft`
    env: { LC_ALL: 'C', PATH: SYSTEM_PATH }
  })
  return {
    command: [file, ...args].join(' '),
    ok: !res.failed,
    stdout: typeof res.stdout === 'string' ? res.stdout : '',
    stderr: typeof res.stderr === 'string' ? res.stderr.trim() : '',
    exitCode: res.exitCode,
    reason: res.failed ? (res.shortMessage ?? '') : ''
  }
}

/** Argv that runs `cmd args` inside `netns` (or as-is when undefined). */
export function wrapNetns (netns: NetnsRef | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  if (netns === undefined) return [cmd, [...args]]
  if (netns.includes('/')) return ['nsenter', [`--net=${netns}`, '--', cmd, ...args]]
  return ['ip', ['netns', 'exec', netns, cmd, ...args]]
}

class ExecKernel implements Kernel {
  readonly baseNetns: NetnsRef | undefined
  private spawned = 0
  private readonly logger: Logger | undefined
  private readonly timeoutMs: number
  private readonly nftInProcess: boolean
  private readonly rtnlInProcess: boolean

  constructor (init: KernelInit) {
    this.baseNetns = init.baseNetns
    this.logger = init.logger
    this.timeoutMs = init.timeoutMs ?? KERNEL_COMMAND_TIMEOUT_MS
    this.nftInProcess = init.nftInProcess !== false
    this.rtnlInProcess = init.rtnlInProcess !== false
  }

  spawns (): number {
    return this.spawned
  }

  /** libnftables, loaded at the first nft call (a kernel that runs only `ip` never loads it); undefined when off or not loadable. */
  private async nftLib (): Promise<NftLibrary | undefined> {
    return this.nftInProcess ? await loadNftLibrary(this.logger) : undefined
  }

  /** The netns path of a command's netns (undefined = the process's own). */
  private netnsPath (netns: NetnsRef | null | undefined): string | undefined {
    const ref = netns === null ? undefined : (netns ?? this.baseNetns)
    if (ref === undefined) return undefined
    return ref.includes('/') ? ref : `/run/netns/${ref}`
  }

  /**
   * Whether a netns is one of the agent's own, named ones (LB sandboxes, the
   * base netns, the process's own), which only the agent deletes: libnftables
   * keeps a context there (kernel/nft-lib.ts). A netns given as a path (a
   * task's) may be deleted by its owner at any time: never kept.
   */
  private ownNetns (netns: NetnsRef | null | undefined): boolean {
    const ref = netns === null ? undefined : (netns ?? this.baseNetns)
    return ref === undefined || !ref.includes('/')
  }

  async readSysctl (key: string, netns?: NetnsRef): Promise<string | undefined> {
    if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(key)) throw new KernelCommandError(`sysctl ${key}`, 'not a sysctl name', undefined)
    const file = `/proc/sys/${key.replaceAll('.', '/')}`
    const native = this.rtnlInProcess ? await loadLibc(this.logger) : undefined
    if (native !== undefined) {
      // /proc/sys/net resolves to the netns of the thread that opens it
      return inNetns(native.libc, this.netnsPath(netns), `read ${file}`, () => {
        try {
          return readFileSync(file, 'utf8').trim()
        } catch {
          return undefined
        }
      })
    }
    try {
      // sh builtins only (the agent image has no cat)
      return (await this.run('sh', ['-c', 'read -r v < "$1" && echo "$v"', 'sh', file], { netns })).trim()
    } catch (err) {
      if (err instanceof KernelCommandError) return undefined
      throw err
    }
  }

  async nftGeneration (netns?: NetnsRef): Promise<number | undefined> {
    const lib = await this.nftLib()
    return lib?.generation(this.netnsPath(netns))
  }

  async run (cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
    if (cmd === 'nft' && args.length === 2 && args[0] === '-f' && args[1] === '-' && opts.input !== undefined && opts.input.length <= NFT_IN_PROCESS_MAX_BYTES) {
      const lib = await this.nftLib()
      if (lib !== undefined) {
        opts.signal?.throwIfAborted()
        this.logger?.debug('nft transaction in-process', { netns: opts.netns ?? this.baseNetns, inputBytes: opts.input.length })
        lib.apply(opts.input, this.netnsPath(opts.netns), this.ownNetns(opts.netns))
        return ''
      }
    }
    if ((cmd === 'ip' || cmd === 'bridge') && this.rtnlInProcess && args.length === 2 && args[0] === '-batch' && args[1] === '-' && opts.input !== undefined) {
      const ops = parseRtnlLines(cmd, opts.input)
      const native = ops === undefined ? undefined : await loadLibc(this.logger)
      if (ops !== undefined && native !== undefined) {
        opts.signal?.throwIfAborted()
        this.logger?.debug('batch in-process (rtnetlink)', { command: cmd, netns: opts.netns ?? this.baseNetns, lines: ops.length })
        applyRtnlOps(native.libc, ops, this.netnsPath(opts.netns), `${cmd} -batch - (netlink, ${this.netnsPath(opts.netns) ?? 'own netns'})`)
        return ''
      }
    }
    const read = (cmd === 'ip' || cmd === 'bridge') && this.rtnlInProcess && opts.input === undefined ? matchRtnlRead(cmd, args) : undefined
    const native = read === undefined ? undefined : await loadLibc(this.logger)
    if (read !== undefined && native !== undefined) {
      opts.signal?.throwIfAborted()
      return runRtnlRead(native.libc, read, this.netnsPath(opts.netns), `${cmd} ${args.join(' ')} (netlink, ${this.netnsPath(opts.netns) ?? 'own netns'})`)
    }
    if (cmd === 'ip' && args.length === 3 && args[0] === 'netns' && (args[1] === 'del' || args[1] === 'delete')) {
      // a kept libnftables context holds the netns: let it go first
      if (this.nftInProcess) (await this.nftLib())?.forget(`/run/netns/${args[2] as string}`)
    }
    const [file, argv] = wrapNetns(opts.netns === null ? undefined : (opts.netns ?? this.baseNetns), cmd, args)
    const line = [file, ...argv].join(' ')
    this.spawned++
    this.logger?.debug('kernel command', { command: line, inputBytes: opts.input?.length ?? 0 })
    const res = await runCommand(file, argv, { input: opts.input, timeoutMs: this.timeoutMs, signal: opts.signal })
    if (!res.ok) throw new KernelCommandError(line, res.stderr !== '' ? res.stderr : res.reason, res.exitCode)
    return res.stdout
  }
}

/** Create a {@link Kernel} that spawns real commands (needs root for most of them). */
export function createKernel (init: KernelInit = {}): Kernel {
  return new ExecKernel(init)
}

/** True when this process runs as root (uid 0): it may create namespaces and program the kernel. */
export function isRoot (): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}
