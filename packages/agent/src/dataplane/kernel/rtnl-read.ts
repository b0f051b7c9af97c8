/**
 * The read commands of the data plane without a process: `ip -d -j link
 * show`, `ip [-d] -j addr show [dev D]`, `ip -j neigh show dev D` and
 * `bridge -j fdb show dev D` answered from rtnetlink dumps made in this
 * process, printed as the JSON those commands print (the fields scalelb
 * reads: see {@link matchRtnlRead}). The periodic kernel check reads the
 * overlay and each LB sandbox's `lb0` this way: each read used to cost a
 * fork of the agent and an exec (two with `ip netns exec`); a dump is a few
 * system calls.
 *
 * A dump the kernel marks inconsistent (NLM_F_DUMP_INTR: the table changed
 * while it was read) is read again, as a few times as needed.
 */
import { KernelCommandError } from './errors.js'
import { inNetns, type Libc } from './native.js'
import {
  AF_UNSPEC, AF_INET, AF_INET6, AF_BRIDGE, AF_NETLINK, SOCK_RAW_CLOEXEC, NETLINK_ROUTE, NLMSG_ERROR, NLM_F_REQUEST, NUD_NOARP, NUD_PERMANENT, NDA_DST, NDA_LLADDR, IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_INFO_KIND, IFLA_INFO_DATA, IFA_ADDRESS, IFA_LOCAL, MSG_DONTWAIT, NLMSG_HDR_BYTES, NDMSG_BYTES, IFINFOMSG_BYTES, IFADDRMSG_BYTES
} from './netlink.js'
import { IFNAME_RE } from '../../constants.js'
import { V6_BASE, formatAddress } from '@scalelb/allocator'

const RTM_GETLINK = 18
const RTM_GETADDR = 22
const RTM_GETNEIGH = 30
const NLMSG_DONE = 3
const NLM_F_DUMP = 0x300
const NLM_F_DUMP_INTR = 0x10
const NLA_TYPE_MASK = 0x3fff
const IFLA_LINK = 5
const IFLA_OPERSTATE = 16
const IFLA_IFALIAS = 20
const IFLA_EXT_MASK = 29
const IFLA_LINK_NETNSID = 37
const IFLA_VXLAN_ID = 1
const IFLA_VXLAN_LOCAL = 4
const IFLA_VXLAN_LOCAL6 = 17
/** RTEXT_FILTER_SKIP_STATS: no per-link counters in the dump (nothing here reads them). */
const RTEXT_FILTER_SKIP_STATS = 1 << 3
const NDA_IFINDEX = 8
const NUD_STALE = 0x04
const NUD_REACHABLE = 0x02
const NTF_PROXY = 0x08
const NTF_EXT_LEARNED = 0x10
/** A dump's messages come in chunks of up to 32 KiB (the kernel sizes them after the reader's buffer). */
const RECV_BUF_BYTES = 64 * 1024
/** Reads of a dump the kernel marked inconsistent before giving up. */
const DUMP_TRIES = 5

const OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP']
const NUD_NAMES: Array<[number, string]> = [
  [0x01, 'INCOMPLETE'], [0x02, 'REACHABLE'], [0x04, 'STALE'], [0x08, 'DELAY'], [0x10, 'PROBE'], [0x20, 'FAILED'], [NUD_NOARP, 'NOARP'], [NUD_PERMANENT, 'PERMANENT']
]
const NTF_NAMES: Array<[number, string]> = [[0x02, 'self'], [0x80, 'router'], [NTF_EXT_LEARNED, 'extern_learn'], [0x20, 'offload'], [0x04, 'master'], [0x40, 'sticky']]
const SCOPES = new Map([[0, 'global'], [200, 'site'], [253, 'link'], [254, 'host'], [255, 'nowhere']])

/** One read command this module answers. */
export type RtnlRead =
  | { kind: 'links' }
  /** details: `-d` (the links' linkinfo too) */
  | { kind: 'addrs', dev: string | undefined, details: boolean }
  | { kind: 'neigh', dev: string }
  | { kind: 'fdb', dev: string }


