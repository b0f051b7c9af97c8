/**
 * Batches of `ip -batch -` / `bridge -batch -` without a process: the line
 * shapes the data plane writes on its hot paths, sent as rtnetlink messages
 * (the requests `ip` and `bridge` send for them) from this process, each
 * acknowledged by the kernel:
 *
 * - overlay neighbour and FDB entries of remote endpoints: `neigh replace|del`,
 *   `fdb replace|append|del ... self` (every remote task add or remove);
 * - task plumbing: `link add <host> mtu M type veth peer name <peer> mtu M
 *   [netns <path>]`, `link set <dev> master <bridge>|up|address <mac>`,
 *   `addr add <ip>/<len> dev <dev>`, `link del <dev>` (every local task add
 *   or remove).
 *
 * Each used to cost a process (`ip -batch`, `bridge -batch`, `nsenter ... ip
 * -batch`): a fork of the ~130 MiB agent plus an exec; here it is a few
 * system calls. Semantics are those of the batch commands: lines are applied
 * in order, one request at a time; the first refused one stops the batch and
 * is reported with the kernel's reason (`RTNETLINK answers: File exists`)
 * and the line; what came before it stays applied (neither `ip -batch` nor
 * rtnetlink is transactional: the callers roll back or the reconciler re-reads
 * the kernel and resyncs).
 *
 * A batch with any other line (bridge and VXLAN creation, aliases, routes)
 * runs as the command ({@link parseRtnlLines} answers undefined).
 */
import { closeSync, openSync } from 'node:fs'
import { isIPv4, isIPv6 } from 'node:net'
import ipNum from 'ip-num'
import { KernelCommandError } from './errors.js'
import { inNetns, type Libc } from './native.js'
import {
  AF_UNSPEC, AF_INET, AF_INET6, AF_BRIDGE, AF_NETLINK, SOCK_RAW_CLOEXEC, NETLINK_ROUTE, NLMSG_ERROR, NLM_F_REQUEST, NUD_NOARP, NUD_PERMANENT, NDA_DST, NDA_LLADDR, IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_INFO_KIND, IFLA_INFO_DATA, IFA_ADDRESS, IFA_LOCAL, MSG_DONTWAIT, NLMSG_HDR_BYTES, NDMSG_BYTES, IFINFOMSG_BYTES, IFADDRMSG_BYTES
} from './netlink.js'
import { IFNAME_RE } from '../../constants.js'

const RTM_NEWLINK = 16
const RTM_DELLINK = 17
const RTM_NEWADDR = 20
const RTM_NEWNEIGH = 28
const RTM_DELNEIGH = 29
const NLM_F_ACK = 0x4
const NLM_F_REPLACE = 0x100
const NLM_F_EXCL = 0x200
const NLM_F_CREATE = 0x400
const NLM_F_APPEND = 0x800
const NTF_SELF = 0x02
const IFF_UP = 0x1
const IFLA_NET_NS_FD = 28
const VETH_INFO_PEER = 1
/** An ack of a refused request quotes the request (at most a few hundred bytes here): room for several. */
const RECV_BUF_BYTES = 4096

/** One recognised batch line. */
export type RtnlOp =
  /** neigh: IP -> MAC on a device; fdb (`bridge ... self`): MAC -> underlay IP (`dst`) on a VXLAN device. */
  | { kind: 'neigh' | 'fdb', op: 'replace' | 'append' | 'del', dev: string, ip: string, mac: string | undefined, line: string }
  /** A veth pair, the peer made in `peerNetns` (a path) when given. */
  | { kind: 'veth', name: string, mtu: number, peer: string, peerMtu: number, peerNetns: string | undefined, line: string }
  /** One `link set`: a master, up, or a MAC. */
  | { kind: 'link-set', dev: string, master?: string, up?: true, mac?: string, line: string }
  | { kind: 'link-del', dev: string, line: string }
  | { kind: 'addr-add', dev: string, ip: string, prefixLen: number, line: string }

const MAC_RE = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/
const MTU_RE = /^[1-9][0-9]{0,5}$/

function isIp (s: string): boolean {
  return isIPv4(s) || isIPv6(s)
}

