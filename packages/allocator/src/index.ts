/**
 * @scalelb/allocator: pure address allocation for scalelb networks.
 * Address math (IPv4 and IPv6, several subnets per network), an ownership
 * ring per network (as Weave Net's IPAM), pools inside owned ranges, and the
 * per-node VIP / task / lazily allocated LB addresses. No I/O, no clock reads.
 * @packageDocumentation
 */
export * from './types.js'
export * from './errors.js'
export * from './constants.js'
import type { NodeAllocator, NodeAllocatorInit } from './types.js'

/** Create an empty allocator for node `init.self`. */
export function createNodeAllocator (init: NodeAllocatorInit): NodeAllocator {
  throw new Error(`createNodeAllocator(${init.self}): not implemented yet (API preview commit)`)
}

/**
 * Restore an allocator from {@link NodeAllocator.serialize} bytes. All or
 * nothing: a corrupt, truncated or foreign snapshot throws and nothing is loaded.
 * @throws ForeignSnapshotError | CorruptSnapshotError
 */
export function deserializeNodeAllocator (bytes: Uint8Array, init?: Partial<NodeAllocatorInit>): NodeAllocator {
  throw new Error(`deserializeNodeAllocator(${bytes.length} bytes, ${init?.self ?? ''}): not implemented yet`)
}