/** The read of `tool args`, when it is one answered here (exactly these argument lists); undefined otherwise. */
export function matchRtnlRead (tool: string, args: readonly string[]): RtnlRead | undefined {
  const a = args.join(' ')
  const dev = args.at(-1) as string
  const withDev = args.length >= 2 && args.at(-2) === 'dev' && IFNAME_RE.test(dev)
  if (tool === 'ip') {
    if (a === '-d -j link show') return { kind: 'links' }
    if (a === '-j addr show' || a === '-d -j addr show') return { kind: 'addrs', dev: undefined, details: args[0] === '-d' }
    if (withDev && (a === `-j addr show dev ${dev}` || a === `-d -j addr show dev ${dev}`)) return { kind: 'addrs', dev, details: args[0] === '-d' }
    if (withDev && a === `-j neigh show dev ${dev}`) return { kind: 'neigh', dev }
  }
  if (tool === 'bridge' && withDev && a === `-j fdb show dev ${dev}`) return { kind: 'fdb', dev }
  return undefined
}

/** Attributes of a netlink message part: type (flags masked off) -> payload; a repeated type keeps the last. */
function parseAttrs (b: Buffer, start: number, end: number): Map<number, Buffer> {
  const m = new Map<number, Buffer>()
  let off = start
  while (off + 4 <= end) {
    const len = b.readUInt16LE(off)
    if (len < 4 || off + len > end) break
    m.set(b.readUInt16LE(off + 2) & NLA_TYPE_MASK, b.subarray(off + 4, off + len))
    off += (len + 3) & ~3
  }
  return m
}

function cstr (v: Buffer | undefined): string | undefined {
  if (v === undefined) return undefined
  const z = v.indexOf(0)
  return v.toString('utf8', 0, z < 0 ? v.length : z)
}

function mac (v: Buffer): string {
  return [...v].map((x) => x.toString(16).padStart(2, '0')).join(':')
}

/** An address as inet_ntop(3) prints it (what `ip` prints): RFC 5952, and IPv4-mapped or -compatible addresses with a dotted tail as glibc does. */
export function ipString (v: Buffer): string {
  if (v.length === 4) return `${v[0]}.${v[1]}.${v[2]}.${v[3]}`
  if (v.length !== 16) return mac(v)
  const hi = v.readBigUInt64BE(0)
  const w5 = v.readUInt16BE(10)
  const w6 = v.readUInt16BE(12)
  if (hi === 0n && v.readUInt16BE(8) === 0 && (w5 === 0xffff || (w5 === 0 && w6 !== 0))) return `::${w5 === 0 ? '' : 'ffff:'}${v[12]}.${v[13]}.${v[14]}.${v[15]}`
  return formatAddress(V6_BASE + (hi << 64n) + v.readBigUInt64BE(8))
}

function request (type: number, fixed: Buffer): Buffer {
  const b = Buffer.alloc(NLMSG_HDR_BYTES + fixed.length)
  b.writeUInt32LE(b.length, 0)
  b.writeUInt16LE(type, 4)
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6)
  b.writeUInt32LE(1, 8)
  fixed.copy(b, NLMSG_HDR_BYTES)
  return b
}

/** A netlink attribute (type, u32 value), as the tail of a request's fixed part. */
function u32Attr (type: number, v: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeUInt16LE(8, 0)
  b.writeUInt16LE(type, 2)
  b.writeUInt32LE(v, 4)
  return b
}

let recvBuf: Buffer | undefined

/**
 * Send one dump request on `fd` and hand every answer message (header
 * included) to `each`; true when the kernel marked the dump inconsistent.
 */
