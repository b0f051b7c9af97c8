import type { Clock, EntryEvent, Gossip } from '@scalelb/gossip'
import type { AddressKind, NodeAllocator, RingToken } from '@scalelb/allocator'
import type { Logger } from '../logging/logger.js'
import { DONATION_TIMEOUT_MS, MAX_DONATION_ATTEMPTS } from '../constants.js'
import { PoolExhaustedError } from '../errors.js'
import { TABLE_IPAM, TABLE_IPAM_REQUESTS, checkDonationRequest, type DonationRequest } from './tables.js'

/** Options of {@link createIpam}. */
export interface IpamInit {
  gossip: Gossip
  allocator: NodeAllocator
  /** Clock for allocator time and donation timeouts. */
  clock: Clock
  logger: Logger
  /** Called after every allocator change (persist the snapshot). */
  onChange: () => void
  /** Per-donor wait for a donation. @default DONATION_TIMEOUT_MS */
  donationTimeoutMs?: number
}

/** IPAM of the agent: the pure allocator plus its gossip side (ring tokens, donation requests). */
export interface Ipam {
  readonly allocator: NodeAllocator
  /** Feed every gossip entry event (ipam tokens, donation requests). */
  handleEntry(ev: EntryEvent): void
  /** Merge every known token of a network (after learning the network). */
  syncNetwork(networkId: string): void
  /** Publish tokens this node wrote. */
  publishTokens(networkId: string, tokens: readonly RingToken[]): void
  /** Allocate, asking donors for space when this node owns none. */
  allocate(networkId: string, kind: AddressKind, owner: string): Promise<string>
  /** First local task on a network allocates the LB IP (with donation if needed). */
  localTaskAdded(networkId: string, taskKey: string): Promise<{ lbIp: string, allocated: boolean }>
}

/** Gossip key of a ring token. */
export function tokenKey (networkId: string, start: string): string {
  return `${networkId}/${start}`
}

function isToken (v: unknown): v is RingToken {
  if (v === null || typeof v !== 'object') return false
  const t = v as Record<string, unknown>
  return typeof t.start === 'string' && typeof t.end === 'string' && typeof t.owner === 'string' && Number.isInteger(t.version)
}

/** Create the IPAM glue. */
export function createIpam (init: IpamInit): Ipam {
  const { gossip, allocator, clock, logger } = init
  const self = allocator.self
  const timeoutMs = init.donationTimeoutMs ?? DONATION_TIMEOUT_MS
  const waiters = new Map<string, Set<() => void>>()

  function notify (networkId: string): void {
    const ws = waiters.get(networkId)
    if (ws === undefined) return
    waiters.delete(networkId)
    for (const w of ws) w()
  }

  function merge (networkId: string, tokens: RingToken[]): void {
    if (!allocator.hasNetwork(networkId) || tokens.length === 0) return
    try {
      const r = allocator.mergeTokens(networkId, tokens, clock.now())
      for (const x of r.renumber) logger.error('address lost to a ring conflict; its user must be renumbered', { networkId, address: x.address, kind: x.kind, owner: x.owner })
      if (r.changed) {
        init.onChange()
        notify(networkId)
      }
    } catch (err) {
      logger.warn('ignoring invalid ring tokens', { networkId, error: (err as Error).message })
    }
  }

  function tokensOf (networkId: string): RingToken[] {
    const out: RingToken[] = []
    for (const e of gossip.entries<unknown>('cluster', TABLE_IPAM)) {
      if (e.deleted || e.status === 'deleted' || !e.key.startsWith(`${networkId}/`)) continue
      if (isToken(e.value)) out.push(e.value)
    }
    return out
  }

  const ipam: Ipam = {
    allocator,
    handleEntry (ev) {
      const e = ev.entry
      if (e.scope !== 'cluster' || e.deleted) return
      if (e.table === TABLE_IPAM) {
        const slash = e.key.lastIndexOf('/')
        if (slash <= 0) return
        if (!isToken(e.value)) {
          logger.warn('ignoring malformed ring token', { key: e.key, origin: e.origin })
          return
        }
        merge(e.key.slice(0, slash), [e.value])
      } else if (e.table === TABLE_IPAM_REQUESTS) {
        const c = checkDonationRequest(e.value, e.origin)
        if (!c.ok) {
          logger.warn('ignoring malformed donation request', { key: e.key, origin: e.origin, reason: c.reason })
          return
        }
        if (c.value.donor !== self || !allocator.hasNetwork(c.value.networkId)) return
        const tokens = allocator.donate(c.value.networkId, c.value.requester, clock.now())
        logger.info('donation request', { networkId: c.value.networkId, requester: c.value.requester, donated: tokens?.length ?? 0 })
        if (tokens !== undefined) {
          ipam.publishTokens(c.value.networkId, tokens)
          init.onChange()
        }
      }
    },
    syncNetwork (networkId) {
      merge(networkId, tokensOf(networkId))
    },
    publishTokens (networkId, tokens) {
      for (const t of tokens) gossip.set('cluster', TABLE_IPAM, tokenKey(networkId, t.start), { ...t })
    },
    async allocate (networkId, kind, owner) {
      return await withDonation(networkId, () => allocator.allocate(networkId, kind, clock.now(), owner))
    },
    async localTaskAdded (networkId, taskKey) {
      return await withDonation(networkId, () => allocator.localTaskAdded(networkId, taskKey, clock.now()))
    }
  }

  async function withDonation<T> (networkId: string, fn: () => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = fn()
        init.onChange()
        return r
      } catch (err) {
        const e = err as Error & { donors?: string[], cooling?: number }
        if (e.name === 'PoolExhaustedError') {
          // a network learned before its ring tokens arrived looks exhausted: wait for the tokens once
          if (attempt < MAX_DONATION_ATTEMPTS && allocator.tokens(networkId).length === 0) {
            ipam.syncNetwork(networkId)
            if (allocator.tokens(networkId).length === 0) await waitForChange(networkId)
            continue
          }
          throw new PoolExhaustedError('network', `no free address left in network ${networkId} (${e.cooling ?? 0} cooling down)`)
        }
        if (e.name !== 'NeedSpaceError') throw err
        const donors = (e.donors ?? []).filter((d) => d !== self)
        if (donors.length === 0 || attempt >= MAX_DONATION_ATTEMPTS) {
          throw new PoolExhaustedError('network', `this node owns no free address in network ${networkId} and no donor answered`)
        }
        await askDonation(networkId, donors[attempt % donors.length] as string)
      }
    }
  }

  /** Resolves on the next ring change of the network, or after the donation timeout. */
  async function waitForChange (networkId: string): Promise<void> {
    await new Promise<void>((resolve) => {
      let cancel = (): void => {}
      const done = (): void => { cancel(); resolve() }
      cancel = clock.setTimer(timeoutMs, () => {
        waiters.get(networkId)?.delete(done)
        resolve()
      })
      let set = waiters.get(networkId)
      if (set === undefined) waiters.set(networkId, set = new Set())
      set.add(done)
    })
  }

  async function askDonation (networkId: string, donor: string): Promise<void> {
    const req: DonationRequest = { networkId, requester: self, donor, atMs: clock.now() }
    const p = waitForChange(networkId)
    logger.info('asking for address space', { networkId, donor })
    gossip.set('cluster', TABLE_IPAM_REQUESTS, `${networkId}/${self}`, req)
    await p
  }

  return ipam
}

