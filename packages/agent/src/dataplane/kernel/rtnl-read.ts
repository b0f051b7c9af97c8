/**
 * Reads over rtnetlink without a process: one link's alias, MAC and
 * addresses, what `ip -d -j addr show dev <dev>` prints of them. The
 * periodic resync check reads a sandbox's `lb0` this way: at 10k services it
 * holds 10k VIP addresses, and `ip -j` of them (a process, its JSON, our
 * parse of it) cost ~150 ms per check where the dump read here costs a few.
 *
 * Like the batches of rtnl-lib.ts, a read enters the netns on the calling
 * thread, opens its own socket and closes it before returning.
 */
import { KernelCommandError } from './errors.js'
import { inNetns, type Libc } from './native.js'
import {
  AF_INET, AF_INET6, AF_NETLINK, IFA_ADDRESS, IFA_LOCAL, IFADDRMSG_BYTES, IFINFOMSG_BYTES, IFLA_ADDRESS, MSG_DONTWAIT, NETLINK_ROUTE,
  NLM_F_REQUEST, NLMSG_ERROR, NLMSG_HDR_BYTES, RTM_NEWADDR, RTM_NEWLINK, SOCK_RAW_CLOEXEC
} from './rtnl-lib.js'

const RTM_GETLINK = 18
const RTM_GETADDR = 22
const NLMSG_DONE = 3
const NLM_F_DUMP = 0x300
const IFLA_IFALIAS = 20
const NLA_TYPE_MASK = 0x3fff
/** A dump part is at most 32 KiB (the kernel sizes parts by the reader's buffer, up to that). */
const RECV_BUF_BYTES = 64 * 1024
/** Sequence numbers of the two requests of a read. */
const SEQ_LINK = 1
const SEQ_ADDR = 2

/** `scope` as `ip` names it (rtnetlink RT_SCOPE_*). */
const SCOPES = new Map([[0, 'global'], [200, 'site'], [253, 'link'], [254, 'host'], [255, 'nowhere']])

/** One address of a link, as `ip -j addr show` prints it (the fields the data plane reads). */
export interface LinkAddress {
  family: 'inet' | 'inet6'
  local: string
  prefixlen: number
  scope: string
}

/** A link's alias (undefined when unset), MAC and addresses. */
export interface LinkAddresses {
  ifalias: string | undefined
  address: string | undefined
  addrs: LinkAddress[]
}

/** An IPv6 address as glibc's inet_ntop (and so `ip`) writes it: the longest run of 2+ zero groups as `::`, IPv4-mapped/compatible tails dotted. */
export function formatIpv6 (b: Buffer, off = 0): string {
  const w: number[] = []
  for (let i = 0; i < 8; i++) w.push(b.readUInt16BE(off + i * 2))
  let best = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && w[j] === 0) j++
    if (j - i > bestLen) { best = i; bestLen = j - i }
    i = j
  }
  if (bestLen < 2) best = -1
  let s = ''
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      s += '::'
      i += bestLen - 1
      continue
    }
    if (i === 6 && best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      if (!s.endsWith(':')) s += ':'
      s += `${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`
      break
    }
    if (s !== '' && !s.endsWith(':')) s += ':'
    s += (w[i] as number).toString(16)
  }
  return s
}

function request (type: number, flags: number, seq: number, fixed: Buffer): Buffer {
  const b = Buffer.alloc(NLMSG_HDR_BYTES + fixed.length)
  b.writeUInt32LE(b.length, 0)
  b.writeUInt16LE(type, 4)
  b.writeUInt16LE(NLM_F_REQUEST | flags, 6)
  b.writeUInt32LE(seq, 8)
  fixed.copy(b, NLMSG_HDR_BYTES)
  return b
}

/** RTM_GETLINK of one link by index. */
export function linkRequest (ifindex: number): Buffer {
  const ifi = Buffer.alloc(IFINFOMSG_BYTES)
  ifi.writeInt32LE(ifindex, 4)
  return request(RTM_GETLINK, 0, SEQ_LINK, ifi)
}

/** RTM_GETADDR dump of every address of the netns (both families; the kernel filters by link only on strict-checking sockets). */
export function addrDumpRequest (): Buffer {
  return request(RTM_GETADDR, NLM_F_DUMP, SEQ_ADDR, Buffer.alloc(IFADDRMSG_BYTES))
}

/** What one buffer of netlink answers held for a read: done (NLMSG_DONE or the link answer seen), or the errno of a refusal. */
interface Step { done: boolean, errno: number }

/** Attributes of one message from `off` to `end`: type -> [start, length] of the payload. */
function eachAttr (msg: Buffer, off: number, end: number, fn: (type: number, at: number, len: number) => void): void {
  while (off + 4 <= end) {
    const alen = msg.readUInt16LE(off)
    if (alen < 4 || off + alen > end) break
    fn(msg.readUInt16LE(off + 2) & NLA_TYPE_MASK, off + 4, alen - 4)
    off += (alen + 3) & ~3
  }
}

