import { createSeededRng } from '../rng.js'
import type { Clock, NodeId, Rng, Transport } from '../types.js'

/** Options of {@link createMemoryNetwork}. */
export interface MemoryNetworkInit {
  /** Clock that schedules deliveries (manual in tests). */
  clock: Clock
  /** Seed of the loss/latency RNG. @default 1 */
  seed?: number
  /** One-way latency in ms: fixed, or [min, max] uniform. @default 1 */
  latencyMs?: number | [number, number]
  /** Probability (0..1) that a datagram or request is lost. @default 0 */
  loss?: number
}

/** An in-process network of transports with injectable faults. */
export interface MemoryNetwork {
  /** Create (or return) the transport of node `id`, reachable at `mem://<id>`. */
  transport(id: NodeId): Transport
  /** Set the loss probability. */
  setLoss(p: number): void
  /** Cut all traffic between the two groups (both ways). */
  partition(a: NodeId[], b: NodeId[]): void
  /** Drop everything `from` sends to `to` (one way). */
  dropOneWay(from: NodeId, to: NodeId): void
  /** Remove every partition and one-way drop. */
  heal(): void
  /** Datagrams delivered / dropped so far. */
  counts(): { delivered: number, dropped: number }
}

/** Thrown by a memory transport request that could not be delivered or answered. */
export class MemoryUnreachableError extends Error {
  override name = 'MemoryUnreachableError'
  constructor (to: string, why: string) { super(`unreachable ${to}: ${why}`) }
}

interface Endpoint {
  id: NodeId
  running: boolean
  onMessage?: (from: NodeId, bytes: Uint8Array) => void
  onRequest?: (from: NodeId, bytes: Uint8Array) => Promise<Uint8Array> | Uint8Array
}

/**
 * Create an in-memory network: deliveries are scheduled on the given clock,
 * loss and latency come from a seeded RNG, bytes are copied (no aliasing).
 */
export function createMemoryNetwork (init: MemoryNetworkInit): MemoryNetwork {
  const clock = init.clock
  const rng: Rng = createSeededRng(init.seed ?? 1)
  let loss = init.loss ?? 0
  const lat = init.latencyMs ?? 1
  const endpoints = new Map<NodeId, Endpoint>()
  const transports = new Map<NodeId, Transport>()
  const blocked = new Set<string>()
  let delivered = 0
  let dropped = 0

  const latency = (): number => typeof lat === 'number' ? lat : lat[0] + rng.next() * (lat[1] - lat[0])
  const cut = (from: NodeId, to: NodeId): boolean => blocked.has(`${from}\n${to}`) || (loss > 0 && rng.next() < loss)

  const make = (id: NodeId): Transport => {
    const ep: Endpoint = { id, running: false }
    endpoints.set(id, ep)
    return {
      id,
      addrs: () => [`mem://${id}`],
      async start () { ep.running = true },
      async stop () { ep.running = false },
      async dial (addr) {
        if (!addr.startsWith('mem://')) throw new MemoryUnreachableError(addr, 'not a mem:// address')
        const peer = addr.slice('mem://'.length)
        const target = endpoints.get(peer)
        if (target === undefined || !target.running || blocked.has(`${id}\n${peer}`)) throw new MemoryUnreachableError(peer, 'not reachable')
        return peer
      },
      send (to, bytes) {
        if (!ep.running) return
        if (cut(id, to)) { dropped++; return }
        const copy = bytes.slice()
        clock.setTimer(latency(), () => {
          const target = endpoints.get(to)
          if (target === undefined || !target.running || target.onMessage === undefined) { dropped++; return }
          delivered++
          target.onMessage(id, copy)
        })
      },
      request (to, bytes) {
        return new Promise<Uint8Array>((resolve, reject) => {
          if (!ep.running) { reject(new MemoryUnreachableError(to, 'transport stopped')); return }
          const lost = cut(id, to)
          const copy = bytes.slice()
          clock.setTimer(latency(), () => {
            const target = endpoints.get(to)
            if (lost || target === undefined || !target.running || target.onRequest === undefined) {
              reject(new MemoryUnreachableError(to, lost ? 'lost' : 'not running'))
              return
            }
            Promise.resolve().then(() => (target.onRequest as NonNullable<Endpoint['onRequest']>)(id, copy)).then(res => {
              const back = cut(to, id)
              const resCopy = res.slice()
              clock.setTimer(latency(), () => {
                if (back || !ep.running) reject(new MemoryUnreachableError(to, 'response lost'))
                else resolve(resCopy)
              })
            }, (err: unknown) => { reject(err instanceof Error ? err : new MemoryUnreachableError(to, String(err))) })
          })
        })
      },
      onMessage (h) { ep.onMessage = h },
      onRequest (h) { ep.onRequest = h },
      addPeerAddrs () {}
    }
  }

  return {
    transport (id) {
      let t = transports.get(id)
      if (t === undefined) { t = make(id); transports.set(id, t) }
      return t
    },
    setLoss (p) { loss = p },
    partition (a, b) {
      for (const x of a) for (const y of b) { blocked.add(`${x}\n${y}`); blocked.add(`${y}\n${x}`) }
    },
    dropOneWay (from, to) { blocked.add(`${from}\n${to}`) },
    heal () { blocked.clear() },
    counts: () => ({ delivered, dropped })
  }
}
