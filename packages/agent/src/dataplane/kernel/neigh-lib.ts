/**
 * Overlay neighbour and FDB changes without a process: the `ip -batch -`
 * lines `neigh replace|del` and the `bridge -batch -` lines
 * `fdb replace|append|del` that the overlay writes, sent as rtnetlink
 * messages (RTM_NEWNEIGH / RTM_DELNEIGH, the messages `ip` and `bridge`
 * send for them) from this process, each acknowledged by the kernel.
 *
 * A change of one remote endpoint used to cost two processes (`ip -batch`,
 * `bridge -batch`), each a fork of the ~130 MiB agent plus an exec; here it
 * is a few system calls. Semantics are those of the batch commands: lines
 * are applied in order, the first refused one stops the batch and is
 * reported (with the kernel's reason), what came before it stays applied
 * (neither `ip -batch` nor rtnetlink is transactional; the reconciler then
 * re-reads the kernel and resyncs).
 *
 * Only the line shapes the overlay writes are recognised
 * ({@link parseNeighLines}); any other batch (links, addresses) still runs as
 * the command.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { KernelCommandError } from './errors.js'
import { inNetns, type Libc } from './native.js'

const AF_INET = 2
const AF_INET6 = 10
const AF_BRIDGE = 7
const AF_NETLINK = 16
const SOCK_RAW_CLOEXEC = 3 | 0x80000
const NETLINK_ROUTE = 0
const RTM_NEWNEIGH = 28
const RTM_DELNEIGH = 29
const NLMSG_ERROR = 2
const NLM_F_REQUEST = 0x1
const NLM_F_ACK = 0x4
const NLM_F_REPLACE = 0x100
const NLM_F_CREATE = 0x400
const NLM_F_APPEND = 0x800
const NUD_NOARP = 0x40
const NUD_PERMANENT = 0x80
const NTF_SELF = 0x02
const NDA_DST = 1
const NDA_LLADDR = 2
const MSG_DONTWAIT = 0x40
const NLMSG_HDR_BYTES = 16
const NDMSG_BYTES = 12
/** An ack of a refused request quotes the request (~60 bytes here): room for several. */
const RECV_BUF_BYTES = 4096

/** One recognised batch line. */
export interface NeighOp {
  /** `neigh` (`ip`: IP -> MAC on a device) or `fdb` (`bridge ... self`: MAC -> underlay IP on a VXLAN device). */
  kind: 'neigh' | 'fdb'
  op: 'replace' | 'append' | 'del'
  dev: string
  /** neigh: the neighbour's IP; fdb: the remote underlay IP (`dst`). */
  ip: string
  /** neigh: its link-layer address (not for del); fdb: the entry's MAC. */
  mac: string | undefined
  /** The line as given (for error messages). */
  line: string
}

const MAC_RE = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/
const DEV_RE = /^[a-zA-Z0-9_.-]{1,15}$/

function isIp (s: string): boolean {
  return isIPv4(s) || isIPv6(s)
}

