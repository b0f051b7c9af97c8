/**
 * The remote side of bench:memory's loaded case: one gossip node in the
 * benchmark's process (real libp2p, unsigned gossip: the agent under test
 * runs with --insecure-unsigned-gossip) that publishes services with a VIP
 * each on the agent's network, and their ready tasks, all on this node, as a
 * cluster's other nodes would. The agent creates the network (it owns the
 * network's address space; the feeder's addresses are taken high in it). The agent under test receives the tables by
 * gossip, as it would in production, rather than through its control API
 * (which persists the state file once per change: 110k changes take hours).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createGossip, createLibp2pTransport, createSeededRng, createSystemClock, type Gossip } from '@scalelb/gossip'
import { AGENT_VERSION } from '../src/constants.js'
import { TABLE_ENDPOINTS, TABLE_NODES, TABLE_SERVICES, networkScope, taskEndpointKey } from '../src/state/tables.js'

/** The network the agent creates for the feeder: a /8, room for 10k VIPs and 100k task IPs far from the agent's own allocations. */
export const FEED_NETWORK = { name: 'bench', subnet: '10.0.0.0/8' }
/** First address the feeder hands out (VIPs, then tasks), 10.200.0.0: high in the /8. */
const FIRST_ADDRESS = (200 << 16)

function ipOf (n: number): string {
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`
}

function macOf (n: number): string {
  return `02:42:${[(n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`
}

/** A running feeder. */
export interface Feeder {
  /** Multiaddr to `--join`. */
  addr: string
  /** Name of the first service (the agent under test adds its one local task there, which makes it join the network). */
  firstService: string
  /** Publish `services` services x `backends` tasks on the network `networkId`. */
  populate(networkId: string, services: number, backends: number): void
  stop(): Promise<void>
}

/** Start a feeder on loopback `port`. */
export async function startFeeder (port: number): Promise<Feeder> {
  const privateKey = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(privateKey).toString()
  const transport = createLibp2pTransport({ privateKey, listen: [`/ip4/127.0.0.1/tcp/${port}`], insecure: true })
  const gossip: Gossip = createGossip({ transport, clock: createSystemClock(), rng: createSeededRng(1) })
  await gossip.start()
  gossip.set('cluster', TABLE_NODES, id, { underlay: '127.0.0.1', version: AGENT_VERSION })
  const populate = (networkId: string, services: number, backends: number): void => {
    const scope = networkScope(networkId)
    gossip.joinScope(scope)
    let ip = FIRST_ADDRESS
    for (let s = 0; s < services; s++) {
      const name = `svc-${s}`
      gossip.set('cluster', TABLE_SERVICES, name, { name, ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], vips: { [networkId]: ipOf(ip++) } })
      for (let b = 0; b < backends; b++) {
        gossip.set(scope, TABLE_ENDPOINTS, taskEndpointKey(id, `${name}-t${b}`), { kind: 'task', service: name, ip: ipOf(ip), mac: macOf(ip), node: id, state: 'ready', originMs: 1 })
        ip++
      }
    }
  }
  return { addr: `/ip4/127.0.0.1/tcp/${port}/p2p/${id}`, firstService: 'svc-0', populate, stop: async () => { await gossip.stop() } }
}
