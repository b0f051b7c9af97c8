/**
 * The agent's lifecycle, in the js-libp2p `Startable` manner: a list of
 * components started in order and stopped in reverse. Each component says
 * what it does at each step; the agent only lists them (`agent.ts`).
 */

/** Why the agent stops: `restart` keeps kernel state and cluster entries, `leave` removes them. */
export type StopReason = 'restart' | 'leave'

/** One part of the agent that runs. Every hook is optional. */
export interface Component {
  /** Name in logs and errors. */
  readonly name: string
  /** Before any component starts (subscribe to events that must not be missed). */
  beforeStart?(): void
  start?(): void | Promise<void>
  /** After every component started. */
  afterStart?(): void
  /**
   * Leaving for good, first step, run in reverse order before any `stop`
   * (withdraw own entries, flush, say goodbye to the cluster).
   */
  leave?(): void | Promise<void>
  /**
   * Stop; safe to call twice and on a component whose `start` failed or did
   * not run (a failed start stops every component it began, in reverse).
   */
  stop?(reason: StopReason): void | Promise<void>
}

/** Where a {@link Lifecycle} is. */
export type LifecycleState = 'new' | 'running' | 'stopped'

/** Runs a list of components. */
export interface Lifecycle {
  /** Start every component in order; on a failure stop those begun (in reverse) and throw. Runs once. */
  start(): Promise<void>
  /** Stop every component in reverse order (for a restart). No-op unless running. */
  stop(): Promise<void>
  /** Run the `leave` hooks in reverse order, then stop every component with reason `leave`. Runs once. */
  leave(): Promise<void>
  state(): LifecycleState
}

/** Create the lifecycle of `components` (in start order). */
export function createLifecycle (components: readonly Component[]): Lifecycle {
  let state: LifecycleState = 'new'
  let leaving: Promise<void> | undefined

  async function stopAll (list: readonly Component[], reason: StopReason): Promise<void> {
    for (const c of [...list].reverse()) await c.stop?.(reason)
  }

  return {
    async start () {
      if (state !== 'new') return
      state = 'running'
      const begun: Component[] = []
      try {
        for (const c of components) {
          if (c.beforeStart !== undefined) begun.push(c)
          c.beforeStart?.()
        }
        for (const c of components) {
          if (!begun.includes(c)) begun.push(c)
          await c.start?.()
        }
        for (const c of components) c.afterStart?.()
      } catch (err) {
        state = 'stopped'
        // in component order, so the reverse stop undoes the start
        await stopAll(components.filter((c) => begun.includes(c)), 'restart')
        throw err
      }
    },
    async stop () {
      if (state !== 'running') return
      state = 'stopped'
      await stopAll(components, 'restart')
    },
    async leave () {
      leaving ??= (async () => {
        if (state !== 'running') return
        state = 'stopped'
        for (const c of [...components].reverse()) await c.leave?.()
        await stopAll(components, 'leave')
      })()
      await leaving
    },
    state: () => state
  }
}
