import { packedSize } from '../codec/codec.js'
import { MAX_NAMES } from './constants.js'
import { KeySlots } from './dense-keys.js'
import { Names } from './names.js'
import type { Rec } from './record.js'
import type { WireEntry } from './types.js'

/**
 * Lets the replicas of one process hold one record per version instead of a
 * copy each: the simulator runs thousands of nodes in one process and hands
 * them the same message objects, so every replica of a version gets the same
 * value object, and the record first made with that value can be found from
 * it. A receiver that accepts an entry stores that record itself when it is
 * the version it would have made (same fields, same signature kept, not a
 * tombstone: a tombstone's local time differs per node). Records never
 * change once stored, so sharing them changes nothing a node does. Real
 * nodes decode their input and have nothing to share: only the simulator
 * passes one.
 */
export class RecordShare {
  private readonly byValue = new WeakMap<object, Rec>()
  /**
   * One copy of table names and origins for all the replicas (each would
   * otherwise keep a map of every origin: an entry per (node, member) pair).
   */
  readonly names = new Names(MAX_NAMES)
  /**
   * Numbers of the cluster scope's `scopes` keys (node IDs) for all the
   * replicas, which hold those records in an array by that number (DenseKeys)
   * instead of a map entry each: a record per (node, member) pair.
   */
  readonly scopeKeys = new KeySlots(MAX_NAMES)

  /**
   * Encoded sizes of the shared values (packedSize), which every message
   * carrying one would otherwise walk again: the simulator counts the bytes
   * of each message (frameSize's `known`).
   */
  readonly sizes = new WeakMap<object, number>()

  /** A record was made (values that are not objects are not shared). */
  made (r: Rec): void {
    if (r.deleted || typeof r.value !== 'object' || r.value === null) return
    this.byValue.set(r.value, r)
    if (!this.sizes.has(r.value)) this.sizes.set(r.value, packedSize(r.value))
  }

  /**
   * The record made with `w`'s value, if a receiver can hold it as the
   * version it would make from `w` with this origin string and kept
   * signature.
   */
  recordOf (w: WireEntry, origin: string, sig: Uint8Array | undefined): Rec | undefined {
    const v = w[6]
    if (w[5] === 1 || typeof v !== 'object' || v === null) return undefined
    const r = this.byValue.get(v)
    if (r === undefined || r.deleted || r.table !== w[0] || r.key !== w[1] || r.origin !== origin || r.lamport !== w[3] || r.seq !== w[4] || r.sig !== sig) return undefined
    return r
  }
}
