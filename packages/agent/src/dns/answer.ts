import { isIPv4, isIPv6 } from 'node:net'
import * as dnsPacket from 'dns-packet'
import type { Answer, DecodedPacket, OptAnswer, Packet, Question } from 'dns-packet'
import {
  DNS_EDNS_ADVERTISED_BYTES, DNS_MAX_MESSAGE_BYTES, DNS_SOA_MNAME, DNS_SOA_RNAME, DNS_UDP_LEGACY_BYTES, DNS_UDP_MAX_BYTES
} from './constants.js'
import type { NameIndex } from './names.js'

/**
 * The resolver's pure core: one query's bytes in, what to do out (answer
 * with these bytes, forward upstream, or drop). No sockets, no clock; the
 * shuffle of `tasks.` answers takes the caller's random source.
 */

/** Response codes the resolver gives (RFC 1035, 6891). */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const
/** Name of a response code. */
export type RcodeName = keyof typeof RCODE

const QR_BIT = 0x8000
const OPCODE_MASK = 0x7800
const RCODE_MASK = 0x000f
/** EDNS version this resolver speaks; a higher one gets BADVERS (extended rcode 16 = 1 << 4). */
const EDNS_VERSION = 0
const BADVERS_EXTENDED = 1

/** How a query arrived: the size an answer may have depends on it. */
export type Transport = 'udp' | 'tcp'

/** Inputs of {@link answerQuery} besides the bytes. */
export interface AnswerInit {
  index: NameIndex
  /** The network the query came from (the socket it arrived on). */
  networkId: string
  transport: Transport
  /** TTL of own answers (s). */
  ttlS: number
  /** Uniform in [0, 1): shuffles `tasks.` answers. */
  random: () => number
}

/** What to do with a query. */
export type Verdict =
  /** Send these bytes back; `rcode` and `qtype` for the metrics. */
  | { kind: 'answer', bytes: Buffer, rcode: RcodeName | 'BADVERS', qtype: string }
  /** Not a cluster name: forward the query's bytes upstream; `limit` bounds the size of the answer relayed back over UDP. */
  | { kind: 'forward', query: DecodedPacket, qtype: string, limit: number }
  /** Not a query (a response, or too short to answer): nothing is sent. */
  | { kind: 'drop', reason: 'short' | 'response' }

/** The OPT record of a packet, if any. */
function optOf (p: Packet): OptAnswer | undefined {
  return p.additionals?.find((a): a is OptAnswer => a.type === 'OPT')
}

/** Largest answer the querier takes over `transport` (RFC 6891 §6.2.5: below 512 means 512). */
export function answerLimit (query: Packet, transport: Transport): number {
  if (transport === 'tcp') return DNS_MAX_MESSAGE_BYTES
  const opt = optOf(query)
  if (opt === undefined) return DNS_UDP_LEGACY_BYTES
  return Math.min(Math.max(opt.udpPayloadSize, DNS_UDP_LEGACY_BYTES), DNS_UDP_MAX_BYTES)
}

/** A bare header answer to bytes that do not decode: FORMERR with their ID and opcode, no sections (never longer than the query). */
function headerOnly (bytes: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12)
  out.writeUInt16BE(bytes.readUInt16BE(0), 0)
  out.writeUInt16BE(QR_BIT | (bytes.readUInt16BE(2) & (OPCODE_MASK | dnsPacket.RECURSION_DESIRED)) | rcode, 2)
  return out
}

interface Reply {
  rcode: RcodeName
  answers?: Answer[]
  authorities?: Answer[]
  authoritative: boolean
  extendedRcode?: number
}

