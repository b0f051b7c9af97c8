import { pump } from '@scalelb/test-support'
import { createGossip, createManualClock, createMemoryNetwork, createSeededRng, type Gossip, type ManualClock, type MemoryNetwork } from '@scalelb/gossip'

/** A few real gossip nodes on a memory network under one manual clock (state tests). */
export interface TestCluster {
  clock: ManualClock
  net: MemoryNetwork
  g: Map<string, Gossip>
  get(id: string): Gossip
  stop(): Promise<void>
}

/** Start gossip nodes `ids` (the first is the seed the others join), local profile, seeded; dead members are forgotten after `reconnectTimeoutMs`. */
export async function startCluster (ids: readonly string[], seed: number, reconnectTimeoutMs = 15_000): Promise<TestCluster> {
  const clock = createManualClock(1_000_000)
  const net = createMemoryNetwork({ clock, seed, latencyMs: [1, 5] })
  const g = new Map<string, Gossip>(ids.map((id) => [id, createGossip({
    transport: net.transport(id), clock, rng: createSeededRng(`${seed}:${id}`), profile: 'local', reconnectTimeoutMs
  })]))
  const get = (id: string): Gossip => g.get(id) as Gossip
  for (const x of g.values()) await x.start()
  const joins = ids.slice(1).map((id) => get(id).join([`mem://${ids[0] as string}`]))
  await pump(clock, 200)
  await Promise.all(joins)
  return { clock, net, g, get, stop: async () => { for (const x of g.values()) await x.stop() } }
}
