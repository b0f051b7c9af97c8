/**
 * nft transactions without a process: libnftables (the library the `nft`
 * command is built on) called in-process through koffi, and the netns's
 * nf_tables generation read over netlink.
 *
 * A libnftables context binds its netlink socket to the netns the calling
 * thread is in when the context is made, so each call enters the target netns
 * (`setns` on the calling thread), makes a context, runs the script, frees the
 * context and comes back, synchronously: no JavaScript runs meanwhile, and no
 * context outlives the call, so none keeps a deleted netns alive. One such call
 * costs ~0.1 ms where `nft -f -` costs a fork, an exec and a ruleset parse
 * (~20-40 ms). The script is still one nf_tables transaction: all or nothing.
 *
 * Being synchronous, a call blocks the event loop for as long as the kernel
 * takes; callers send large scripts (full loads) through `nft -f -` instead.
 *
 * A fresh context fetches its cache (the netns's tables, chains, sets) at
 * every call: ~0.2 ms of the ~0.3 ms a one-element transaction costs in the
 * library. Calls with `reuse` (the agent's own named namespaces: LB
 * sandboxes, its host netns) keep the context of each netns and only check
 * its cache against the netns's generation. A kept context holds a netlink
 * socket, and so its netns: it is dropped before the agent deletes that
 * netns ({@link NftLibrary.forget}), when the path names another netns than
 * the one it was made in (the netns was deleted and made again), after a
 * failed call, and once unused for NFT_CONTEXT_IDLE_MS.
 */
import { statSync } from 'node:fs'
import type { Logger } from 'winston'
import { MAX_NFT_CONTEXTS, NFT_CONTEXT_IDLE_MS } from './constants.js'
import { KernelCommandError } from './errors.js'
import { inNetns, loadLibc, type Libc } from './native.js'

/** Netlink: AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER. */
const AF_NETLINK = 16
const SOCK_RAW_CLOEXEC = 3 | 0x80000
const NETLINK_NETFILTER = 12
/** nfnetlink message type of NFT_MSG_GETGEN: (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN. */
const NFT_GETGEN_TYPE = (10 << 8) | 16
const NLM_F_REQUEST = 1
const NLMSG_ERROR = 2
/** Attribute NFTA_GEN_ID of a NEWGEN answer. */
const NFTA_GEN_ID = 1
const NLA_TYPE_MASK = 0x3fff
const NLMSG_HDR_BYTES = 16
const NFGENMSG_BYTES = 4
const RECV_BUF_BYTES = 512

type Fn = (...args: unknown[]) => unknown

interface Lib {
  libc: Libc
  ctxNew: Fn
  ctxFree: Fn
  bufferError: Fn
  bufferOutput: Fn
  errorBuffer: Fn
  outputBuffer: Fn
  run: Fn
}

/** A libnftables context kept for one netns path: the netns it was made in (device and inode of its nsfs file). */
interface KeptContext { ctx: unknown, dev: number, ino: number, usedAt: number }

/** In-process nft: {@link NftLibrary.apply} and {@link NftLibrary.generation}. */
export interface NftLibrary {
  /**
   * Run an nft script as one transaction in `netnsPath` (undefined = the
   * calling thread's own netns); throws {@link KernelCommandError} with nft's
   * message. `reuse`: keep this netns's context (and its cache) for the next
   * call (see the top of this file).
   */
  apply(script: string, netnsPath: string | undefined, reuse?: boolean): void
  /** Drop the kept context of `netnsPath`, if any (before the netns is deleted). */
  forget(netnsPath: string | undefined): void
  /** Whether a context of `netnsPath` is kept now. */
  keeps(netnsPath: string | undefined): boolean
  /** The nf_tables generation of `netnsPath`: it changes with every committed nf_tables transaction in that netns. */
  generation(netnsPath: string | undefined): number
}

let loaded: Promise<NftLibrary | undefined> | undefined

/**
 * Load libnftables and libc through koffi once per process; undefined (and
 * one log line) when either is missing, so callers fall back to `nft -f -`.
 */
export async function loadNftLibrary (logger?: Logger): Promise<NftLibrary | undefined> {
  loaded ??= (async () => {
    try {
      const native = await loadLibc(logger)
      if (native === undefined) return undefined
      const nft = native.load('libnftables.so.1')
      const lib: Lib = {
        libc: native.libc,
        ctxNew: nft.func('void *nft_ctx_new(uint32_t flags)'),
        ctxFree: nft.func('void nft_ctx_free(void *ctx)'),
        bufferError: nft.func('int nft_ctx_buffer_error(void *ctx)'),
        bufferOutput: nft.func('int nft_ctx_buffer_output(void *ctx)'),
        errorBuffer: nft.func('const char *nft_ctx_get_error_buffer(void *ctx)'),
        outputBuffer: nft.func('const char *nft_ctx_get_output_buffer(void *ctx)'),
        run: nft.func('int nft_run_cmd_from_buffer(void *ctx, const char *buf)')
      }
      return new InProcessNft(lib)
    } catch (err) {
      logger?.info('libnftables not usable in-process; nft scripts run as `nft -f -`', { error: (err as Error).message })
      return undefined
    }
  })()
  return await loaded
}

class InProcessNft implements NftLibrary {
  private readonly lib: Lib
  /** Kept contexts by netns path ('' = the process's own netns), least recently used first. */
  private readonly contexts = new Map<string, KeptContext>()
  private cancelSweep: (() => void) | undefined

  constructor (lib: Lib) {
    this.lib = lib
  }

