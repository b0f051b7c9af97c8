import type { Clock } from '@scalelb/gossip'
import type { HostIngress } from '../dataplane/ingress/host.js'
import { RESYNC_INTERVAL_MS } from '../dataplane/reconciler/index.js'
import type { Component } from '../lifecycle.js'
import type { Logger } from '../logging/logger.js'
import type { Controller } from '../state/controller.js'
import { computeIngress, ingressHoldNetworks } from '../state/ingress-desired.js'
import { publishOwners } from '../state/publish.js'
import type { TablesView } from '../state/view.js'
import type { DesiredState } from './desired-state.js'

/** Task id prefix of an ingress hold: an endpoint-only task that keeps a sandbox where no task of a published service runs. */
export const INGRESS_HOLD_PREFIX = 'ingress-hold-'

/** Retry a failed ingress pass after this long (ms). */
const INGRESS_RETRY_MS = 1000

/** Options and components of {@link createIngress}. */
export interface IngressInit {
  view: TablesView
  controller: Controller
  desired: DesiredState
  /** The host programmer; undefined with the memory programmer (holds are still kept). */
  host: HostIngress | undefined
  self: string
  clock: Clock
  logger: Logger
}

/** North-south traffic of this node: ingress holds and the host's published ports. */
export interface Ingress {
  /** Something changed (tables, sandboxes): run a pass soon (passes never overlap). */
  schedule(): void
  /** Published ports this node does not program because a smaller service id owns them (service id -> `port/proto`). */
  losers(): ReadonlyMap<string, string[]>
  readonly component: Component
}

/** The hold task id of a network. */
export function holdTaskId (networkId: string): string {
  return `${INGRESS_HOLD_PREFIX}${networkId.slice(0, 12)}`
}

/** Create the ingress driver. */
export function createIngress (init: IngressInit): Ingress {
  const { view, controller, logger: log } = init
  let running = false
  let again = false
  let stopped = true
  let retry: (() => void) | undefined
  let losers = new Map<string, string[]>()
  let lastLosers = ''
  /** The next pass runs the host's periodic check first (every {@link RESYNC_INTERVAL_MS}). */
  let checkDue = false
  let checkTimer: (() => void) | undefined
  function armCheck (): void {
    checkTimer = init.clock.setTimer(RESYNC_INTERVAL_MS, () => {
      checkDue = true
      schedule()
      if (!stopped) armCheck()
    })
  }

  async function holds (owners: ReturnType<typeof publishOwners>): Promise<void> {
    const want = new Set(ingressHoldNetworks(view.networks(), view.services(), owners.owners))
    const have = new Map<string, string>()
    for (const t of controller.localTasks()) {
      const nid = t.endpoints[0]?.networkId
      if (t.id.startsWith(INGRESS_HOLD_PREFIX) && nid !== undefined) have.set(nid, t.id)
    }
    for (const nid of want) {
      if (have.has(nid)) continue
      await controller.addTask({ id: holdTaskId(nid), networks: [nid] })
      log.info('ingress hold added: this node keeps a sandbox for published ports', { networkId: nid })
    }
    for (const [nid, id] of have) {
      if (want.has(nid)) continue
      await controller.removeTask(id)
      log.info('ingress hold removed', { networkId: nid })
    }
  }

  async function pass (): Promise<void> {
    if (checkDue) {
      checkDue = false
      const drift = await init.host?.check() ?? []
      if (drift.length > 0) log.warn('north-south state changed behind the agent\'s back; writing it again', { drift })
    }
    const owners = publishOwners(view.services())
    await holds(owners)
    // after the sandboxes' change, but at the reconciler's pace: this pass follows every table event, and
    // forcing the change out now would cost a kernel transaction per event instead of one per window
    await init.desired.flush({ now: false })
    const spec = computeIngress({ self: init.self, networks: view.networks(), services: view.services(), endpoints: (id) => view.endpoints(id), sandboxes: init.desired.last(), owners })
    losers = spec.losers
    const text = JSON.stringify([...losers])
    if (text !== lastLosers && losers.size > 0) log.warn('ports published by two services: the smallest service id keeps each', { losers: Object.fromEntries(losers) })
    lastLosers = text
    await init.host?.apply(spec)
  }

  function schedule (): void {
    if (stopped) return
    if (running) {
      again = true
      return
    }
    running = true
    again = false
    queueMicrotask(() => {
      pass().then(() => {
        running = false
        if (again) schedule()
      }, (err: unknown) => {
        running = false
        if (stopped) return
        log.warn('ingress pass failed; retrying', { error: (err as Error).message })
        retry ??= init.clock.setTimer(INGRESS_RETRY_MS, () => { retry = undefined; schedule() })
      })
    })
  }

  init.host?.onStale(schedule)
  return {
    schedule,
    losers: () => losers,
    component: {
      name: 'ingress',
      start () {
        stopped = false
        schedule()
        if (init.host !== undefined) armCheck()
      },
      async leave () {
        stopped = true
        checkTimer?.()
        await init.host?.teardown()
      },
      stop () {
        stopped = true
        retry?.()
        retry = undefined
        checkTimer?.()
        checkTimer = undefined
      }
    }
  }
}