function dumpOnce (libc: Libc, fd: number, req: Buffer, what: string, each: (msg: Buffer, type: number) => void): boolean {
  if (Number(libc.send(fd, req, req.length, 0)) !== req.length) throw new KernelCommandError(what, 'netlink send failed', undefined)
  const buf = recvBuf ??= Buffer.alloc(RECV_BUF_BYTES)
  let interrupted = false
  for (;;) {
    // the kernel queues the next part of a dump while the previous one is read: there is always one waiting
    const n = Number(libc.recv(fd, buf, buf.length, MSG_DONTWAIT))
    if (n <= 0) throw new KernelCommandError(what, 'netlink dump ended without NLMSG_DONE', undefined)
    let off = 0
    while (off + NLMSG_HDR_BYTES <= n) {
      const len = buf.readUInt32LE(off)
      if (len < NLMSG_HDR_BYTES || off + len > n) throw new KernelCommandError(what, `netlink message of ${len} bytes at ${off} of ${n}`, undefined)
      const type = buf.readUInt16LE(off + 4)
      if ((buf.readUInt16LE(off + 6) & NLM_F_DUMP_INTR) !== 0) interrupted = true
      if (type === NLMSG_DONE) return interrupted
      if (type === NLMSG_ERROR) {
        const errno = len >= NLMSG_HDR_BYTES + 4 ? -buf.readInt32LE(off + NLMSG_HDR_BYTES) : 0
        throw new KernelCommandError(what, `RTNETLINK answers: ${String(libc.strerror(errno) ?? `errno ${errno}`)}`, 1)
      }
      each(buf.subarray(off, off + len), type)
      off += (len + 3) & ~3
    }
  }
}

/** Dump with `req` until a consistent one is read (the caller's `reset` clears what an interrupted one gathered). */
function dump (libc: Libc, fd: number, req: Buffer, what: string, reset: () => void, each: (msg: Buffer, type: number) => void): void {
  for (let i = 1; ; i++) {
    if (!dumpOnce(libc, fd, req, what, each)) return
    if (i >= DUMP_TRIES) throw new KernelCommandError(what, `the table changed during each of ${DUMP_TRIES} dumps`, undefined)
    reset()
  }
}

/** One link as `ip -d -j link show` / `ip -j addr show` print it (the fields read by scalelb). */
interface LinkJson {
  ifindex: number
  ifname: string
  ifalias?: string
  mtu?: number
  master?: string
  operstate?: string
  link_index?: number
  link_netnsid?: number
  address?: string
  linkinfo?: { info_kind?: string, info_data?: Record<string, unknown> }
  addr_info?: Array<{ family: string, local: string, prefixlen: number, scope: string }>
}

function linkInfo (v: Buffer): LinkJson['linkinfo'] {
  const a = parseAttrs(v, 0, v.length)
  const kind = cstr(a.get(IFLA_INFO_KIND))
  const info: NonNullable<LinkJson['linkinfo']> = {}
  if (kind !== undefined) info.info_kind = kind
  const data = a.get(IFLA_INFO_DATA)
  if (kind === 'vxlan' && data !== undefined) {
    const d = parseAttrs(data, 0, data.length)
    const out: Record<string, unknown> = {}
    const id = d.get(IFLA_VXLAN_ID)
    if (id !== undefined && id.length >= 4) out.id = id.readUInt32LE(0)
    const l4 = d.get(IFLA_VXLAN_LOCAL)
    const l6 = d.get(IFLA_VXLAN_LOCAL6)
    if (l4 !== undefined && l4.length === 4 && l4.readUInt32BE(0) !== 0) out.local = ipString(l4)
    else if (l6 !== undefined && l6.length === 16 && l6.some((x) => x !== 0)) out.local6 = ipString(l6)
    info.info_data = out
  }
  return info
}

