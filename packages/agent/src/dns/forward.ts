import { randomInt } from 'node:crypto'
import dgram from 'node:dgram'
import net, { isIPv6 } from 'node:net'
import { DNS_MAX_FORWARDS_IN_FLIGHT, DNS_MAX_MESSAGE_BYTES } from './constants.js'

/** One upstream resolver. */
export interface Upstream {
  host: string
  port: number
}

/** Options of {@link createForwarder}. */
export interface ForwarderInit {
  /** Tried in order: the next one starts when the previous has had its share of the timeout; the first answer wins. */
  upstreams: readonly Upstream[]
  /** Total time a forwarded query may take (ms); then the caller answers SERVFAIL. */
  timeoutMs: number
  /** @default DNS_MAX_FORWARDS_IN_FLIGHT */
  maxInFlight?: number
}

/** Sends queries the resolver does not answer itself to the upstream resolvers, from the host namespace. */
export interface Forwarder {
  /**
   * Forward `query` (a whole DNS message) over UDP; resolves with the
   * upstream's answer (its ID is the query's), or undefined when none
   * answered in time. An answer with TC set is asked again over TCP from
   * the same upstream when `tcpOnTruncation` (the querier came over TCP and
   * takes any size); else it is relayed as is and the querier retries over
   * TCP itself.
   */
  forward(query: Buffer, tcpOnTruncation: boolean): Promise<Buffer | undefined>
  /** Forwarded queries waiting for an answer. */
  inFlight(): number
  close(): void
}

const TC_BIT = 0x0200

interface Pending {
  id: number
  /** An answer from upstream `from` (a `host|port` key), or undefined on close. */
  done: (answer: Buffer | undefined, from?: string) => void
  /** Upstreams this query was sent to (an answer from another address is ignored). */
  sentTo: Set<string>
}

function key (host: string, port: number): string {
  return `${host}|${port}`
}

/**
 * Create a forwarder: one connected UDP socket per upstream (the kernel
 * drops datagrams from any other address, and a send needs no address
 * lookup), a TCP connection per retry over TCP.
 */
export function createForwarder (init: ForwarderInit): Forwarder {
  const maxInFlight = init.maxInFlight ?? DNS_MAX_FORWARDS_IN_FLIGHT
  const pending = new Map<number, Pending>()
  const sockets = new Map<string, { socket: dgram.Socket, ready: boolean, queue: Buffer[] }>()
  let closed = false

  function sendTo (up: Upstream, bytes: Buffer): void {
    const k = key(up.host, up.port)
    const s = sockets.get(k)
    if (s === undefined) {
      const socket = dgram.createSocket(isIPv6(up.host) ? 'udp6' : 'udp4')
      const entry = { socket, ready: false, queue: [bytes] }
      socket.on('message', (msg) => {
        if (msg.length < 12) return
        const p = pending.get(msg.readUInt16BE(0))
        if (p === undefined || !p.sentTo.has(k)) return
        p.done(msg, k)
      })
      // a refused or unreachable upstream: the query's other upstreams or its timeout answer it
      socket.on('error', () => {})
      socket.unref()
      socket.connect(up.port, up.host, () => {
        entry.ready = true
        for (const b of entry.queue) socket.send(b)
        entry.queue = []
      })
      sockets.set(k, entry)
      return
    }
    if (s.ready) s.socket.send(bytes)
    else s.queue.push(bytes)
  }

  function freeId (): number | undefined {
    for (let i = 0; i < 16; i++) {
      const id = randomInt(0x10000)
      if (!pending.has(id)) return id
    }
    return undefined
  }

  function withId (query: Buffer, id: number): Buffer {
    const out = Buffer.from(query)
    out.writeUInt16BE(id, 0)
    return out
  }

  function overTcp (query: Buffer, up: Upstream, ms: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      let buf = Buffer.alloc(0)
      const sock = net.connect({ host: up.host, port: up.port })
      const finish = (v: Buffer | undefined): void => { clearTimeout(timer); sock.destroy(); resolve(v) }
      const timer = setTimeout(() => finish(undefined), ms)
      sock.on('error', () => finish(undefined))
      sock.on('connect', () => {
        const len = Buffer.alloc(2)
        len.writeUInt16BE(query.length)
        sock.write(Buffer.concat([len, query]))
      })
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        if (buf.length > DNS_MAX_MESSAGE_BYTES + 2) return finish(undefined)
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(buf.subarray(2, 2 + buf.readUInt16BE(0)))
      })
      sock.on('end', () => finish(undefined))
    })
  }

  /** UDP to each upstream in turn (staggered), first answer wins. */
  function overUdp (query: Buffer, id: number, deadline: number): Promise<{ answer: Buffer, from: Upstream } | undefined> {
    const ups = init.upstreams
    const share = init.timeoutMs / ups.length
    return new Promise((resolve) => {
      const timers: NodeJS.Timeout[] = []
      const byKey = new Map(ups.map((u) => [key(u.host, u.port), u]))
      const p: Pending = { id, sentTo: new Set(), done: () => {} }
      const end = (v: { answer: Buffer, from: Upstream } | undefined): void => {
        for (const t of timers) clearTimeout(t)
        pending.delete(id)
        resolve(v)
      }
      p.done = (answer, from) => {
        const up = from === undefined ? undefined : byKey.get(from)
        end(answer === undefined || up === undefined ? undefined : { answer, from: up })
      }
      pending.set(id, p)
      const bytes = withId(query, id)
      ups.forEach((u, i) => {
        const send = (): void => {
          if (closed) return
          p.sentTo.add(key(u.host, u.port))
          sendTo(u, bytes)
        }
        if (i === 0) send()
        else timers.push(setTimeout(send, share * i))
      })
      timers.push(setTimeout(() => end(undefined), Math.max(0, deadline - Date.now())))
    })
  }

  return {
    async forward (query, tcpOnTruncation) {
      if (closed || init.upstreams.length === 0 || query.length < 12 || pending.size >= maxInFlight) return undefined
      const origId = query.readUInt16BE(0)
      const deadline = Date.now() + init.timeoutMs
      const id = freeId()
      if (id === undefined) return undefined
      const r = await overUdp(query, id, deadline)
      let answer = r?.answer
      if (r !== undefined && tcpOnTruncation && (r.answer.readUInt16BE(2) & TC_BIT) !== 0) {
        answer = await overTcp(query, r.from, Math.max(1, deadline - Date.now())) ?? r.answer
      }
      return answer === undefined || answer.length < 12 ? undefined : withId(answer, origId)
    },
    inFlight: () => pending.size,
    close () {
      if (closed) return
      closed = true
      for (const p of [...pending.values()]) p.done(undefined)
      for (const s of sockets.values()) s.socket.close()
      sockets.clear()
    }
  }
}