  apply (script: string, netnsPath: string | undefined, reuse = false): void {
    const where = netnsPath ?? 'own netns'
    const what = `nft -f - (libnftables, ${where})`
    const key = netnsPath ?? ''
    // the netns the path names now; a kept context made in another one (deleted and made again) is dropped
    const id = reuse ? netnsIdentity(netnsPath) : undefined
    const kept = this.contexts.get(key)
    if (kept !== undefined && (id === undefined || kept.dev !== id.dev || kept.ino !== id.ino)) this.forget(netnsPath)
    inNetns(this.lib.libc, netnsPath, what, () => {
      let k = this.contexts.get(key)
      const ctx = k?.ctx ?? this.newContext(what)
      let ok = false
      try {
        if (this.lib.run(ctx, script) !== 0) {
          const msg = String(this.lib.errorBuffer(ctx) ?? '').trim()
          throw new KernelCommandError(what, msg === '' ? 'transaction refused' : msg, 1)
        }
        // read (and so empty) what the script printed: a kept context's buffer would grow
        this.lib.outputBuffer(ctx)
        ok = true
      } finally {
        if (!ok || id === undefined) {
          // a failed call may leave the cache half-made: the next one starts afresh
          if (k !== undefined) this.contexts.delete(key)
          this.lib.ctxFree(ctx)
        } else {
          if (k === undefined) {
            k = { ctx, dev: id.dev, ino: id.ino, usedAt: 0 }
            if (this.contexts.size >= MAX_NFT_CONTEXTS) this.dropOldest()
          } else this.contexts.delete(key)
          k.usedAt = Date.now()
          this.contexts.set(key, k)
          this.armSweep()
        }
      }
    })
  }

  forget (netnsPath: string | undefined): void {
    const key = netnsPath ?? ''
    const k = this.contexts.get(key)
    if (k === undefined) return
    this.contexts.delete(key)
    this.lib.ctxFree(k.ctx)
  }

  keeps (netnsPath: string | undefined): boolean {
    return this.contexts.has(netnsPath ?? '')
  }

  private newContext (what: string): unknown {
    const ctx = this.lib.ctxNew(0)
    if (ctx === null) throw new KernelCommandError(what, 'nft_ctx_new failed', undefined)
    this.lib.bufferOutput(ctx)
    this.lib.bufferError(ctx)
    return ctx
  }

  private dropOldest (): void {
    const first = this.contexts.keys().next()
    if (first.done !== true) this.forget(first.value === '' ? undefined : first.value)
  }

  /** While contexts are kept, one unref'd timer drops those unused for NFT_CONTEXT_IDLE_MS. */
  private armSweep (): void {
    if (this.cancelSweep !== undefined) return
    const h = setTimeout(() => {
      this.cancelSweep = undefined
      const cut = Date.now() - NFT_CONTEXT_IDLE_MS
      for (const [key, k] of [...this.contexts]) if (k.usedAt <= cut) this.forget(key === '' ? undefined : key)
      if (this.contexts.size > 0) this.armSweep()
    }, NFT_CONTEXT_IDLE_MS)
    h.unref()
    this.cancelSweep = () => { clearTimeout(h) }
  }

  generation (netnsPath: string | undefined): number {
    const what = `nf_tables generation (${netnsPath ?? 'own netns'})`
    const libc = this.lib.libc
    return inNetns(libc, netnsPath, what, () => {
      const fd = libc.socket(AF_NETLINK, SOCK_RAW_CLOEXEC, NETLINK_NETFILTER) as number
      if (fd < 0) throw new KernelCommandError(what, 'cannot open a netfilter netlink socket', undefined)
      try {
        const req = Buffer.alloc(NLMSG_HDR_BYTES + NFGENMSG_BYTES)
        req.writeUInt32LE(req.length, 0)
        req.writeUInt16LE(NFT_GETGEN_TYPE, 4)
        req.writeUInt16LE(NLM_F_REQUEST, 6)
        req.writeUInt32LE(1, 8)
        if ((libc.send(fd, req, req.length, 0) as number) !== req.length) throw new KernelCommandError(what, 'netlink send failed', undefined)
        const buf = Buffer.alloc(RECV_BUF_BYTES)
        const n = Number(libc.recv(fd, buf, buf.length, 0))
        return parseGeneration(buf.subarray(0, Math.max(0, n)), what)
      } finally {
        libc.close(fd)
      }
    })
  }
}

/** Device and inode of the netns `netnsPath` names now (undefined = the process's own: this thread's); undefined when it cannot be read. */
function netnsIdentity (netnsPath: string | undefined): { dev: number, ino: number } | undefined {
  try {
    const st = statSync(netnsPath ?? '/proc/thread-self/ns/net')
    return { dev: st.dev, ino: st.ino }
  } catch {
    return undefined
  }
}

/** The NFTA_GEN_ID of a netlink NEWGEN answer; throws naming `what` for an error or a short answer. */
export function parseGeneration (msg: Buffer, what: string): number {
  if (msg.length < NLMSG_HDR_BYTES) throw new KernelCommandError(what, `netlink answer of ${msg.length} bytes`, undefined)
  const len = Math.min(msg.readUInt32LE(0), msg.length)
  if (msg.readUInt16LE(4) === NLMSG_ERROR) {
    const errno = msg.length >= NLMSG_HDR_BYTES + 4 ? -msg.readInt32LE(NLMSG_HDR_BYTES) : 0
    throw new KernelCommandError(what, `netlink error ${errno}`, undefined)
  }
  let off = NLMSG_HDR_BYTES + NFGENMSG_BYTES
  while (off + 4 <= len) {
    const alen = msg.readUInt16LE(off)
    if (alen < 4) break
    if ((msg.readUInt16LE(off + 2) & NLA_TYPE_MASK) === NFTA_GEN_ID && alen >= 8) return msg.readUInt32BE(off + 4)
    off += (alen + 3) & ~3
  }
  throw new KernelCommandError(what, 'netlink answer without NFTA_GEN_ID', undefined)
}