function readLinks (libc: Libc, fd: number, what: string): LinkJson[] {
  const fixed = Buffer.concat([Buffer.alloc(IFINFOMSG_BYTES), u32Attr(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)])
  let links: LinkJson[] = []
  const masters = new Map<LinkJson, number>()
  dump(libc, fd, request(RTM_GETLINK, fixed), what, () => { links = []; masters.clear() }, (m) => {
    const a = parseAttrs(m, NLMSG_HDR_BYTES + IFINFOMSG_BYTES, m.length)
    const l: LinkJson = { ifindex: m.readInt32LE(NLMSG_HDR_BYTES + 4), ifname: cstr(a.get(IFLA_IFNAME)) ?? '' }
    const alias = cstr(a.get(IFLA_IFALIAS))
    if (alias !== undefined && alias !== '') l.ifalias = alias
    const mtu = a.get(IFLA_MTU)
    if (mtu !== undefined) l.mtu = mtu.readUInt32LE(0)
    const master = a.get(IFLA_MASTER)
    if (master !== undefined) masters.set(l, master.readUInt32LE(0))
    const op = a.get(IFLA_OPERSTATE)
    if (op !== undefined) l.operstate = OPERSTATES[op.readUInt8(0)] ?? 'UNKNOWN'
    // as `ip`: a link's peer index is printed as link_index only when the peer is in another netns
    const nsid = a.get(IFLA_LINK_NETNSID)
    const link = a.get(IFLA_LINK)
    if (nsid !== undefined && link !== undefined && link.readUInt32LE(0) !== 0) l.link_index = link.readUInt32LE(0)
    if (nsid !== undefined && nsid.readInt32LE(0) >= 0) l.link_netnsid = nsid.readInt32LE(0)
    const addr = a.get(IFLA_ADDRESS)
    if (addr !== undefined) l.address = mac(addr)
    const li = a.get(IFLA_LINKINFO)
    if (li !== undefined) l.linkinfo = linkInfo(li)
    links.push(l)
  })
  const names = new Map(links.map((l) => [l.ifindex, l.ifname]))
  for (const [l, idx] of masters) {
    const name = names.get(idx)
    if (name !== undefined) l.master = name
  }
  return links
}

function ifindexOf (libc: Libc, dev: string, what: string): number {
  const idx = Number(libc.ifNameToIndex(dev))
  if (idx === 0) throw new KernelCommandError(what, `Cannot find device "${dev}"`, 1)
  return idx
}

function readAddrs (libc: Libc, fd: number, read: { dev: string | undefined, details: boolean }, what: string): LinkJson[] {
  const idx = read.dev === undefined ? undefined : ifindexOf(libc, read.dev, what)
  const links = readLinks(libc, fd, what).filter((l) => idx === undefined || l.ifindex === idx)
  const byIndex = new Map(links.map((l) => [l.ifindex, l]))
  for (const l of links) {
    l.addr_info = []
    // as `ip`: the alias and the link details only with -d
    if (!read.details) {
      delete l.linkinfo
      delete l.ifalias
    }
  }
  dump(libc, fd, request(RTM_GETADDR, Buffer.alloc(IFADDRMSG_BYTES)), what, () => { for (const l of links) l.addr_info = [] }, (m) => {
    const family = m.readUInt8(NLMSG_HDR_BYTES)
    const l = byIndex.get(m.readUInt32LE(NLMSG_HDR_BYTES + 4))
    if (l === undefined || (family !== AF_INET && family !== AF_INET6)) return
    const a = parseAttrs(m, NLMSG_HDR_BYTES + IFADDRMSG_BYTES, m.length)
    const local = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS)
    if (local === undefined) return
    const scope = m.readUInt8(NLMSG_HDR_BYTES + 3)
    l.addr_info?.push({ family: family === AF_INET ? 'inet' : 'inet6', local: ipString(local), prefixlen: m.readUInt8(NLMSG_HDR_BYTES + 1), scope: SCOPES.get(scope) ?? String(scope) })
  })
  return links
}

function ndmsg (family: number, ifindex: number): Buffer {
  const b = Buffer.alloc(NDMSG_BYTES)
  b.writeUInt8(family, 0)
  b.writeInt32LE(ifindex, 4)
  return b
}

function names (bits: number, table: Array<[number, string]>): string[] {
  return table.filter(([b]) => (bits & b) !== 0).map(([, n]) => n)
}