/** One line of `ip -batch` (tool 'ip') or `bridge -batch` (tool 'bridge'), if it is an overlay neighbour/FDB change. */
export function parseNeighLine (tool: 'ip' | 'bridge', line: string): NeighOp | undefined {
  const w = line.trim().split(/\s+/)
  if (tool === 'ip') {
    // neigh replace <ip> lladdr <mac> dev <dev> nud permanent | neigh del <ip> dev <dev>
    if (w[0] !== 'neigh') return undefined
    if (w.length === 9 && w[1] === 'replace' && w[3] === 'lladdr' && w[5] === 'dev' && w[7] === 'nud' && w[8] === 'permanent') {
      const [ip, mac, dev] = [w[2] as string, w[4] as string, w[6] as string]
      return isIp(ip) && MAC_RE.test(mac) && DEV_RE.test(dev) ? { kind: 'neigh', op: 'replace', dev, ip, mac, line } : undefined
    }
    if (w.length === 5 && w[1] === 'del' && w[3] === 'dev') {
      const [ip, dev] = [w[2] as string, w[4] as string]
      return isIp(ip) && DEV_RE.test(dev) ? { kind: 'neigh', op: 'del', dev, ip, mac: undefined, line } : undefined
    }
    return undefined
  }
  // fdb replace|append <mac> dev <dev> dst <ip> self permanent | fdb del <mac> dev <dev> dst <ip> self
  if (w[0] !== 'fdb' || w[3] !== 'dev' || w[5] !== 'dst' || w[7] !== 'self') return undefined
  const op = w[1]
  const permanent = w.length === 9 && w[8] === 'permanent'
  const [mac, dev, ip] = [w[2] as string, w[4] as string, w[6] as string]
  if (!MAC_RE.test(mac) || !DEV_RE.test(dev) || !isIp(ip)) return undefined
  if ((op === 'replace' || op === 'append') && permanent) return { kind: 'fdb', op, dev, ip, mac, line }
  if (op === 'del' && w.length === 8) return { kind: 'fdb', op, dev, ip, mac, line }
  return undefined
}

/** Every line of a batch parsed, or undefined when any line is not a neighbour/FDB change (or the batch is empty). */
export function parseNeighLines (tool: 'ip' | 'bridge', input: string): NeighOp[] | undefined {
  const ops: NeighOp[] = []
  for (const line of input.split('\n')) {
    if (line.trim() === '') continue
    const op = parseNeighLine(tool, line)
    if (op === undefined) return undefined
    ops.push(op)
  }
  return ops.length === 0 ? undefined : ops
}

/** The bytes of an IPv4 or IPv6 address. */
export function ipBytes (ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number))
  let s = ip
  const tail: number[] = []
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (v4 !== null) {
    tail.push(...(v4[1] as string).split('.').map(Number))
    s = `${s.slice(0, -(v4[1] as string).length)}0:0`
  }
  const [head, rest] = s.split('::') as [string, string | undefined]
  const words = (x: string): number[] => x === '' ? [] : x.split(':').map((h) => parseInt(h, 16))
  const hi = words(head)
  const lo = rest === undefined ? [] : words(rest)
  const all = [...hi, ...new Array<number>(8 - hi.length - lo.length).fill(0), ...lo]
  const b = Buffer.alloc(16)
  all.forEach((v, i) => b.writeUInt16BE(v, i * 2))
  if (tail.length === 4) Buffer.from(tail).copy(b, 12)
  return b
}

function macBytes (mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)))
}

/** The rtnetlink request of one op on interface `ifindex`, with sequence number `seq` (host byte order, as netlink wants). */
export function encodeNeighOp (op: NeighOp, ifindex: number, seq: number): Buffer {
  const attrs: Array<[number, Buffer]> = [[NDA_DST, ipBytes(op.ip)]]
  if (op.mac !== undefined) attrs.push([NDA_LLADDR, macBytes(op.mac)])
  const attrBytes = attrs.reduce((n, [, v]) => n + ((4 + v.length + 3) & ~3), 0)
  const b = Buffer.alloc(NLMSG_HDR_BYTES + NDMSG_BYTES + attrBytes)
  let flags = NLM_F_REQUEST | NLM_F_ACK
  if (op.op === 'replace') flags |= NLM_F_CREATE | NLM_F_REPLACE
  else if (op.op === 'append') flags |= NLM_F_CREATE | NLM_F_APPEND
  b.writeUInt32LE(b.length, 0)
  b.writeUInt16LE(op.op === 'del' ? RTM_DELNEIGH : RTM_NEWNEIGH, 4)
  b.writeUInt16LE(flags, 6)
  b.writeUInt32LE(seq, 8)
  // ndmsg: family, pad, pad, ifindex, state, flags, type (as `ip neigh` / `bridge fdb` fill it)
  const family = op.kind === 'fdb' ? AF_BRIDGE : (isIPv4(op.ip) ? AF_INET : AF_INET6)
  b.writeUInt8(family, 16)
  b.writeInt32LE(ifindex, 20)
  b.writeUInt16LE(op.kind === 'fdb' ? NUD_NOARP | NUD_PERMANENT : NUD_PERMANENT, 24)
  b.writeUInt8(op.kind === 'fdb' ? NTF_SELF : 0, 26)
  let off = NLMSG_HDR_BYTES + NDMSG_BYTES
  for (const [type, v] of attrs) {
    b.writeUInt16LE(4 + v.length, off)
    b.writeUInt16LE(type, off + 2)
    v.copy(b, off + 4)
    off += (4 + v.length + 3) & ~3
  }
  return b
}