/** Parse the answers in `msg` of sequence `seq`: the link (alias, MAC) into `into`, addresses of `ifindex` appended to `into.addrs`. */
export function parseRtnlAnswers (msg: Buffer, seq: number, ifindex: number, into: LinkAddresses): Step {
  let off = 0
  while (off + NLMSG_HDR_BYTES <= msg.length) {
    const len = msg.readUInt32LE(off)
    if (len < NLMSG_HDR_BYTES || off + len > msg.length) break
    const type = msg.readUInt16LE(off + 4)
    const end = off + len
    if (msg.readUInt32LE(off + 8) !== seq) {
      off += (len + 3) & ~3
      continue
    }
    if (type === NLMSG_ERROR) return { done: true, errno: len >= NLMSG_HDR_BYTES + 4 ? Math.abs(msg.readInt32LE(off + NLMSG_HDR_BYTES)) : 0 }
    if (type === NLMSG_DONE) return { done: true, errno: 0 }
    if (type === RTM_NEWLINK && len >= NLMSG_HDR_BYTES + IFINFOMSG_BYTES) {
      eachAttr(msg, off + NLMSG_HDR_BYTES + IFINFOMSG_BYTES, end, (t, at, n) => {
        if (t === IFLA_IFALIAS) {
          const alias = msg.toString('utf8', at, at + n).replace(/\0.*$/s, '')
          into.ifalias = alias === '' ? undefined : alias
        } else if (t === IFLA_ADDRESS) {
          const parts: string[] = []
          for (let i = 0; i < n; i++) parts.push((msg[at + i] as number).toString(16).padStart(2, '0'))
          into.address = parts.join(':')
        }
      })
      return { done: true, errno: 0 }
    }
    if (type === RTM_NEWADDR && len >= NLMSG_HDR_BYTES + IFADDRMSG_BYTES) {
      const h = off + NLMSG_HDR_BYTES
      const fam = msg[h]
      if (msg.readUInt32LE(h + 4) === ifindex && (fam === AF_INET || fam === AF_INET6)) {
        let local = -1
        let address = -1
        eachAttr(msg, h + IFADDRMSG_BYTES, end, (t, at, n) => {
          if (n !== (fam === AF_INET ? 4 : 16)) return
          if (t === IFA_LOCAL) local = at
          else if (t === IFA_ADDRESS) address = at
        })
        // as `ip`: IFA_LOCAL is the address of the interface, IFA_ADDRESS the peer's on point-to-point links (IPv6 sends IFA_ADDRESS only)
        const at = local >= 0 ? local : address
        if (at >= 0) {
          into.addrs.push({
            family: fam === AF_INET ? 'inet' : 'inet6',
            local: fam === AF_INET ? `${msg[at]}.${msg[at + 1]}.${msg[at + 2]}.${msg[at + 3]}` : formatIpv6(msg, at),
            prefixlen: msg[h + 1] as number,
            scope: SCOPES.get(msg[h + 3] as number) ?? String(msg[h + 3])
          })
        }
      }
    }
    off += (len + 3) & ~3
  }
  return { done: false, errno: 0 }
}

/**
 * `dev`'s alias, MAC and addresses inside `netnsPath` (undefined = the
 * calling thread's netns). Throws {@link KernelCommandError} naming
 * `command` when the device does not exist (as `ip` fails) or netlink
 * refuses the read.
 */
export function readLinkAddresses (libc: Libc, dev: string, netnsPath: string | undefined, command: string): LinkAddresses {
  return inNetns(libc, netnsPath, command, () => {
    const ifindex = Number(libc.ifNameToIndex(dev))
    if (ifindex === 0) throw new KernelCommandError(command, `Device "${dev}" does not exist.`, 1)
    const fd = libc.socket(AF_NETLINK, SOCK_RAW_CLOEXEC, NETLINK_ROUTE) as number
    if (fd < 0) throw new KernelCommandError(command, 'cannot open a netlink socket', undefined)
    try {
      const into: LinkAddresses = { ifalias: undefined, address: undefined, addrs: [] }
      const buf = Buffer.allocUnsafe(RECV_BUF_BYTES)
      for (const [seq, req] of [[SEQ_LINK, linkRequest(ifindex)], [SEQ_ADDR, addrDumpRequest()]] as const) {
        if (Number(libc.send(fd, req, req.length, 0)) !== req.length) throw new KernelCommandError(command, 'netlink send failed', undefined)
        for (;;) {
          // the kernel answers a request (and queues each next part of a dump as the last is read) before recv returns: never waits
          const n = Number(libc.recv(fd, buf, buf.length, MSG_DONTWAIT))
          if (n <= 0) throw new KernelCommandError(command, 'netlink: answer ended early', undefined)
          const step = parseRtnlAnswers(buf.subarray(0, n), seq, ifindex, into)
          if (step.errno !== 0) throw new KernelCommandError(command, `RTNETLINK answers: ${String(libc.strerror(step.errno) ?? `errno ${step.errno}`)}`, 1)
          if (step.done) break
        }
      }
      return into
    } finally {
      libc.close(fd)
    }
  })
}
