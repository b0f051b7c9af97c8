/**
 * libc through koffi, loaded once per process, and running a synchronous
 * call with the calling thread inside another network namespace: what the
 * in-process kernel paths (libnftables, rtnetlink) share.
 *
 * A netlink socket belongs to the netns of the thread that opens it, so each
 * call enters the target netns (`setns` on the calling thread), does its
 * work and comes back before returning: no JavaScript runs meanwhile, and no
 * socket outlives the call, so none keeps a deleted netns alive.
 *
 * Signals are held on the calling thread for the length of the call: the
 * agent's child processes send it SIGCHLD at any moment, and a signal that
 * lands while libnftables waits in select(2) for the kernel's answer ends the
 * wait with EINTR (select is never restarted), so libnftables reports
 * "Interrupted system call" for a transaction the kernel may well have
 * committed. Held signals are delivered when the call returns; libuv's
 * handlers only write to a pipe, so nothing is lost.
 */
import { closeSync, openSync } from 'node:fs'
import type { Logger } from 'winston'
import { KernelCommandError } from './errors.js'

/** CLONE_NEWNET, the `nstype` of setns(2) for a network namespace. */
const CLONE_NEWNET = 0x40000000
/** pthread_sigmask(3) `how`: add to the mask, or set it. */
const SIG_BLOCK = 0
const SIG_SETMASK = 2
/** glibc's sigset_t: 1024 bits. Every bit set holds every signal (the kernel ignores SIGKILL and SIGSTOP). */
const SIGSET_BYTES = 128
const ALL_SIGNALS = Buffer.alloc(SIGSET_BYTES, 0xff)

type Fn = (...args: unknown[]) => unknown

/** The libc functions the in-process paths call. */
export interface Libc {
  setns: Fn
  socket: Fn
  send: Fn
  recv: Fn
  close: Fn
  ifNameToIndex: Fn
  strerror: Fn
  sigmask: Fn
  /** malloc_trim(3): give free malloc pages back (the agent's memory trimmer). */
  mallocTrim: Fn
  /** madvise(2), the address as a bigint: drop file pages touched once (components/file-pages.ts). */
  madvise: Fn
}

/** Opens another shared library through koffi (e.g. libnftables). */
export type LoadLibrary = (path: string) => { func: (signature: string) => Fn }

let loaded: Promise<{ load: LoadLibrary, libc: Libc } | undefined> | undefined

/**
 * koffi and libc, loaded at the first call; undefined (and one log line)
 * when either is missing, so callers fall back to spawning the command.
 */
export async function loadLibc (logger?: Logger): Promise<{ load: LoadLibrary, libc: Libc } | undefined> {
  loaded ??= (async () => {
    try {
      const koffi = (await import('koffi')).default
      const c = koffi.load('libc.so.6')
      const libc: Libc = {
        setns: c.func('int setns(int fd, int nstype)'),
        socket: c.func('int socket(int domain, int type, int protocol)'),
        send: c.func('long send(int fd, const uint8_t *buf, size_t len, int flags)'),
        recv: c.func('long recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)'),
        close: c.func('int close(int fd)'),
        ifNameToIndex: c.func('unsigned int if_nametoindex(const char *ifname)'),
        strerror: c.func('const char *strerror(int errnum)'),
        sigmask: c.func('int pthread_sigmask(int how, const uint8_t *set, _Out_ uint8_t *oldset)'),
        mallocTrim: c.func('int malloc_trim(size_t pad)'),
        madvise: c.func('int madvise(uintptr_t addr, size_t len, int advice)')
      }
      return { load: (path: string) => koffi.load(path), libc }
    } catch (err) {
      logger?.info('koffi/libc not usable: kernel calls run as processes', { error: (err as Error).message })
      return undefined
    }
  })()
  return await loaded
}

/** Run `fn` with the calling thread's signals held (see the top of this file), and restore its mask whatever happens. */
function withSignalsHeld<T> (libc: Libc, what: string, fn: () => T): T {
  const old = Buffer.alloc(SIGSET_BYTES)
  if (libc.sigmask(SIG_BLOCK, ALL_SIGNALS, old) !== 0) throw new KernelCommandError(what, 'pthread_sigmask failed', undefined)
  try {
    return fn()
  } finally {
    libc.sigmask(SIG_SETMASK, old, null)
  }
}

/**
 * Run `fn` with the calling thread in `netnsPath` (undefined = stay) and its
 * signals held, and come back whatever happens.
 */
export function inNetns<T> (libc: Libc, netnsPath: string | undefined, what: string, fn: () => T): T {
  return withSignalsHeld(libc, what, () => enterNetns(libc, netnsPath, what, fn))
}

function enterNetns<T> (libc: Libc, netnsPath: string | undefined, what: string, fn: () => T): T {
  if (netnsPath === undefined) return fn()
  let target: number
  let home: number
  try {
    target = openSync(netnsPath, 'r')
  } catch (err) {
    throw new KernelCommandError(what, `Cannot open network namespace "${netnsPath}": ${(err as Error).message}`, undefined)
  }
  try {
    home = openSync('/proc/thread-self/ns/net', 'r')
  } catch (err) {
    closeSync(target)
    throw new KernelCommandError(what, `cannot open this thread's netns: ${(err as Error).message}`, undefined)
  }
  let back = true
  try {
    if (libc.setns(target, CLONE_NEWNET) !== 0) throw new KernelCommandError(what, `setns into ${netnsPath} failed`, undefined)
    try {
      return fn()
    } finally {
      back = libc.setns(home, CLONE_NEWNET) === 0
    }
  } finally {
    closeSync(target)
    closeSync(home)
    // coming back cannot fail for a netns fd opened from this very thread; if it did, no later socket of the agent would be safe
    if (!back) process.abort()
  }
}