/** `ip -j neigh show dev D`: IPv4 and IPv6 entries of the device, those `ip` shows by default (not NOARP-only or NONE). */
function readNeigh (libc: Libc, fd: number, dev: string, what: string): unknown[] {
  const idx = ifindexOf(libc, dev, what)
  let out: unknown[] = []
  // NDA_IFINDEX: the kernel dumps only that device's entries
  dump(libc, fd, request(RTM_GETNEIGH, Buffer.concat([ndmsg(AF_UNSPEC, 0), u32Attr(NDA_IFINDEX, idx)])), what, () => { out = [] }, (m) => {
    const family = m.readUInt8(NLMSG_HDR_BYTES)
    const state = m.readUInt16LE(NLMSG_HDR_BYTES + 8)
    const flags = m.readUInt8(NLMSG_HDR_BYTES + 10)
    if (m.readInt32LE(NLMSG_HDR_BYTES + 4) !== idx || (family !== AF_INET && family !== AF_INET6)) return
    if ((state & 0xff & ~NUD_NOARP) === 0 && (flags & (NTF_PROXY | NTF_EXT_LEARNED)) === 0) return
    const a = parseAttrs(m, NLMSG_HDR_BYTES + NDMSG_BYTES, m.length)
    const dst = a.get(NDA_DST)
    if (dst === undefined) return
    const e: Record<string, unknown> = { dst: ipString(dst) }
    const ll = a.get(NDA_LLADDR)
    if (ll !== undefined) e.lladdr = mac(ll)
    e.state = state === 0 ? ['NONE'] : names(state, NUD_NAMES)
    out.push(e)
  })
  return out
}

/** State as `bridge fdb` prints it. */
function fdbState (s: number): string {
  if ((s & NUD_PERMANENT) !== 0) return 'permanent'
  if ((s & NUD_NOARP) !== 0) return 'static'
  if ((s & NUD_STALE) !== 0) return 'stale'
  if ((s & NUD_REACHABLE) !== 0) return ''
  return `0x${s.toString(16)}`
}

/** `bridge -j fdb show dev D`: the device's FDB entries (its own and, for a bridge port, the bridge's for it). */
function readFdb (libc: Libc, fd: number, dev: string, what: string): unknown[] {
  const idx = ifindexOf(libc, dev, what)
  // an ifinfomsg-sized request names the port to dump (as `bridge fdb show dev` asks)
  const req = Buffer.alloc(IFINFOMSG_BYTES)
  req.writeUInt8(AF_BRIDGE, 0)
  req.writeInt32LE(idx, 4)
  let out: unknown[] = []
  dump(libc, fd, request(RTM_GETNEIGH, req), what, () => { out = [] }, (m) => {
    if (m.readUInt8(NLMSG_HDR_BYTES) !== AF_BRIDGE || m.readInt32LE(NLMSG_HDR_BYTES + 4) !== idx) return
    const a = parseAttrs(m, NLMSG_HDR_BYTES + NDMSG_BYTES, m.length)
    const ll = a.get(NDA_LLADDR)
    if (ll === undefined) return
    const e: Record<string, unknown> = { mac: mac(ll) }
    const dst = a.get(NDA_DST)
    if (dst !== undefined) e.dst = ipString(dst)
    e.flags = names(m.readUInt8(NLMSG_HDR_BYTES + 10), NTF_NAMES)
    e.state = fdbState(m.readUInt16LE(NLMSG_HDR_BYTES + 8))
    out.push(e)
  })
  return out
}

/**
 * Answer `read` in `netnsPath` (undefined = the calling thread's netns) as
 * the command's JSON output; throws {@link KernelCommandError} naming
 * `command` (a missing device: `Cannot find device "D"`, as `ip`).
 */
export function runRtnlRead (libc: Libc, read: RtnlRead, netnsPath: string | undefined, command: string): string {
  return inNetns(libc, netnsPath, command, () => {
    const fd = libc.socket(AF_NETLINK, SOCK_RAW_CLOEXEC, NETLINK_ROUTE) as number
    if (fd < 0) throw new KernelCommandError(command, 'cannot open a netlink socket', undefined)
    try {
      switch (read.kind) {
        case 'links': return JSON.stringify(readLinks(libc, fd, command))
        case 'addrs': return JSON.stringify(readAddrs(libc, fd, read, command))
        case 'neigh': return JSON.stringify(readNeigh(libc, fd, read.dev, command))
        case 'fdb': return JSON.stringify(readFdb(libc, fd, read.dev, command))
      }
    } finally {
      libc.close(fd)
    }
  })
}
