import { KEPT_BYTES_SLAB_BYTES } from './constants.js'

/**
 * Copies of short byte strings kept for long (entry signatures), packed into
 * small shared slabs. A signature decoded from a frame is a view of the
 * frame's buffer, so storing it as it is kept the whole frame alive for as
 * long as the record lived: every byte a node received in a signed cluster
 * (3,000 signed endpoints written on one node, relayed to another in
 * 1,400-byte packets: 186 bytes of frames kept per stored signature, 64
 * with the copies), up to a whole sync response (8 MiB) for one signature
 * learned by sync. A copy of its own costs an
 * ArrayBuffer and its backing store per signature (~250 bytes); a slab
 * shares those among {@link KEPT_BYTES_SLAB_BYTES} / 64 signatures and pins
 * at most one slab per live signature.
 */
let slab = new Uint8Array(0)
let used = 0

/** A copy of `b` that holds no other buffer alive (in a slab when small). */
export function keptCopy (b: Uint8Array): Uint8Array {
  const n = b.byteLength
  if (n > KEPT_BYTES_SLAB_BYTES / 4) return b.slice()
  if (used + n > slab.byteLength) {
    slab = new Uint8Array(KEPT_BYTES_SLAB_BYTES)
    used = 0
  }
  const out = slab.subarray(used, used + n)
  out.set(b)
  used += n
  return out
}