/** Encode a reply to `q`, cutting answers (and setting TC) until it fits `limit`. */
export function encodeReply (q: DecodedPacket, r: Reply, limit: number): Buffer {
  const opt = optOf(q)
  const flags = (r.authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | (q.flags ?? 0) & (OPCODE_MASK | dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED) |
    dnsPacket.RECURSION_AVAILABLE | RCODE[r.rcode]
  const additionals: Answer[] = opt === undefined
    ? []
    : [{ name: '.', type: 'OPT', udpPayloadSize: DNS_EDNS_ADVERTISED_BYTES, extendedRcode: r.extendedRcode ?? 0, ednsVersion: EDNS_VERSION, flags: 0, flag_do: false, options: [] } as unknown as OptAnswer]
  const packet: Packet = { type: 'response', id: q.id ?? 0, flags, questions: q.questions ?? [], answers: r.answers ?? [], authorities: r.authorities ?? [], additionals }
  const whole = dnsPacket.encode(packet)
  if (whole.length <= limit) return whole
  // too large: the most answers that fit (the authority section goes first), TC set so the client retries over TCP
  const answers = packet.answers ?? []
  let lo = 0
  let hi = answers.length
  const cut = (n: number): Packet => ({ ...packet, flags: flags | dnsPacket.TRUNCATED_RESPONSE, answers: answers.slice(0, n), authorities: [] })
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    if (dnsPacket.encodingLength(cut(mid)) <= limit) lo = mid
    else hi = mid - 1
  }
  const out = cut(lo)
  if (dnsPacket.encodingLength(out) <= limit) return dnsPacket.encode(out)
  // even the question does not fit (a name near 255 bytes with a 512-byte limit cannot, but be safe): header only
  return dnsPacket.encode({ ...out, questions: [], additionals: [] })
}

/** Fisher-Yates with the caller's random source. */
function shuffled<T> (xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = xs[i] as T
    xs[i] = xs[j] as T
    xs[j] = t
  }
  return xs
}

/** The address a reverse name stands for (`4.3.2.1.in-addr.arpa`, 32 nibbles of `ip6.arpa`), else undefined. */
export function reverseNameToIp (name: string): string | undefined {
  const n = name.toLowerCase()
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.')
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined
    return parts.reverse().join('.')
  }
  if (n.endsWith('.ip6.arpa')) {
    const nibbles = n.slice(0, -'.ip6.arpa'.length).split('.')
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return undefined
    const hex = nibbles.reverse().join('')
    const groups = hex.match(/.{4}/g) ?? []
    // canonical (compressed) text, as the tables hold it
    return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1)
  }
  return undefined
}

/** The zone an own name's negative answer names: the network for `<x>.<network>`, else the name's last label. */
function zoneOf (name: string, networkName: string | undefined): string {
  const n = name.toLowerCase()
  if (networkName !== undefined && n.endsWith(`.${networkName.toLowerCase()}`)) return networkName
  const dot = n.lastIndexOf('.')
  return dot < 0 ? name : name.slice(dot + 1)
}

function soa (zone: string, ttlS: number): Answer {
  return { name: zone, type: 'SOA', ttl: ttlS, data: { mname: DNS_SOA_MNAME, rname: DNS_SOA_RNAME, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: ttlS } }
}

/** Answer records of `addrs` for question `q` (A for IPv4, AAAA for IPv6, both for ANY). */
function addressRecords (q: Question, addrs: readonly string[], ttlS: number): Answer[] {
  const out: Answer[] = []
  const t = String(q.type)
  for (const ip of addrs) {
    if (isIPv4(ip) && (t === 'A' || t === 'ANY')) out.push({ name: q.name, type: 'A', ttl: ttlS, data: ip })
    else if (isIPv6(ip) && (t === 'AAAA' || t === 'ANY')) out.push({ name: q.name, type: 'AAAA', ttl: ttlS, data: ip })
  }
  return out
}

