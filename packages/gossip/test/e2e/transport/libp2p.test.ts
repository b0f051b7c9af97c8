import test from 'ava'
import { MAX_MESSAGE_BYTES } from '../../../src/constants.js'
import {
  createLibp2pTransport, generateClusterKey, generateNodeKey, parseClusterKey, peerIdFromKey, type Libp2pTransport, type NodeKey
} from '../../../src/transport/libp2p.js'
import { waitFor } from '@scalelb/test-support'
import { runTransportCompliance } from '../../support/transport-compliance.js'

const CLUSTER_KEY = parseClusterKey(generateClusterKey())
// small enough that a request of the limit is cheap on loopback
const MAX_REQUEST_BYTES = 256 * 1024

runTransportCompliance(test, 'libp2p', {
  limits: { maxMessageBytes: MAX_MESSAGE_BYTES, maxRequestBytes: MAX_REQUEST_BYTES },
  setup: async () => {
    const made: Libp2pTransport[] = []
    const keys = new Map<string, NodeKey>()
    const make = (privateKey: NodeKey): Libp2pTransport => {
      // loopback only, a fresh port each time
      const tr = createLibp2pTransport({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], clusterKey: CLUSTER_KEY, maxRequestBytes: MAX_REQUEST_BYTES })
      keys.set(tr.id, privateKey)
      made.push(tr)
      return tr
    }
    return {
      create: async () => make(await generateNodeKey()),
      recreate: async old => make(keys.get(old.id) as NodeKey),
      until: async (cond, what) => { await waitFor(what, cond) },
      unknownId: async () => peerIdFromKey(await generateNodeKey()),
      // the discard port: nothing listens there
      deadAddr: '/ip4/127.0.0.1/tcp/9',
      cleanup: async () => { for (const tr of made) await tr.stop() }
    }
  }
})
