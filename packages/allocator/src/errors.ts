/** Typed errors of the allocator: callers branch on `name`. */

/** Base class of every allocator error. */
export class AllocatorError extends Error {
  /** Error name, one per condition. */
  override name = 'AllocatorError'
}

/** A subnet or address string could not be parsed, or a value is out of range. */
export class InvalidInputError extends AllocatorError {
  override name = 'InvalidInputError'
  /** Name of the field that was bad, e.g. `subnets[1]`. */
  readonly field: string
  /** The bad value, as given. */
  readonly value: unknown

  constructor (field: string, value: unknown, reason: string) {
    super(`invalid ${field} ${JSON.stringify(value)}: ${reason}`)
    this.field = field
    this.value = value
  }
}

/** A CIDR string is not valid. */
export class InvalidCidrError extends InvalidInputError {
  override name = 'InvalidCidrError'
}

/** A CIDR has bits set after the prefix (e.g. `10.0.0.1/24`). */
export class HostBitsSetError extends InvalidInputError {
  override name = 'HostBitsSetError'
}

/** Two subnets of one network overlap. */
export class OverlappingSubnetsError extends InvalidInputError {
  override name = 'OverlappingSubnetsError'
}

/** A subnet has too few usable addresses. */
export class SubnetTooSmallError extends InvalidInputError {
  override name = 'SubnetTooSmallError'
}

/** An address is not valid or not inside the network's subnets. */
export class InvalidAddressError extends InvalidInputError {
  override name = 'InvalidAddressError'
}

/** A ring token received from outside is malformed. */
export class InvalidTokenError extends InvalidInputError {
  override name = 'InvalidTokenError'
}

/** An option of the allocator is out of range. */
export class InvalidOptionError extends InvalidInputError {
  override name = 'InvalidOptionError'
}

/** The network is not known to this allocator. */
export class UnknownNetworkError extends AllocatorError {
  override name = 'UnknownNetworkError'
  /** The network asked for. */
  readonly networkId: string
  constructor (networkId: string) {
    super(`unknown network ${JSON.stringify(networkId)}`)
    this.networkId = networkId
  }
}

/** The network exists already with other subnets. */
export class NetworkExistsError extends AllocatorError {
  override name = 'NetworkExistsError'
  /** The network asked for. */
  readonly networkId: string
  constructor (networkId: string, reason: string) {
    super(`network ${JSON.stringify(networkId)} exists: ${reason}`)
    this.networkId = networkId
  }
}

/**
 * This node owns no free address in the network: ask one of `donors`
 * (nodes owning space, most space first) for a donation, merge the tokens
 * it writes, and retry.
 */
export class NeedSpaceError extends AllocatorError {
  override name = 'NeedSpaceError'
  /** The network. */
  readonly networkId: string
  /** Nodes owning space in the network, those with the most space first. */
  readonly donors: string[]
  /** The address family asked for (pass it to `donate`), or undefined for any. */
  readonly family: 4 | 6 | undefined
  constructor (networkId: string, donors: string[], family?: 4 | 6) {
    super(`no free owned address in network ${JSON.stringify(networkId)}; ask a donor (${donors.length} candidates)`)
    this.networkId = networkId
    this.donors = donors
    this.family = family
  }
}

/** Every address of the network is in use (or cooling down): nobody can donate. */
export class PoolExhaustedError extends AllocatorError {
  override name = 'PoolExhaustedError'
  /** The network. */
  readonly networkId: string
  /** Addresses released recently that become free once their cooldown ends. */
  readonly cooling: number
  constructor (networkId: string, cooling: number) {
    super(`network ${JSON.stringify(networkId)} is exhausted (${cooling} addresses cooling down)`)
    this.networkId = networkId
    this.cooling = cooling
  }
}

/** `allocateSpecific` of an address that is in use, reserved, cooling down or owned by another node. */
export class AddressUnavailableError extends AllocatorError {
  override name = 'AddressUnavailableError'
  /** The address asked for. */
  readonly address: string
  /** Why: `in-use`, `reserved`, `cooling`, or `not-owned` (then `owner` names the owner, if known). */
  readonly reason: 'in-use' | 'reserved' | 'cooling' | 'not-owned'
  /** Owner of the address when `reason` is `not-owned` (undefined if no token covers it). */
  readonly owner: string | undefined
  constructor (address: string, reason: 'in-use' | 'reserved' | 'cooling' | 'not-owned', owner?: string) {
    super(`address ${address} unavailable: ${reason}${owner !== undefined ? ` (owner ${owner})` : ''}`)
    this.address = address
    this.reason = reason
    this.owner = owner
  }
}

/** `release` of an address this node has not allocated. */
export class NotAllocatedError extends AllocatorError {
  override name = 'NotAllocatedError'
  /** The address. */
  readonly address: string
  constructor (address: string) {
    super(`address ${address} is not allocated here`)
    this.address = address
  }
}

/** A snapshot could not be loaded: nothing was loaded. */
export class SnapshotError extends AllocatorError {
  override name = 'SnapshotError'
}

/** The bytes are not an allocator snapshot (wrong magic) or of an unknown format version. */
export class ForeignSnapshotError extends SnapshotError {
  override name = 'ForeignSnapshotError'
}

/** The snapshot is truncated, its checksum does not match, or its content is invalid. */
export class CorruptSnapshotError extends SnapshotError {
  override name = 'CorruptSnapshotError'
}
