import { StringDecoder } from 'node:string_decoder'
import type { Clock } from '@scalelb/gossip'
import type { Logger } from '../logging/logger.js'
import { MAX_EVENT_LINE_BYTES, RECONNECT_MAX_MS, RECONNECT_MIN_MS } from './constants.js'
import { DockerEngineError } from './errors.js'
import type { DockerEngine } from './engine.js'

/** One Docker Engine event, the fields the agent reads. */
export interface DockerEvent {
  Type: string
  Action: string
  Actor: { ID: string, Attributes: Record<string, string> }
}

/**
 * Splits dockerd's event stream (one JSON object per line; chunks cut
 * anywhere, also inside a UTF-8 character) into lines. Pure.
 */
export interface LineSplitter {
  /** Feed a chunk; answers the lines it completed. Throws {@link DockerEngineError} past the line limit. */
  push(chunk: Buffer): string[]
}

export function createLineSplitter (maxLineBytes = MAX_EVENT_LINE_BYTES): LineSplitter {
  const decoder = new StringDecoder('utf8')
  let partial = ''
  return {
    push (chunk) {
      const text = partial + decoder.write(chunk)
      const parts = text.split('\n')
      partial = parts.pop() ?? ''
      if (Buffer.byteLength(partial) > maxLineBytes) throw new DockerEngineError(`event line longer than ${maxLineBytes} bytes`)
      return parts.map((l) => l.trim()).filter((l) => l !== '')
    }
  }
}

/** Parse one event line; undefined (with the reason) when it is not an event the agent can read. */
export function parseEvent (line: string): { event: DockerEvent } | { error: string } {
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch (err) {
    return { error: `not JSON: ${(err as Error).message}` }
  }
  if (v === null || typeof v !== 'object') return { error: 'not an object' }
  const o = v as Record<string, unknown>
  const actor = o.Actor as Record<string, unknown> | undefined
  if (typeof o.Type !== 'string' || typeof o.Action !== 'string' || actor === undefined || actor === null || typeof actor.ID !== 'string') return { error: 'no Type, Action or Actor.ID' }
  const attrs: Record<string, string> = {}
  if (actor.Attributes !== null && typeof actor.Attributes === 'object') {
    for (const [k, x] of Object.entries(actor.Attributes as Record<string, unknown>)) if (typeof x === 'string') attrs[k] = x
  }
  return { event: { Type: o.Type, Action: o.Action, Actor: { ID: actor.ID, Attributes: attrs } } }
}

/** Options of {@link createEventFollower}. */
export interface EventFollowerInit {
  engine: DockerEngine
  clock: Clock
  logger: Logger
  /** The event filters (`{type: ['container'], event: ['start', ...]}`). */
  filters: Record<string, string[]>
  /**
   * Called each time the stream is (re)opened, before its events are
   * handled: read the full state (events missed while disconnected are lost).
   */
  resync: (signal: AbortSignal) => Promise<void>
  /** Called for every event, in stream order (the next waits for it). */
  onEvent: (e: DockerEvent) => Promise<void>
  /** Backoff bounds. @default RECONNECT_MIN_MS, RECONNECT_MAX_MS */
  reconnectMinMs?: number
  reconnectMaxMs?: number
}

/** Follows dockerd's events: connect, resync, handle events in order; reconnect with backoff when the stream ends or breaks. */
export interface EventFollower {
  start(): void
  /** Safe to call twice. */
  stop(): Promise<void>
  /** Times the stream was opened and the resync done (tests, status). */
  connections(): number
  connected(): boolean
}

export function createEventFollower (init: EventFollowerInit): EventFollower {
  const { engine, clock, logger } = init
  const minMs = init.reconnectMinMs ?? RECONNECT_MIN_MS
  const maxMs = init.reconnectMaxMs ?? RECONNECT_MAX_MS
  let abort: AbortController | undefined
  let cancelTimer: (() => void) | undefined
  let loop: Promise<void> | undefined
  let opened = 0
  let isConnected = false

  /** One connection: open, resync, then handle events until the stream ends. */
  async function session (signal: AbortSignal): Promise<void> {
    const splitter = createLineSplitter()
    // events are queued from the moment the stream opens and handled after the resync, so none falls between
    const queue: DockerEvent[] = []
    let wake: (() => void) | undefined
    let broken: Error | undefined
    const { ended } = await engine.events(init.filters, (chunk) => {
      try {
        for (const line of splitter.push(chunk)) {
          const p = parseEvent(line)
          if ('error' in p) logger.warn('unreadable Docker event skipped', { error: p.error })
          else queue.push(p.event)
        }
      } catch (err) {
        broken = err as Error
      }
      wake?.()
    }, { signal })
    let done = false
    signal.addEventListener('abort', () => { wake?.() }, { once: true })
    ended.then(() => { done = true; wake?.() }, (err: unknown) => { broken ??= err as Error; done = true; wake?.() })
    await init.resync(signal)
    opened++
    isConnected = true
    logger.info('following Docker events', { connection: opened })
    for (;;) {
      while (queue.length > 0) {
        if (signal.aborted) return
        await init.onEvent(queue.shift() as DockerEvent)
      }
      if (broken !== undefined) throw broken
      if (done || signal.aborted) return
      await new Promise<void>((resolve) => { wake = resolve })
      wake = undefined
    }
  }

  async function run (signal: AbortSignal): Promise<void> {
    let delay = minMs
    while (!signal.aborted) {
      try {
        await session(signal)
        if (!signal.aborted) logger.warn('Docker event stream ended; reconnecting', { retryInMs: delay })
      } catch (err) {
        if (signal.aborted) return
        logger.warn('Docker events unavailable; retrying', { error: (err as Error).message, retryInMs: delay })
      }
      if (isConnected) delay = minMs
      isConnected = false
      if (signal.aborted) return
      await new Promise<void>((resolve) => {
        cancelTimer = clock.setTimer(delay, resolve)
        signal.addEventListener('abort', () => { resolve() }, { once: true })
      })
      cancelTimer = undefined
      delay = Math.min(delay * 2, maxMs)
    }
  }

  return {
    start () {
      if (abort !== undefined) return
      abort = new AbortController()
      loop = run(abort.signal)
    },
    async stop () {
      const a = abort
      if (a === undefined) return
      abort = undefined
      a.abort()
      cancelTimer?.()
      await loop
      isConnected = false
    },
    connections: () => opened,
    connected: () => isConnected
  }
}
