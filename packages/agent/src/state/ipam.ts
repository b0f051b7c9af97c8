import { logRepeated, type Clock, type EntryEvent, type Gossip, type Member } from '@scalelb/gossip'
import { BLOCK_PREFIX_V4, parseAddress, type AddressKind, type DeadOwner, type NodeAllocator, type RingToken, type WriteRefusal } from '@scalelb/allocator'
import type { Logger } from '../logging/logger.js'
import { ALLOCATION_DEADLINE_MS, DONATION_QUOTA_FAIR_SHARES, DONATION_QUOTA_MIN_BLOCKS, DONATION_TIMEOUT_MS, PREFETCH_BLOCKS_PER_MEMBER, RECLAIM_CHECK_MS } from '../constants.js'
import { NetworkFullError, PoolExhaustedError } from '../errors.js'
import { SERVED_MAX, checkUsage, publishedUsage, servedTag, spaceView, usageKey, type SpaceView, type UsageValue } from './ipam-space.js'
import { TABLE_IPAM, TABLE_IPAM_REQUESTS, TABLE_IPAM_USAGE, TABLE_NETWORKS, checkDonationRequest, type DonationRequest } from './tables.js'

/** Options of {@link createIpam}. */
export interface IpamInit {
  gossip: Gossip
  allocator: NodeAllocator
  /** Clock for allocator time and donation timeouts. */
  clock: Clock
  logger: Logger
  /** Called after every allocator change (persist the snapshot). */
  onChange: () => void
  /** Called after each successful allocation with the time it waited for address space (0 if none). */
  onAllocated?: (waitMs: number) => void
  /** Called for each ring token of another writer that was refused (see NodeAllocator.mergeTokens). */
  onRefused?: (reason: WriteRefusal) => void
  /** Name of a network for error messages (its ID when unknown). */
  networkName?: (networkId: string) => string | undefined
  /** Per-donor wait for a donation before asking another. @default DONATION_TIMEOUT_MS */
  donationTimeoutMs?: number
  /** An allocation waiting for a donation fails after this long. @default ALLOCATION_DEADLINE_MS */
  allocationDeadlineMs?: number
  /**
   * Take over the ranges of ring owners gone for the allocator's
   * reclaimAfterMs where this node is their heir, checked this often
   * (0: never). @default RECLAIM_CHECK_MS
   */
  reclaimIntervalMs?: number
  /**
   * The service VIPs on a network (they outlive the node that allocated
   * them): an heir holds those inside the space it takes over.
   */
  vipsOf?: (networkId: string) => Iterable<{ ip: string, service: string }>
  /**
   * Members the cluster's managers revoked: their ranges are reclaimed at the
   * next pass, not after the reclaim time (they will not come back, and their
   * tokens are reaped with them half an hour after the revocation).
   * @default none
   */
  revoked?: () => ReadonlySet<string>
  /**
   * Ask for space when a network is learned, before a task needs it (only in
   * networks with PREFETCH_BLOCKS_PER_MEMBER blocks per member or more).
   * @default true
   */
  prefetch?: boolean
}

/** Options of one allocation. */
export interface AllocateOptions {
  /** The caller gave up: stop waiting for a donation (the call rejects with the signal's reason). */
  signal?: AbortSignal
  /** Address family (a dual-stack network's second address: 6). @default the family of the network's first subnet */
  family?: 4 | 6
}