/** Acknowledgements in a netlink answer: sequence number -> errno (0 = done). */
export function parseAcks (msg: Buffer, into: Map<number, number>): void {
  let off = 0
  while (off + NLMSG_HDR_BYTES <= msg.length) {
    const len = msg.readUInt32LE(off)
    if (len < NLMSG_HDR_BYTES) break
    if (msg.readUInt16LE(off + 4) === NLMSG_ERROR && len >= NLMSG_HDR_BYTES + 4) {
      into.set(msg.readUInt32LE(off + 8), Math.abs(msg.readInt32LE(off + NLMSG_HDR_BYTES)))
    }
    off += (len + 3) & ~3
  }
}

/** What `ip`/`bridge` print for the usual refusals, so messages read as before. */
function reason (libc: Libc, errno: number): string {
  return `RTNETLINK answers: ${String(libc.strerror(errno) ?? `errno ${errno}`)}`
}

/**
 * Apply `ops` in order inside `netnsPath` (undefined = the calling thread's
 * netns); throws {@link KernelCommandError} naming `command`, the refused line
 * and the kernel's reason at the first refusal.
 */
export function applyNeighOps (libc: Libc, ops: readonly NeighOp[], netnsPath: string | undefined, command: string): void {
  inNetns(libc, netnsPath, command, () => {
    const ifindex = new Map<string, number>()
    const msgs = ops.map((op, i) => {
      let idx = ifindex.get(op.dev)
      if (idx === undefined) {
        idx = Number(libc.ifNameToIndex(op.dev))
        if (idx === 0) throw new KernelCommandError(command, `Cannot find device "${op.dev}" (line ${i + 1}: ${op.line.trim()})`, 1)
        ifindex.set(op.dev, idx)
      }
      return encodeNeighOp(op, idx, i + 1)
    })
    const fd = libc.socket(AF_NETLINK, SOCK_RAW_CLOEXEC, NETLINK_ROUTE) as number
    if (fd < 0) throw new KernelCommandError(command, 'cannot open a netlink socket', undefined)
    try {
      const buf = Buffer.alloc(RECV_BUF_BYTES)
      const acks = new Map<number, number>()
      // one request at a time, as the batch commands: the kernel applies every message of a send, so a
      // refused line must be known before the next one goes out
      msgs.forEach((msg, i) => {
        const seq = i + 1
        if (Number(libc.send(fd, msg, msg.length, 0)) !== msg.length) throw new KernelCommandError(command, 'netlink send failed', undefined)
        // rtnetlink handles a request inside send(): its ack is queued by now, so reading never waits
        const n = Number(libc.recv(fd, buf, buf.length, MSG_DONTWAIT))
        if (n > 0) parseAcks(buf.subarray(0, n), acks)
        const errno = acks.get(seq)
        if (errno === undefined) throw new KernelCommandError(command, `netlink: no acknowledgement of line ${seq}`, undefined)
        if (errno !== 0) throw new KernelCommandError(command, `${reason(libc, errno)} (line ${seq}: ${(ops[i] as NeighOp).line.trim()})`, 1)
      })
    } finally {
      libc.close(fd)
    }
  })
}
