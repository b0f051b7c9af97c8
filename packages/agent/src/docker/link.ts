import { createKernel, ipBatch, taskPeerVethName, type Kernel } from '../dataplane/kernel/index.js'
import { addBridgedVeth, removeBridgedVeth } from '../dataplane/plumber/index.js'
import type { DockerLinks } from './plugin.js'

/**
 * Container links for Docker's Join: the `task add --netns` veth
 * (plumber's addBridgedVeth, host end on the network's bridge at the overlay
 * MTU), but its peer stays in this namespace with the endpoint's MAC, for
 * dockerd to move into the container, rename (`eth<N>`) and address.
 */
export function createKernelLinks (init: { netnsPrefix: string, kernel?: Kernel }): DockerLinks {
  const k = init.kernel ?? createKernel()
  const key = (endpointId: string): string => `docker:${endpointId}`
  return {
    async create ({ networkId, endpointId, mac, mtu }) {
      const srcName = taskPeerVethName(init.netnsPrefix, networkId, key(endpointId))
      // a Join repeated after a failure half-way finds the old pair: start clean
      await removeBridgedVeth({ netnsPrefix: init.netnsPrefix, networkId, key: key(endpointId), kernel: k })
      await addBridgedVeth({ netnsPrefix: init.netnsPrefix, networkId, key: key(endpointId), peerName: srcName, mtu, kernel: k })
      try {
        await ipBatch(k, [`link set ${srcName} address ${mac}`])
      } catch (err) {
        await removeBridgedVeth({ netnsPrefix: init.netnsPrefix, networkId, key: key(endpointId), kernel: k })
        throw err
      }
      return { srcName }
    },
    async remove ({ networkId, endpointId }) {
      await removeBridgedVeth({ netnsPrefix: init.netnsPrefix, networkId, key: key(endpointId), kernel: k })
    }
  }
}

/** Links recorded in memory (`--programmer memory`, tests). */
export function createMemoryLinks (): DockerLinks & { links: Map<string, { networkId: string, mac: string, mtu: number }> } {
  const links = new Map<string, { networkId: string, mac: string, mtu: number }>()
  return {
    links,
    async create ({ networkId, endpointId, mac, mtu }) {
      links.set(endpointId, { networkId, mac, mtu })
      return { srcName: `sp${endpointId.slice(0, 10)}` }
    },
    async remove ({ endpointId }) {
      links.delete(endpointId)
    }
  }
}