/** `ip` lines: neigh, veth add, link set/del, addr add. */
function parseIpLine (w: string[], line: string): RtnlOp | undefined {
  if (w[0] === 'neigh') {
    // neigh replace <ip> lladdr <mac> dev <dev> nud permanent | neigh del <ip> dev <dev>
    if (w.length === 9 && w[1] === 'replace' && w[3] === 'lladdr' && w[5] === 'dev' && w[7] === 'nud' && w[8] === 'permanent') {
      const [ip, mac, dev] = [w[2] as string, w[4] as string, w[6] as string]
      return isIp(ip) && MAC_RE.test(mac) && IFNAME_RE.test(dev) ? { kind: 'neigh', op: 'replace', dev, ip, mac, line } : undefined
    }
    if (w.length === 5 && w[1] === 'del' && w[3] === 'dev') {
      const [ip, dev] = [w[2] as string, w[4] as string]
      return isIp(ip) && IFNAME_RE.test(dev) ? { kind: 'neigh', op: 'del', dev, ip, mac: undefined, line } : undefined
    }
    return undefined
  }
  if (w[0] === 'link' && w[1] === 'add') {
    // link add <name> mtu <m> type veth peer name <peer> mtu <m> [netns <path>]
    const [name, mtu, peer, peerMtu] = [w[2] as string, w[4] as string, w[9] as string, w[11] as string]
    const shape = w[3] === 'mtu' && w[5] === 'type' && w[6] === 'veth' && w[7] === 'peer' && w[8] === 'name' && w[10] === 'mtu' &&
      (w.length === 12 || (w.length === 14 && w[12] === 'netns' && (w[13] as string).startsWith('/')))
    if (!shape || !IFNAME_RE.test(name) || !IFNAME_RE.test(peer) || !MTU_RE.test(mtu) || !MTU_RE.test(peerMtu)) return undefined
    return { kind: 'veth', name, mtu: Number(mtu), peer, peerMtu: Number(peerMtu), peerNetns: w[13], line }
  }
  if (w[0] === 'link' && w[1] === 'set' && IFNAME_RE.test(w[2] ?? '')) {
    const dev = w[2] as string
    if (w.length === 4 && w[3] === 'up') return { kind: 'link-set', dev, up: true, line }
    if (w.length === 5 && w[3] === 'master' && IFNAME_RE.test(w[4] as string)) return { kind: 'link-set', dev, master: w[4] as string, line }
    if (w.length === 5 && w[3] === 'address' && MAC_RE.test(w[4] as string)) return { kind: 'link-set', dev, mac: w[4] as string, line }
    return undefined
  }
  if (w[0] === 'link' && w[1] === 'del' && w.length === 3 && IFNAME_RE.test(w[2] as string)) return { kind: 'link-del', dev: w[2] as string, line }
  if (w[0] === 'addr' && w[1] === 'add' && w.length === 5 && w[3] === 'dev' && IFNAME_RE.test(w[4] as string)) {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(w[2] as string)
    if (m === null || !isIp(m[1] as string)) return undefined
    const prefixLen = Number(m[2])
    if (prefixLen > (isIPv4(m[1] as string) ? 32 : 128)) return undefined
    return { kind: 'addr-add', dev: w[4] as string, ip: m[1] as string, prefixLen, line }
  }
  return undefined
}

/** `bridge` lines: fdb replace|append <mac> dev <dev> dst <ip> self permanent | fdb del <mac> dev <dev> dst <ip> self. */
function parseBridgeLine (w: string[], line: string): RtnlOp | undefined {
  if (w[0] !== 'fdb' || w[3] !== 'dev' || w[5] !== 'dst' || w[7] !== 'self') return undefined
  const op = w[1]
  const permanent = w.length === 9 && w[8] === 'permanent'
  const [mac, dev, ip] = [w[2] as string, w[4] as string, w[6] as string]
  if (!MAC_RE.test(mac) || !IFNAME_RE.test(dev) || !isIp(ip)) return undefined
  if ((op === 'replace' || op === 'append') && permanent) return { kind: 'fdb', op, dev, ip, mac, line }
  if (op === 'del' && w.length === 8) return { kind: 'fdb', op, dev, ip, mac, line }
  return undefined
}

/** One line of `ip -batch` (tool 'ip') or `bridge -batch` (tool 'bridge'), if it is one this module sends itself. */
export function parseRtnlLine (tool: 'ip' | 'bridge', line: string): RtnlOp | undefined {
  const w = line.trim().split(/\s+/)
  return tool === 'ip' ? parseIpLine(w, line) : parseBridgeLine(w, line)
}