/** IPAM of the agent: the pure allocator plus its gossip side (ring tokens, usage, donation requests). */
export interface Ipam {
  readonly allocator: NodeAllocator
  /** Feed every gossip entry event (ipam tokens, usage, donation requests, network deletes). */
  handleEntry(ev: EntryEvent): void
  /** Merge every known token of a network (after learning the network). */
  syncNetwork(networkId: string): void
  /** Publish tokens this node wrote. */
  publishTokens(networkId: string, tokens: readonly RingToken[]): void
  /** Publish this node's free space where it changed (call after allocator changes made elsewhere). */
  publishUsage(): void
  /** A network became known here: ask for space ahead of need if the network is large enough. */
  networkLearned(networkId: string): void
  /**
   * Allocate, asking donors for space when this node owns none.
   * @throws NetworkFullError when no owner has a free address; PoolExhaustedError when no donor answered in time
   */
  allocate(networkId: string, kind: AddressKind, owner: string, opts?: AllocateOptions): Promise<string>
  /** First local task on a network allocates the LB IP (with donation if needed); throws as {@link Ipam.allocate}. */
  localTaskAdded(networkId: string, taskKey: string, opts?: AllocateOptions): Promise<{ lbIp: string, lbIp6?: string, allocated: boolean }>
  /**
   * Leaving the cluster for good: give every range this node owns to its
   * heir now (not an hour after it is gone), after its tasks are removed.
   */
  handOver(): void
  /** Cancel timers and wake every waiting allocation (they fail). Safe to call twice. */
  stop(): void
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

/** Gossip key of a node's donation request: `${networkId}/${requester}`, the same shape as a usage key. */
const requestKey = usageKey

/** A member an heir counts as alive: suspected is not failed yet. */
const isUp = (m: Member): boolean => m.state === 'alive' || m.state === 'suspect'

/** Addresses in one donation block (IPv4 default): the unit of the prefetch rule. */
const BLOCK_ADDRESSES = 2 ** (32 - BLOCK_PREFIX_V4)

/** Create the IPAM glue. */
export function createIpam (init: IpamInit): Ipam {
  const { gossip, allocator, clock, logger } = init
  const self = allocator.self
  const donationTimeoutMs = init.donationTimeoutMs ?? DONATION_TIMEOUT_MS
  const deadlineMs = init.allocationDeadlineMs ?? ALLOCATION_DEADLINE_MS
  const waiters = new Map<string, Set<() => void>>()
  /** Other nodes' live usage entries: network -> node -> value. */
  const usage = new Map<string, Map<string, UsageValue>>()
  /** Own usage as last published, per network (JSON). */
  const published = new Map<string, string>()
  /** Timers republishing usage when cooling addresses become free. */
  const coolTimers = new Map<string, { at: number, cancel: () => void }>()
  /** Donation requests this node answered, per network: their tags and when (named in its usage while a requester may wait). */
  const served = new Map<string, Array<{ tag: string, at: number }>>()
  /** Per network, the time (requester's clock, its request's ID) of the last request of each requester served here. */
  const lastServed = new Map<string, Map<string, number>>()
  /** Allocations of this node waiting on its donation request, per network. */
  const requestRefs = new Map<string, number>()
  const prefetchDecided = new Set<string>()
  let refusedCount = 0
  let quotaRefusals = 0
  /** Networks where a ring token was refused: merged again at the next reclaim pass (an heir's takeover is taken once this node holds nothing there). */
  const disputed = new Set<string>()
  /** Ring owners that membership no longer lists, and since when (local clock). */
  const unlisted = new Map<string, number>()
  let reclaimTimer: (() => void) | undefined
  let stopped = false
  const label = (networkId: string): string => init.networkName?.(networkId) ?? networkId

  function notify (networkId: string): void {
    const ws = waiters.get(networkId)
    if (ws === undefined) return
    waiters.delete(networkId)
    for (const w of ws) w()
  }

  /** Merge tokens `writer` wrote and signed (one of another writer that would take this node's range is refused). */
  function merge (networkId: string, tokens: RingToken[], writer: string): void {
    if (!allocator.hasNetwork(networkId) || tokens.length === 0) return
    try {
      const r = allocator.mergeTokens(networkId, tokens, clock.now(), writer)
      for (const x of r.renumber) {
        if (x.kind === 'vip') logger.warn('a service VIP went with its range to another node (an heir holds the VIPs it takes over)', { networkId, address: x.address, service: x.owner, writer })
        else logger.error('address lost to a ring conflict; its user must be renumbered', { networkId, address: x.address, kind: x.kind, owner: x.owner })
      }
      for (const x of r.refused ?? []) {
        disputed.add(networkId)
        init.onRefused?.(x.reason)
        logRepeated(logger, ++refusedCount, 'refused a ring token of another node that would take a range this node owns (only an owner gives its range away)', { networkId, writer, token: x.token })
      }
      if (r.changed) {
        if (writer !== self && tokens.some((t) => t.owner === self)) {
          // space from another node may hold VIPs it did not (an heir's takeover, or a rogue member's "gift")
          holdVips(networkId, clock.now())
          adopt(networkId)
        }
        init.onChange()
        publish(networkId, false)
        notify(networkId)
        maybePrefetch(networkId)
      }
    } catch (err) {
      logger.warn('ignoring invalid ring tokens', { networkId, writer, error: (err as Error).message })
    }
  }

  /**
   * Write again, under this node's own signature, the stored tokens another
   * node wrote that name this node owner and still hold in its ring: a
   * node's entries are reaped some time after it leaves or dies (30 min,
   * 24 h), and a donation it wrote must not go with it, or nodes that join
   * later never learn who owns the block.
   */
  function adopt (networkId: string, stored?: Map<string, RingToken[]>): void {
    const mine = ownedSpans(networkId)
    if (mine.length === 0) return
    for (const [writer, tokens] of stored ?? tokensOf(networkId)) {
      if (writer === self) continue
      for (const t of tokens) {
        if (t.owner !== self) continue
        let lo: bigint
        let hi: bigint
        try { lo = parseAddress(t.start, 'start'); hi = parseAddress(t.end, 'end') } catch { continue }
        if (mine.some((m) => m.version === t.version && m.lo <= lo && hi <= m.hi)) gossip.set('cluster', TABLE_IPAM, tokenKey(networkId, t.start), { ...t })
      }
    }
  }

  /** The ranges this node owns in a network, as numbers. */
  function ownedSpans (networkId: string): Array<{ lo: bigint, hi: bigint, version: number }> {
    return allocator.ownedBy(networkId).owned.map((t) => ({ lo: parseAddress(t.start, 'start'), hi: parseAddress(t.end, 'end'), version: t.version }))
  }

  /** The network's stored tokens, by the node that wrote them. */
  function tokensOf (networkId: string): Map<string, RingToken[]> {
    const out = new Map<string, RingToken[]>()
    for (const e of gossip.entries<unknown>('cluster', TABLE_IPAM)) {
      if (e.deleted || e.status === 'deleted' || !e.key.startsWith(`${networkId}/`) || !isToken(e.value)) continue
      const list = out.get(e.origin)
      if (list === undefined) out.set(e.origin, [e.value])
      else list.push(e.value)
    }
    return out
  }

  function splitKey (key: string): [string, string] | undefined {
    const slash = key.indexOf('/')
    return slash <= 0 || slash === key.length - 1 ? undefined : [key.slice(0, slash), key.slice(slash + 1)]
  }

  function handleUsage (ev: EntryEvent): void {
    const e = ev.entry
    const k = splitKey(e.key)
    if (k === undefined || k[1] === self) return
    const [networkId, node] = k
    const byNode = usage.get(networkId) ?? new Map<string, UsageValue>()
    if (e.deleted || e.status !== 'live') {
      byNode.delete(node)
    } else {
      const c = node === e.origin ? checkUsage(e.value) : { ok: false as const, reason: 'usage: written by another node' }
      if (!c.ok) {
        logger.warn('ignoring malformed address usage', { key: e.key, origin: e.origin, reason: c.reason })
        return
      }
      byNode.set(node, c.value)
    }
    usage.set(networkId, byNode)
    notify(networkId)
  }

  /**
   * A donor's side: give what is free, or say (by republishing usage) that
   * nothing is. Once per request: the same request comes back when its
   * writer is suspended and when it returns, and must not be given twice.
   */
  function serve (req: DonationRequest): void {
    if (!allocator.hasNetwork(req.networkId)) return
    const last = lastServed.get(req.networkId) ?? new Map<string, number>()
    if (last.get(req.requester) === req.atMs) return // (its clock may have gone back since: compare for equality)
    last.set(req.requester, req.atMs)
    lastServed.set(req.networkId, last)
    const tokens = overQuota(req) ? undefined : allocator.donate(req.networkId, req.requester, clock.now(), req.family)
    logger.info('donation request', { networkId: req.networkId, requester: req.requester, donated: tokens?.length ?? 0 })
    const list = served.get(req.networkId) ?? []
    list.push({ tag: servedTag(req.requester, req.atMs), at: clock.now() })
    served.set(req.networkId, list.slice(-SERVED_MAX))
    if (tokens !== undefined) {
      ipam.publishTokens(req.networkId, tokens)
      init.onChange()
      publish(req.networkId, false)
    } else {
      publish(req.networkId, true)
    }
  }

  /** True (and logged) when the requester owns its quota of the network already ({@link DONATION_QUOTA_FAIR_SHARES}). */
  function overQuota (req: DonationRequest): boolean {
    const ring = allocator.ringSpace(req.networkId)
    const owned = ring.owners.find((o) => o.id === req.requester)?.addresses ?? 0
    const alive = Math.max(1, gossip.members().filter((m) => m.state === 'alive').length)
    const quota = Math.max(DONATION_QUOTA_MIN_BLOCKS * BLOCK_ADDRESSES, DONATION_QUOTA_FAIR_SHARES * ring.usable / alive)
    if (owned < quota) return false
    logRepeated(logger, ++quotaRefusals, 'not giving address space to a node that owns its quota of the network already', { networkId: req.networkId, requester: req.requester, owned, quota: Math.floor(quota), alive })
    return true
  }

  /** Forget a deleted network's usage, requests and timers. */
  function forget (networkId: string): void {
    usage.delete(networkId)
    served.delete(networkId)
    lastServed.delete(networkId)
    disputed.delete(networkId)
    coolTimers.get(networkId)?.cancel()
    coolTimers.delete(networkId)
    prefetchDecided.delete(networkId)
    if (published.delete(networkId)) gossip.delete('cluster', TABLE_IPAM_USAGE, usageKey(networkId, self))
    if (requestRefs.delete(networkId)) gossip.delete('cluster', TABLE_IPAM_REQUESTS, requestKey(networkId, self))
    notify(networkId)
  }

  /** Publish own usage of one network if it changed (or `force`: an answer to a request). */
  function publish (networkId: string, force: boolean): void {
    const u = allocator.usage(networkId, clock.now())
    if (u.owned === 0 && !force) {
      if (published.delete(networkId)) gossip.delete('cluster', TABLE_IPAM_USAGE, usageKey(networkId, self))
      return
    }
    // a requester waits for an answer at most deadlineMs: older answers need not be named
    const answers = (served.get(networkId) ?? []).filter((x) => clock.now() - x.at < deadlineMs)
    if (answers.length > 0) served.set(networkId, answers)
    else served.delete(networkId)
    const v = publishedUsage(u, answers.map((x) => x.tag))
    const text = JSON.stringify(v)
    if (force || published.get(networkId) !== text) {
      gossip.set('cluster', TABLE_IPAM_USAGE, usageKey(networkId, self), v)
      published.set(networkId, text)
    }
    const t = coolTimers.get(networkId)
    if (u.nextFreeAt !== undefined && t?.at !== u.nextFreeAt && !stopped) {
      t?.cancel()
      const at = u.nextFreeAt
      coolTimers.set(networkId, { at, cancel: clock.setTimer(Math.max(0, at - clock.now()), () => { coolTimers.delete(networkId); publish(networkId, false) }) })
    }
  }

  function view (networkId: string): SpaceView {
    return spaceView(self, allocator.ringSpace(networkId), allocator.usage(networkId, clock.now()), usage.get(networkId) ?? new Map())
  }

  function isAlive (id: string): boolean {
    return gossip.members().some((m) => m.id === id && m.state === 'alive')
  }

  /** Resolves on the next ring or usage change of the network, after `ms`, or on abort. */
  async function waitForChange (networkId: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    await new Promise<void>((resolve) => {
      let set = waiters.get(networkId)
      if (set === undefined) waiters.set(networkId, set = new Set())
      const done = (): void => {
        cancel()
        waiters.get(networkId)?.delete(done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const cancel = clock.setTimer(Math.max(0, ms), done)
      set.add(done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  /** Ask `donor` for space; the request's time (its tag in the donor's answer, {@link servedTag}). */
  function ask (networkId: string, donor: string, family: 4 | 6 | undefined): number {
    const req: DonationRequest = { networkId, requester: self, donor, atMs: clock.now(), ...(family === undefined ? {} : { family }) }
    logger.info('asking for address space', { networkId, donor, family })
    gossip.set('cluster', TABLE_IPAM_REQUESTS, requestKey(networkId, self), req)
    return req.atMs
  }

  /** Whether `donor`'s usage, as known here, is its answer to this node's request made at `atMs`. */
  function answered (networkId: string, donor: string, atMs: number): boolean {
    return usage.get(networkId)?.get(donor)?.served?.includes(servedTag(self, atMs)) === true
  }

  function release (networkId: string): void {
    const n = (requestRefs.get(networkId) ?? 0) - 1
    if (n > 0) {
      requestRefs.set(networkId, n)
      return
    }
    if (requestRefs.delete(networkId)) gossip.delete('cluster', TABLE_IPAM_REQUESTS, requestKey(networkId, self))
  }

  /**
   * Run `attempt` until it returns a value; while it cannot (no owned free
   * address), ask the owner publishing the most free space, then others,
   * until the network is known full (NetworkFullError), the deadline passes
   * (PoolExhaustedError) or the caller aborts. The request entry is deleted
   * when the last waiting caller is done.
   */
  async function withSpace<T> (networkId: string, attempt: () => T | undefined, signal: AbortSignal | undefined): Promise<T> {
    const deadline = clock.now() + deadlineMs
    const asked = new Map<string, number>()
    let current: string | undefined
    let currentAt = 0
    let holding = false
    try {
      for (;;) {
        signal?.throwIfAborted()
        if (stopped) throw new PoolExhaustedError('network', 'the agent is stopping')
        needFamily = undefined
        const r = attempt()
        const family = needFamily
        if (r !== undefined) return r
        const v = view(networkId)
        const now = clock.now()
        const due = (id: string): number => (asked.get(id) ?? -Infinity) + donationTimeoutMs
        // "full" is believed once the donor asked last has answered (or may no longer): a usage it wrote
        // before it saw the request may count as taken an address it is about to free or hand over
        const pending = current !== undefined && due(current) > now && !answered(networkId, current, currentAt)
        if (v.full && !pending) throw new NetworkFullError(networkId, label(networkId), v)
        if (now >= deadline) {
          const unknown = v.unknown.length > 0 ? `; owners not heard from: ${v.unknown.join(', ')}` : ''
          throw new PoolExhaustedError('network', `this node owns no free address in network ${label(networkId)} and no owner handed over space within ${deadlineMs} ms${unknown}`)
        }
        const candidates = [...v.donors.map((d) => d.id), ...v.unknown.filter(isAlive)]
        // one donor at a time (the request entry names one): wait for the one asked while it may still answer
        const waiting = current !== undefined && candidates.includes(current) && due(current) > now
        const donor = waiting ? undefined : candidates.find((id) => due(id) <= now)
        let wakeAt = pending ? Math.min(deadline, due(current as string)) : deadline
        if (donor !== undefined) {
          if (!holding) requestRefs.set(networkId, (requestRefs.get(networkId) ?? 0) + 1)
          holding = true
          asked.set(donor, now)
          current = donor
          currentAt = ask(networkId, donor, family)
        }
        // wake for the asked donor's timeout, or when a donor asked earlier may be asked again
        for (const id of candidates) if (due(id) > now) wakeAt = Math.min(wakeAt, due(id))
        await waitForChange(networkId, wakeAt - now, signal)
      }
    } finally {
      if (holding) release(networkId)
    }
  }

  /** The family the last allocator call of {@link tryAlloc} lacked space of (a dual-stack network asks donors for that one). */
  let needFamily: 4 | 6 | undefined
  /** Run an allocator call; undefined when this node owns no free address (ask a donor). */
  function tryAlloc<T> (fn: () => T): T | undefined {
    try {
      return fn()
    } catch (err) {
      const name = (err as Error).name
      if (name === 'NeedSpaceError') needFamily = (err as { family?: 4 | 6 }).family
      if (name === 'NeedSpaceError' || name === 'PoolExhaustedError') return undefined
      throw err
    }
  }

  function maybePrefetch (networkId: string): void {
    if (init.prefetch === false || stopped || prefetchDecided.has(networkId) || !allocator.hasNetwork(networkId)) return
    const ring = allocator.ringSpace(networkId)
    if (!ring.complete) return // its tokens have not all arrived yet
    prefetchDecided.add(networkId)
    if (ring.owners.some((o) => o.id === self)) return
    const members = gossip.members().filter((m) => m.state === 'alive').length
    if (ring.usable < Math.max(1, members) * BLOCK_ADDRESSES * PREFETCH_BLOCKS_PER_MEMBER) return
    logger.debug('asking for address space ahead of need', { networkId, members, usable: ring.usable })
    withSpace(networkId, () => (allocator.usage(networkId, clock.now()).free > 0 ? true : undefined), undefined).then(() => {
      init.onChange()
      publish(networkId, false)
    }, (err: unknown) => {
      logger.debug('no address space ahead of need', { networkId, error: (err as Error).message })
    })
  }

  /**
   * Take over the space of ring owners gone (dead, left, or no longer listed)
   * for the allocator's reclaimAfterMs, where this node is the heir (the
   * nearest preceding live owner). Only while this node sees a majority of
   * the members it knows alive: one cut off from most of the cluster would
   * otherwise take everyone's space. Then merge again the tokens of networks where one
   * was refused (an heir's takeover is taken once nothing is held there).
   */
  function reclaimPass (): void {
    const now = clock.now()
    const live = new Set<string>()
    const gone = new Map<string, number>()
    for (const m of gossip.members()) {
      if (isUp(m)) live.add(m.id)
      else if (m.id !== self) gone.set(m.id, m.since)
    }
    // the ring owners not alive, per network, and since when (first noticed here when membership no longer lists them)
    const dead = new Map<string, DeadOwner[]>()
    const deadIds = new Set<string>()
    const revoked = init.revoked?.()
    for (const networkId of allocator.networks()) {
      const list: DeadOwner[] = []
      for (const { id } of allocator.ringSpace(networkId).owners) {
        if (id === self || live.has(id)) continue
        let since = gone.get(id) ?? unlisted.get(id)
        if (since === undefined) unlisted.set(id, since = now)
        // a revoked owner counts as gone since long before the reclaim time
        list.push({ id, deadSinceMs: revoked?.has(id) === true ? -Number.MAX_SAFE_INTEGER : since })
        deadIds.add(id)
      }
      if (list.length > 0) dead.set(networkId, list)
    }
    for (const id of unlisted.keys()) if (!deadIds.has(id) || gone.has(id)) unlisted.delete(id)
    // a majority of the members this node knows must be alive here (a 2-node cluster never reclaims)
    for (const id of gone.keys()) deadIds.add(id)
    if (live.size > deadIds.size) {
      const liveIds = [...live]
      for (const [networkId, owners] of dead) {
        let tokens: RingToken[]
        try {
          tokens = allocator.reclaim(networkId, owners, now, liveIds)
        } catch (err) {
          logger.warn('reclaiming address space failed', { networkId, error: (err as Error).message })
          continue
        }
        if (tokens.length === 0) continue
        const held = holdVips(networkId, now)
        logger.warn('took over the address space of nodes gone for over the reclaim time', { networkId, network: label(networkId), nodes: owners.map((o) => o.id), ranges: tokens.map((t) => `${t.start}-${t.end}`), vipsHeld: held })
        ipam.publishTokens(networkId, tokens)
        init.onChange()
        publish(networkId, false)
        notify(networkId)
      }
    } else if (dead.size > 0) {
      logger.debug('not reclaiming address space: no majority of the known members alive here', { alive: live.size, gone: deadIds.size })
    }
    for (const networkId of [...disputed]) {
      disputed.delete(networkId)
      if (allocator.hasNetwork(networkId)) ipam.syncNetwork(networkId)
    }
  }

  /**
   * Hold the service VIPs that lie in space this node owns and has not
   * allocated (space taken over, or given by a node that did not hold them);
   * how many.
   */
  function holdVips (networkId: string, now: number): number {
    if (init.vipsOf === undefined) return 0
    const owned = ownedSpans(networkId)
    if (owned.length === 0) return 0
    const held = new Set(allocator.allocations(networkId).map((a) => a.address))
    let n = 0
    for (const { ip, service } of init.vipsOf(networkId)) {
      if (held.has(ip)) continue
      let a: bigint
      try { a = parseAddress(ip, 'vip') } catch { continue }
      if (!owned.some((m) => a >= m.lo && a <= m.hi)) continue
      try {
        allocator.allocateSpecific(networkId, ip, 'vip', now, service)
        n++
      } catch (err) {
        logger.warn('cannot hold a service VIP in space this node took over', { networkId, vip: ip, service, error: (err as Error).message })
      }
    }
    return n
  }

  function scheduleReclaim (): void {
    const every = init.reclaimIntervalMs ?? RECLAIM_CHECK_MS
    if (every <= 0 || stopped) return
    reclaimTimer = clock.setTimer(every, () => {
      reclaimTimer = undefined
      reclaimPass()
      scheduleReclaim()
    })
  }

  const ipam: Ipam = {
    allocator,
    handleEntry (ev) {
      const e = ev.entry
      if (e.scope !== 'cluster') return
      if (e.table === TABLE_IPAM_USAGE) {
        handleUsage(ev)
        return
      }
      if (e.table === TABLE_NETWORKS && (e.deleted || e.status === 'deleted')) {
        forget(e.key)
        return
      }
      if (e.deleted) return
      if (e.table === TABLE_IPAM) {
        const slash = e.key.lastIndexOf('/')
        if (slash <= 0) return
        if (!isToken(e.value)) {
          logger.warn('ignoring malformed ring token', { key: e.key, origin: e.origin })
          return
        }
        merge(e.key.slice(0, slash), [e.value], e.origin)
      } else if (e.table === TABLE_IPAM_REQUESTS) {
        const c = checkDonationRequest(e.value, e.origin)
        if (!c.ok) {
          logger.warn('ignoring malformed donation request', { key: e.key, origin: e.origin, reason: c.reason })
          return
        }
        // a suspended request (its writer failed) is not served: nobody would take the space
        if (c.value.donor === self && e.status === 'live') serve(c.value)
      }
    },
    syncNetwork (networkId) {
      const stored = tokensOf(networkId)
      for (const [writer, tokens] of stored) merge(networkId, tokens, writer)
      if (allocator.hasNetwork(networkId)) adopt(networkId, stored)
    },
    publishTokens (networkId, tokens) {
      for (const t of tokens) gossip.set('cluster', TABLE_IPAM, tokenKey(networkId, t.start), { ...t })
    },
    publishUsage () {
      for (const nid of allocator.networks()) publish(nid, false)
    },
    networkLearned (networkId) {
      maybePrefetch(networkId)
    },
    async allocate (networkId, kind, owner, opts = {}) {
      const t0 = clock.now()
      const ip = await withSpace(networkId, () => tryAlloc(() => allocator.allocate(networkId, kind, clock.now(), owner, opts.family)), opts.signal)
      init.onChange()
      publish(networkId, false)
      init.onAllocated?.(clock.now() - t0)
      return ip
    },
    async localTaskAdded (networkId, taskKey, opts = {}) {
      const t0 = clock.now()
      const r = await withSpace(networkId, () => tryAlloc(() => allocator.localTaskAdded(networkId, taskKey, clock.now())), opts.signal)
      init.onChange()
      publish(networkId, false)
      if (r.allocated) init.onAllocated?.(clock.now() - t0)
      return r
    },
    handOver () {
      const live = gossip.members().filter((m) => m.id !== self && isUp(m)).map((m) => m.id)
      for (const networkId of allocator.networks()) {
        const tokens = allocator.handOver(networkId, live)
        if (tokens.length === 0) continue
        logger.info('handed this node\'s address space to its heirs', { networkId, network: label(networkId), ranges: tokens.map((t) => `${t.start}-${t.end} -> ${t.owner}`) })
        ipam.publishTokens(networkId, tokens)
        init.onChange()
        publish(networkId, false)
      }
    },
    stop () {
      stopped = true
      reclaimTimer?.()
      reclaimTimer = undefined
      for (const t of coolTimers.values()) t.cancel()
      coolTimers.clear()
      for (const nid of [...waiters.keys()]) notify(nid)
    }
  }

  scheduleReclaim()
  return ipam
}
