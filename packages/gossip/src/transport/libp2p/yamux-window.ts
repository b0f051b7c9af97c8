import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

/** The fields of a yamux 8 stream that decide a window update (private in its types). */
interface WindowFields {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
}

let batched = false

/**
 * yamux 8 (@chainsafe/libp2p-yamux) answers every data frame it receives
 * with a window-update frame, so every gossip datagram (a ping, an ack, a
 * sync hash) costs two encrypted frames and two socket writes, one each way:
 * 12 % of an idle agent's CPU in a profile. Other yamux implementations
 * (go-yamux, rust yamux) send the update only once less than half of the
 * receive window is left; this makes this process's yamux streams do the
 * same. The sender's window never runs dry while half of it is left, and
 * the first frame of a stream (SYN/ACK flags) and a stream resumed after a
 * pause go through the library's own code as before. Installed once per
 * process by the libp2p transport; a library whose stream lacks these
 * fields is left as it is.
 */
export function batchYamuxWindowUpdates (): boolean {
  if (batched) return true
  const proto = YamuxStream.prototype as unknown as { sendWindowUpdate?: unknown }
  const original = proto.sendWindowUpdate
  if (typeof original !== 'function') return false
  batched = true
  proto.sendWindowUpdate = function (this: WindowFields) {
    if (this.state === StreamState.Established && typeof this.recvWindowCapacity === 'number' && typeof this.recvWindow === 'number' &&
      this.recvWindowCapacity * 2 >= this.recvWindow) return
    original.call(this)
  }
  return true
}