/** Every line of a batch parsed, or undefined when any line is not one this module sends (or the batch is empty). */
export function parseRtnlLines (tool: 'ip' | 'bridge', input: string): RtnlOp[] | undefined {
  const ops: RtnlOp[] = []
  for (const line of input.split('\n')) {
    if (line.trim() === '') continue
    const op = parseRtnlLine(tool, line)
    if (op === undefined) return undefined
    ops.push(op)
  }
  return ops.length === 0 ? undefined : ops
}

/** The bytes of an IPv4 or IPv6 address (any notation ip-num reads, a dotted IPv4 tail included). */
export function ipBytes (ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number))
  const b = Buffer.alloc(16)
  const n = ipNum.IPv6.fromString(ip).getValue()
  b.writeBigUInt64BE(n >> 64n, 0)
  b.writeBigUInt64BE(n & 0xffffffffffffffffn, 8)
  return b
}

function macBytes (mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)))
}

/** A netlink attribute: type and payload (nested attributes are payloads made of attributes). */
type Attr = [number, Buffer]

function attrs (list: readonly Attr[]): Buffer {
  return Buffer.concat(list.map(([type, v]) => {
    const b = Buffer.alloc((4 + v.length + 3) & ~3)
    b.writeUInt16LE(4 + v.length, 0)
    b.writeUInt16LE(type, 2)
    v.copy(b, 4)
    return b
  }))
}

function u32 (n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n, 0)
  return b
}

function str (s: string): Buffer {
  return Buffer.from(`${s}\0`)
}

function ifinfomsg (index: number, up: boolean): Buffer {
  const b = Buffer.alloc(IFINFOMSG_BYTES)
  b.writeUInt8(AF_UNSPEC, 0)
  b.writeInt32LE(index, 4)
  if (up) {
    b.writeUInt32LE(IFF_UP, 8)
    b.writeUInt32LE(IFF_UP, 12)
  }
  return b
}

/** Header + fixed part + attributes of one request (host byte order, as netlink wants). */
function message (type: number, flags: number, seq: number, fixed: Buffer, list: readonly Attr[]): Buffer {
  const body = Buffer.concat([fixed, attrs(list)])
  const b = Buffer.alloc(NLMSG_HDR_BYTES + body.length)
  b.writeUInt32LE(b.length, 0)
  b.writeUInt16LE(type, 4)
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | flags, 6)
  b.writeUInt32LE(seq, 8)
  body.copy(b, NLMSG_HDR_BYTES)
  return b
}

/** What encoding needs from the netns a batch runs in. */
export interface EncodeContext {
  /** ifindex of a device of this netns; throws when there is none. */
  ifindex(dev: string): number
  /** An open fd of a netns path (closed by the caller after the batch). */
  netnsFd(path: string): number
}

