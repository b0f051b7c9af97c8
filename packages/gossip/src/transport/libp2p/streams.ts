import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { withTimeout } from '../../clock.js'
import { MAX_ADDR_LENGTH } from '../../constants.js'
import type { Clock } from '../../types.js'
import { BadFrameError, InboundLimitError, InvalidPeerAddressError, RequestFailedError, RequestTimeoutError } from './errors.js'
import { chunksOf, encodeFrame, FrameDecoder } from './frames.js'

/** Parse a NodeId (PeerId string); throws InvalidPeerAddressError. */
export function parseNodeId (id: string): PeerId {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ADDR_LENGTH) throw new InvalidPeerAddressError(String(id), 'not a peer id string')
  try {
    return peerIdFromString(id)
  } catch (err) {
    throw new InvalidPeerAddressError(id, `not a peer id: ${err instanceof Error ? err.message : String(err)}`)
  }
}

/** Parse a dialable multiaddr string, with or without /p2p/<id>; throws InvalidPeerAddressError. */
export function parsePeerAddr (addr: string): Multiaddr {
  if (typeof addr !== 'string' || addr.length === 0 || addr.length > MAX_ADDR_LENGTH) throw new InvalidPeerAddressError(String(addr), `expected a multiaddr string of 1..${MAX_ADDR_LENGTH} characters`)
  let ma: Multiaddr
  try {
    ma = multiaddr(addr)
  } catch (err) {
    throw new InvalidPeerAddressError(addr, `not a multiaddr: ${err instanceof Error ? err.message : String(err)}`)
  }
  const comps = ma.getComponents()
  if (!comps.some(c => c.name === 'tcp')) throw new InvalidPeerAddressError(addr, 'no /tcp/<port> part (only TCP is supported)')
  const p2p = comps.filter(c => c.name === 'p2p')
  if (p2p.length > 1) throw new InvalidPeerAddressError(addr, 'more than one /p2p/ part')
  if (p2p[0]?.value !== undefined) parseNodeId(p2p[0].value)
  return ma
}

/**
 * Read exactly one length-prefixed frame of at most `maxBytes` from a stream,
 * buffering only what arrives, each allocation asked of `budget` first.
 * Rejects with BadFrameError (oversize, malformed, eof), InboundLimitError
 * (the budget said no) or the signal's reason.
 */
export async function readOneFrame (stream: Stream, maxBytes: number, signal: AbortSignal, budget?: (delta: number) => boolean): Promise<Uint8Array> {
  const decoder = new FrameDecoder(maxBytes, budget)
  let resolve!: (v: Uint8Array) => void
  let reject!: (e: Error) => void
  const promise = new Promise<Uint8Array>((res, rej) => { resolve = res; reject = rej })
  const onMessage = (evt: { data: Uint8Array | Iterable<Uint8Array> }): void => {
    for (const chunk of chunksOf(evt.data)) {
      for (const ev of decoder.push(chunk)) {
        if (ev.kind === 'frame') { resolve(ev.frame); return }
        if (ev.kind === 'oversize') { reject(new BadFrameError('oversize', `frame of ${ev.length} bytes exceeds ${maxBytes}`)); return }
        if (ev.kind === 'limit') { reject(new InboundLimitError('buffer-limit', `no room to buffer a frame of ${ev.length} bytes`)); return }
        reject(new BadFrameError('malformed', 'bad length prefix'))
        return
      }
    }
  }
  const onClose = (): void => { reject(new BadFrameError('eof', 'stream closed before a complete frame')) }
  const onEnd = (): void => { reject(new BadFrameError('eof', 'remote closed before a complete frame')) }
  const onAbort = (): void => { reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')) }
  if (signal.aborted) onAbort()
  stream.addEventListener('message', onMessage)
  stream.addEventListener('close', onClose)
  stream.addEventListener('end', onEnd)
  signal.addEventListener('abort', onAbort)
  try {
    return await promise
  } finally {
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('close', onClose)
    stream.removeEventListener('end', onEnd)
    signal.removeEventListener('abort', onAbort)
    decoder.release()
  }
}

/** Options of requestOverStream. */
export interface RequestOptions {
  /** Clock of the deadline. */
  clock: Clock
  timeoutMs: number
  maxResponseBytes: number
  signal?: AbortSignal
}

/**
 * One request/response exchange on a new stream of `protocol`: write the
 * request frame, close the write side, read one response frame. Rejects with
 * RequestTimeoutError after `timeoutMs`, RequestFailedError if the remote
 * resets, BadFrameError for a bad response.
 */
export async function requestOverStream (conn: Connection, peer: string, protocol: string, body: Uint8Array, opts: RequestOptions): Promise<Uint8Array> {
  return await withTimeout(opts.clock, opts.timeoutMs, opts.signal, async (signal, timeout) => {
    let stream: Stream | undefined
    try {
      stream = await conn.newStream(protocol, { signal })
      stream.send(encodeFrame(body))
      await stream.close({ signal })
      return await readOneFrame(stream, opts.maxResponseBytes, signal)
    } catch (err) {
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      if (timeout.aborted) throw new RequestTimeoutError(peer, opts.timeoutMs)
      if (err instanceof BadFrameError && err.reason === 'eof') throw new RequestFailedError(peer, 'the peer closed the stream without answering')
      if (err instanceof Error && (err.name === 'StreamResetError' || err.name === 'StreamAbortedError')) throw new RequestFailedError(peer, err.message)
      // a stream may reject with a bare event (e.g. the remote reset it while we wrote): callers get an Error
      if (err instanceof Event) throw new RequestFailedError(peer, `stream ${err.type}${'error' in err && err.error instanceof Error ? `: ${err.error.message}` : ''}`)
      throw err
    }
  })
}
