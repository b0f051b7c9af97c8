import type dgram from 'node:dgram'
import type net from 'node:net'
import { performance } from 'node:perf_hooks'
import { answerQuery, relayAnswer, servfail, type Verdict } from './answer.js'
import { DNS_MAX_MESSAGE_BYTES, DNS_TCP_IDLE_MS, DNS_TCP_MAX_CONNECTIONS } from './constants.js'
import type { Forwarder } from './forward.js'
import type { DnsMetrics } from './metrics.js'
import type { NameIndex } from './names.js'

/** The sockets of one network's resolver address (opened inside its LB sandbox). */
export interface NetworkSockets {
  udp: dgram.Socket
  tcp: net.Server
}

/** Options of {@link createDnsServer}. */
export interface DnsServerInit {
  index: NameIndex
  forwarder: Forwarder
  metrics?: DnsMetrics
  /** TTL of own answers (s). */
  ttlS: number
  /** @default Math.random */
  random?: () => number
  /** A socket failed (logged by the caller). */
  onError?: (networkId: string, err: Error) => void
}

/** Serves queries arriving on each network's sockets: the socket a query came on says its network. */
export interface DnsServer {
  /** Serve `sockets` as network `networkId`'s (replacing and closing any it had). */
  attach(networkId: string, sockets: NetworkSockets): void
  /** Close a network's sockets. */
  detach(networkId: string): void
  /** Networks served now. */
  networks(): string[]
  /** Close every socket. */
  close(): void
}

interface Served {
  sockets: NetworkSockets
  conns: Set<net.Socket>
}

/** Create the server (it owns the sockets attached to it). */
export function createDnsServer (init: DnsServerInit): DnsServer {
  const served = new Map<string, Served>()
  const random = init.random ?? Math.random

  /** Answer one query; `send` gets the bytes to send back (never called for a drop). */
  function handle (networkId: string, msg: Buffer, transport: 'udp' | 'tcp', send: (b: Buffer) => void): void {
    const t0 = performance.now()
    let v: Verdict
    try {
      v = answerQuery(msg, { index: init.index, networkId, transport, ttlS: init.ttlS, random })
    } catch (err) {
      // answerQuery does not throw; if it ever did, the query is dropped and the resolver keeps going
      init.onError?.(networkId, err as Error)
      v = { kind: 'drop', reason: 'short' }
    }
    const done = (qtype: string, result: Parameters<DnsMetrics['query']>[1], upstream: boolean): void => {
      init.metrics?.query(qtype, result, upstream, (performance.now() - t0) / 1000)
    }
    if (v.kind === 'drop') return done('none', 'dropped', false)
    if (v.kind === 'answer') {
      send(v.bytes)
      return done(v.qtype, v.rcode, false)
    }
    const { query, qtype, limit } = v
    init.forwarder.forward(msg, transport === 'tcp').then((answer) => {
      const relayed = answer === undefined ? undefined : relayAnswer(query, answer, limit)
      if (relayed === undefined) {
        send(servfail(query, limit))
        done(qtype, 'SERVFAIL', true)
      } else {
        send(relayed)
        done(qtype, 'forwarded', true)
      }
    }, (err: unknown) => {
      init.onError?.(networkId, err as Error)
      send(servfail(query, limit))
      done(qtype, 'SERVFAIL', true)
    })
  }

  function serveTcp (networkId: string, s: Served, conn: net.Socket): void {
    if (s.conns.size >= DNS_TCP_MAX_CONNECTIONS) {
      conn.destroy()
      return
    }
    s.conns.add(conn)
    let buf: Buffer = Buffer.alloc(0)
    conn.setTimeout(DNS_TCP_IDLE_MS, () => conn.destroy())
    conn.on('error', () => conn.destroy())
    conn.on('close', () => s.conns.delete(conn))
    conn.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d])
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0)
        if (buf.length < 2 + len) break
        const msg = buf.subarray(2, 2 + len)
        buf = buf.subarray(2 + len)
        handle(networkId, msg, 'tcp', (b) => {
          if (conn.destroyed || b.length > DNS_MAX_MESSAGE_BYTES) return
          const head = Buffer.alloc(2)
          head.writeUInt16BE(b.length)
          conn.write(Buffer.concat([head, b]))
        })
      }
    })
  }

  function closeServed (s: Served): void {
    try { s.sockets.udp.close() } catch { /* already closed */ }
    s.sockets.tcp.close()
    for (const c of s.conns) c.destroy()
  }

  return {
    attach (networkId, sockets) {
      const old = served.get(networkId)
      if (old !== undefined) closeServed(old)
      const s: Served = { sockets, conns: new Set() }
      served.set(networkId, s)
      sockets.udp.on('message', (msg, rinfo) => {
        handle(networkId, msg, 'udp', (b) => { sockets.udp.send(b, rinfo.port, rinfo.address, () => {}) })
      })
      sockets.udp.on('error', (err) => init.onError?.(networkId, err))
      sockets.tcp.on('connection', (conn) => serveTcp(networkId, s, conn))
      sockets.tcp.on('error', (err) => init.onError?.(networkId, err))
    },
    detach (networkId) {
      const s = served.get(networkId)
      if (s === undefined) return
      served.delete(networkId)
      closeServed(s)
    },
    networks: () => [...served.keys()],
    close () {
      for (const s of served.values()) closeServed(s)
      served.clear()
    }
  }
}