/** The rtnetlink request of one op, with sequence number `seq`: what `ip` / `bridge` send for the line. */
export function encodeRtnlOp (op: RtnlOp, ctx: EncodeContext, seq: number): Buffer {
  switch (op.kind) {
    case 'neigh':
    case 'fdb': {
      // ndmsg: family, pad, pad, ifindex, state, flags, type (as `ip neigh` / `bridge fdb` fill it)
      const nd = Buffer.alloc(NDMSG_BYTES)
      nd.writeUInt8(op.kind === 'fdb' ? AF_BRIDGE : (isIPv4(op.ip) ? AF_INET : AF_INET6), 0)
      nd.writeInt32LE(ctx.ifindex(op.dev), 4)
      nd.writeUInt16LE(op.kind === 'fdb' ? NUD_NOARP | NUD_PERMANENT : NUD_PERMANENT, 8)
      nd.writeUInt8(op.kind === 'fdb' ? NTF_SELF : 0, 10)
      const list: Attr[] = [[NDA_DST, ipBytes(op.ip)]]
      if (op.mac !== undefined) list.push([NDA_LLADDR, macBytes(op.mac)])
      const flags = op.op === 'replace' ? NLM_F_CREATE | NLM_F_REPLACE : op.op === 'append' ? NLM_F_CREATE | NLM_F_APPEND : 0
      return message(op.op === 'del' ? RTM_DELNEIGH : RTM_NEWNEIGH, flags, seq, nd, list)
    }
    case 'veth': {
      const peer: Attr[] = [[IFLA_IFNAME, str(op.peer)], [IFLA_MTU, u32(op.peerMtu)]]
      if (op.peerNetns !== undefined) peer.push([IFLA_NET_NS_FD, u32(ctx.netnsFd(op.peerNetns))])
      const info = attrs([[IFLA_INFO_KIND, str('veth')], [IFLA_INFO_DATA, attrs([[VETH_INFO_PEER, Buffer.concat([ifinfomsg(0, false), attrs(peer)])]])]])
      return message(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, seq, ifinfomsg(0, false), [[IFLA_IFNAME, str(op.name)], [IFLA_MTU, u32(op.mtu)], [IFLA_LINKINFO, info]])
    }
    case 'link-set': {
      const list: Attr[] = []
      if (op.master !== undefined) list.push([IFLA_MASTER, u32(ctx.ifindex(op.master))])
      if (op.mac !== undefined) list.push([IFLA_ADDRESS, macBytes(op.mac)])
      return message(RTM_NEWLINK, 0, seq, ifinfomsg(ctx.ifindex(op.dev), op.up === true), list)
    }
    case 'link-del':
      return message(RTM_DELLINK, 0, seq, ifinfomsg(ctx.ifindex(op.dev), false), [])
    case 'addr-add': {
      const ifa = Buffer.alloc(IFADDRMSG_BYTES)
      ifa.writeUInt8(isIPv4(op.ip) ? AF_INET : AF_INET6, 0)
      ifa.writeUInt8(op.prefixLen, 1)
      ifa.writeUInt32LE(ctx.ifindex(op.dev), 4)
      const ip = ipBytes(op.ip)
      return message(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, seq, ifa, [[IFA_LOCAL, ip], [IFA_ADDRESS, ip]])
    }
  }
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
export function applyRtnlOps (libc: Libc, ops: readonly RtnlOp[], netnsPath: string | undefined, command: string): void {
  inNetns(libc, netnsPath, command, () => {
    const fds = new Map<string, number>()
    const fd = libc.socket(AF_NETLINK, SOCK_RAW_CLOEXEC, NETLINK_ROUTE) as number
    if (fd < 0) throw new KernelCommandError(command, 'cannot open a netlink socket', undefined)
    try {
      const buf = Buffer.alloc(RECV_BUF_BYTES)
      const acks = new Map<number, number>()
      // one request at a time, as the batch commands: the kernel applies every message of a send, so a
      // refused line must be known before the next one goes out (and a later line may name what an earlier one made)
      ops.forEach((op, i) => {
        const seq = i + 1
        const where = `(line ${seq}: ${op.line.trim()})`
        const ctx: EncodeContext = {
          ifindex (dev) {
            const idx = Number(libc.ifNameToIndex(dev))
            if (idx === 0) throw new KernelCommandError(command, `Cannot find device "${dev}" ${where}`, 1)
            return idx
          },
          netnsFd (path) {
            let nsFd = fds.get(path)
            if (nsFd === undefined) {
              try {
                nsFd = openSync(path, 'r')
              } catch (err) {
                throw new KernelCommandError(command, `Cannot open network namespace "${path}": ${(err as Error).message} ${where}`, 1)
              }
              fds.set(path, nsFd)
            }
            return nsFd
          }
        }
        const msg = encodeRtnlOp(op, ctx, seq)
        if (Number(libc.send(fd, msg, msg.length, 0)) !== msg.length) throw new KernelCommandError(command, `netlink send failed ${where}`, undefined)
        // rtnetlink handles a request inside send(): its ack is queued by now, so reading never waits
        const n = Number(libc.recv(fd, buf, buf.length, MSG_DONTWAIT))
        if (n > 0) parseAcks(buf.subarray(0, n), acks)
        const errno = acks.get(seq)
        if (errno === undefined) throw new KernelCommandError(command, `netlink: no acknowledgement ${where}`, undefined)
        if (errno !== 0) throw new KernelCommandError(command, `${reason(libc, errno)} ${where}`, 1)
      })
    } finally {
      libc.close(fd)
      for (const nsFd of fds.values()) closeSync(nsFd)
    }
  })
}