/** Decide what to do with one query from `init.networkId`. Never throws. */
export function answerQuery (bytes: Buffer, init: AnswerInit): Verdict {
  if (bytes.length < 12) return { kind: 'drop', reason: 'short' }
  if ((bytes.readUInt16BE(2) & QR_BIT) !== 0) return { kind: 'drop', reason: 'response' }
  let q: DecodedPacket
  try {
    q = dnsPacket.decode(bytes)
  } catch {
    return { kind: 'answer', bytes: headerOnly(bytes, RCODE.FORMERR), rcode: 'FORMERR', qtype: 'none' }
  }
  const opcode = (bytes.readUInt16BE(2) & OPCODE_MASK) >> 11
  if (opcode !== 0) return { kind: 'answer', bytes: headerOnly(bytes, RCODE.NOTIMP), rcode: 'NOTIMP', qtype: 'none' }
  const question = q.questions?.length === 1 ? q.questions[0] : undefined
  const opts = (q.additionals ?? []).filter((a) => a.type === 'OPT')
  if (question === undefined || opts.length > 1 || (q.answers?.length ?? 0) > 0) {
    return { kind: 'answer', bytes: headerOnly(bytes, RCODE.FORMERR), rcode: 'FORMERR', qtype: 'none' }
  }
  const qtype = String(question.type)
  const limit = answerLimit(q, init.transport)
  const opt = optOf(q)
  if (opt !== undefined && opt.ednsVersion > EDNS_VERSION) {
    return { kind: 'answer', bytes: encodeReply(q, { rcode: 'NOERROR', authoritative: false, extendedRcode: BADVERS_EXTENDED }, limit), rcode: 'BADVERS', qtype }
  }
  const forward: Verdict = { kind: 'forward', query: q, qtype, limit }
  if (question.class !== 'IN') return forward
  const { index, networkId, ttlS } = init
  if (qtype === 'PTR') {
    const ip = reverseNameToIp(question.name)
    const r = ip === undefined ? undefined : index.reverse(networkId, ip)
    if (r?.kind !== 'found') return forward
    const answers: Answer[] = r.names.map((n) => ({ name: question.name, type: 'PTR', ttl: ttlS, data: n }))
    return { kind: 'answer', bytes: encodeReply(q, { rcode: 'NOERROR', answers, authoritative: true }, limit), rcode: 'NOERROR', qtype }
  }
  const name = question.name.endsWith('.') ? question.name.slice(0, -1) : question.name
  const found = index.lookup(networkId, name)
  if (found.kind === 'external') return forward
  const zone = zoneOf(name, index.networkName(networkId))
  if (found.kind === 'nxdomain') {
    return { kind: 'answer', bytes: encodeReply(q, { rcode: 'NXDOMAIN', authorities: [soa(zone, ttlS)], authoritative: true }, limit), rcode: 'NXDOMAIN', qtype }
  }
  const answers = addressRecords(question, found.addrs.length > 1 ? shuffled([...found.addrs], init.random) : found.addrs, ttlS)
  // a name with no record of this type: empty NOERROR (NODATA) with the SOA, never NXDOMAIN
  const reply: Reply = answers.length > 0 ? { rcode: 'NOERROR', answers, authoritative: true } : { rcode: 'NOERROR', authorities: [soa(zone, ttlS)], authoritative: true }
  return { kind: 'answer', bytes: encodeReply(q, reply, limit), rcode: 'NOERROR', qtype }
}

/** SERVFAIL to `q` (no upstream answered). */
export function servfail (q: DecodedPacket, limit: number): Buffer {
  return encodeReply(q, { rcode: 'SERVFAIL', authoritative: false }, limit)
}

/**
 * An upstream's answer relayed to a querier that takes at most `limit`
 * bytes: as is when it fits (its ID is the querier's: the caller rewrites
 * it), else the header and question with TC set so the querier retries
 * over TCP. Undefined when the bytes are no answer to `q`.
 */
export function relayAnswer (q: DecodedPacket, upstream: Buffer, limit: number): Buffer | undefined {
  if (upstream.length < 12 || (upstream.readUInt16BE(2) & QR_BIT) === 0) return undefined
  let a: DecodedPacket
  try {
    a = dnsPacket.decode(upstream)
  } catch {
    return undefined
  }
  const qq = q.questions?.[0]
  const aq = a.questions?.[0]
  if (qq === undefined || aq === undefined || aq.name.toLowerCase() !== qq.name.toLowerCase() || aq.type !== qq.type) return undefined
  const out = Buffer.from(upstream)
  out.writeUInt16BE(q.id ?? 0, 0)
  if (out.length <= limit) return out
  const rcode = upstream.readUInt16BE(2) & RCODE_MASK
  const flags = (upstream.readUInt16BE(2) & ~QR_BIT & 0x7fff & ~RCODE_MASK) | dnsPacket.TRUNCATED_RESPONSE | rcode
  const cut: Packet = { type: 'response', id: q.id ?? 0, flags, questions: q.questions ?? [], answers: [], authorities: [], additionals: [] }
  return dnsPacket.encode(cut)
}
