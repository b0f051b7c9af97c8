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
 */
import type { Logger } from 'winston'
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
  run: Fn
}

/** In-process nft: {@link NftLibrary.apply} and {@link NftLibrary.generation}. */
export interface NftLibrary {
  /** Run an nft script as one transaction in `netnsPath` (undefined = the calling thread's own netns); throws {@link KernelCommandError} with nft's message. */
  apply(script: string, netnsPath: string | undefined): void
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

  constructor (lib: Lib) {
    this.lib = lib
  }

  apply (script: string, netnsPath: string | undefined): void {
    const where = netnsPath ?? 'own netns'
    inNetns(this.lib.libc, netnsPath, `nft -f - (libnftables, ${where})`, () => {
      const ctx = this.lib.ctxNew(0)
      if (ctx === null) throw new KernelCommandError(`nft -f - (libnftables, ${where})`, 'nft_ctx_new failed', undefined)
      try {
        this.lib.bufferOutput(ctx)
        this.lib.bufferError(ctx)
        if (this.lib.run(ctx, script) !== 0) {
          const msg = String(this.lib.errorBuffer(ctx) ?? '').trim()
          throw new KernelCommandError(`nft -f - (libnftables, ${where})`, msg === '' ? 'transaction refused' : msg, 1)
        }
      } finally {
        this.lib.ctxFree(ctx)
      }
    })
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
