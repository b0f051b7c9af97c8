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
export { V6_BASE, formatAddress, parseAddress, parseSubnet, parseSubnets, type Subnet, type Family } from './addr.js'
import { AllocatorError, CorruptSnapshotError, ForeignSnapshotError, SnapshotError } from './errors.js'
import { NodeAllocatorImpl, resolveOptions } from './node-allocator.js'
import { restoreNodeAllocator } from './restore.js'
import type { NodeAllocator, NodeAllocatorInit } from './types.js'

/**
 * Create an empty allocator for node `init.self`.
 * @throws InvalidOptionError | InvalidInputError naming the bad option
 */
export function createNodeAllocator (init: NodeAllocatorInit): NodeAllocator {
  return new NodeAllocatorImpl(resolveOptions(init))
}

/**
 * Restore an allocator from {@link NodeAllocator.serialize} bytes, with the
 * options of `init` (its `self`, if given, must match the snapshot's). All or
 * nothing: a corrupt, truncated or foreign snapshot throws and nothing is loaded.
 * @throws ForeignSnapshotError | CorruptSnapshotError (InvalidOptionError for bad `init`)
 */
export function deserializeNodeAllocator (bytes: Uint8Array, init: Partial<NodeAllocatorInit> = {}): NodeAllocator {
  resolveOptions({ ...init, self: init.self ?? 'snapshot' }) // bad options are the caller's error, not the snapshot's
  try {
    return restoreNodeAllocator(bytes, init)
  } catch (err) {
    if (err instanceof SnapshotError) throw err
    if (err instanceof AllocatorError && 'field' in err && err.field === 'self') throw new ForeignSnapshotError(err.message)
    throw new CorruptSnapshotError(`snapshot content invalid: ${(err as Error).message}`)
  }
}
