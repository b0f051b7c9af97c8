import type { RemoteEndpointSpec } from '../dataplane/spec/types.js'
import { lowerBound } from './sorted.js'

/** Up to this many changes an update splices them in; above, one merge pass (a 100k-remote list copied by pushes costs ~8 ms, bench:desired). */
const SPLICE_MAX_CHANGES = 32

/** Keys of the live endpoints with one IP: the key itself (nearly always one), or a Set when several. */
export type IpKeys = string | Set<string>

function keysAdd (cur: IpKeys | undefined, key: string): IpKeys {
  if (cur === undefined || cur === key) return key
  if (typeof cur === 'string') return new Set([cur, key])
  return cur.add(key)
}

function keysDelete (cur: IpKeys | undefined, key: string): IpKeys | undefined {
  if (cur === undefined || cur === key) return undefined
  if (typeof cur === 'string') return cur
  cur.delete(key)
  return cur.size === 1 ? cur.values().next().value as string : cur
}

function keysMerge (a: IpKeys | undefined, b: IpKeys | undefined): IpKeys | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  let out: IpKeys = a
  for (const k of typeof b === 'string' ? [b] : b) out = keysAdd(out, k)
  return out
}

/** Sort key of a remote spec in its list (the list's order: by `ip|`). */
export function remoteListKey (r: RemoteEndpointSpec): string {
  return `${r.ip}|`
}

/** Index of the spec of `ip` in `list` (sorted by {@link remoteListKey}), or -1. */
function indexOfIp (list: readonly RemoteEndpointSpec[], ip: string): number {
  const i = lowerBound(list, remoteListKey, `${ip}|`)
  return i < list.length && (list[i] as RemoteEndpointSpec).ip === ip ? i : -1
}

/**
 * The remote endpoints of one network by IP, kept inside the sorted list of
 * their specs (the overlay's `remotes`): `keys[i]` holds the keys of the
 * endpoints with `list[i].ip`, so a remote costs a slot in an array, where a
 * map by IP beside the list cost ~37 bytes per remote (3.5 MiB at 100k,
 * bench:memory). Only an IP with no spec in the list (its node's underlay
 * unknown or of the other family, or not computed yet) is held in
 * {@link unplaced}, a map.
 *
 * `list` is handed out (copy-on-write: an update makes a new array when
 * the specs change, never mutates one handed out); `keys` is internal.
 */
export class RemoteIndex {
  /** Specs sorted by {@link remoteListKey}: the overlay's remotes. */
  list: RemoteEndpointSpec[] = []
  /** Keys of `list[i]`'s IP (undefined once its last endpoint went, until the next update). */
  private keys: Array<IpKeys | undefined> = []
  /** Keys of IPs with no spec in `list`. */
  private readonly unplaced = new Map<string, IpKeys>()

  /** A live endpoint of another node, `key` with `ip`, appeared. */
  add (ip: string, key: string): void {
    const i = indexOfIp(this.list, ip)
    if (i >= 0) this.keys[i] = keysAdd(this.keys[i], key)
    else this.unplaced.set(ip, keysAdd(this.unplaced.get(ip), key))
  }

  /** A live endpoint of another node, `key` with `ip`, went away. */
  delete (ip: string, key: string): void {
    const i = indexOfIp(this.list, ip)
    if (i >= 0) this.keys[i] = keysDelete(this.keys[i], key)
    const u = keysDelete(this.unplaced.get(ip), key)
    if (u === undefined) this.unplaced.delete(ip)
    else this.unplaced.set(ip, u)
  }

  /** Every IP with a live endpoint (or a spec not updated since its last endpoint went). */
  ips (): Set<string> {
    const out = new Set<string>()
    for (const r of this.list) out.add(r.ip)
    for (const ip of this.unplaced.keys()) out.add(ip)
    return out
  }

  /** The spec of `ip` in the list. */
  spec (ip: string): RemoteEndpointSpec | undefined {
    const i = indexOfIp(this.list, ip)
    return i < 0 ? undefined : this.list[i]
  }

  /** Drop every spec (the keys stay): the next update of all {@link ips} rebuilds the list. */
  clearList (): void {
    for (let i = 0; i < this.list.length; i++) {
      const k = this.keys[i]
      if (k === undefined) continue
      const ip = (this.list[i] as RemoteEndpointSpec).ip
      this.unplaced.set(ip, keysMerge(this.unplaced.get(ip), k) as IpKeys)
    }
    this.list = []
    this.keys = []
  }

  /**
   * Rebuild the specs of `ips`: `build(ip, keys, prev)` returns the spec of
   * the endpoints `keys` (`prev` itself when it is unchanged), or undefined
   * when none is usable. `list` becomes a new array when a spec changed.
   */
  update (ips: Iterable<string>, build: (ip: string, keys: IpKeys | undefined, prev: RemoteEndpointSpec | undefined) => RemoteEndpointSpec | undefined): void {
    const changes: Array<[string, RemoteEndpointSpec | undefined, IpKeys | undefined]> = []
    for (const ip of ips) {
      const i = indexOfIp(this.list, ip)
      const prev = i < 0 ? undefined : this.list[i]
      const keys = keysMerge(i < 0 ? undefined : this.keys[i], this.unplaced.get(ip))
      const next = build(ip, keys, prev)
      if (next === undefined && keys !== undefined) this.unplaced.set(ip, keys)
      else this.unplaced.delete(ip)
      if (next !== undefined && next === prev) {
        this.keys[i] = keys
        continue
      }
      if (next === undefined && prev === undefined) continue
      changes.push([`${ip}|`, next, next === undefined ? undefined : keys])
    }
    if (changes.length === 0) return
    if (changes.length <= SPLICE_MAX_CHANGES) {
      // a few changes: copy the list (copy-on-write) and splice each in; the keys are internal, spliced in place
      const list = this.list.slice()
      for (const [k, spec, ks] of changes) {
        const i = lowerBound(list, remoteListKey, k)
        const found = i < list.length && remoteListKey(list[i] as RemoteEndpointSpec) === k
        if (spec === undefined) {
          if (found) {
            list.splice(i, 1)
            this.keys.splice(i, 1)
          }
        } else if (found) {
          list[i] = spec
          this.keys[i] = ks
        } else {
          list.splice(i, 0, spec)
          this.keys.splice(i, 0, ks)
        }
      }
      this.list = list
      return
    }
    changes.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
    // one merge pass over the list and the sorted changes (ips are unique: one change per key)
    const list: RemoteEndpointSpec[] = []
    const keys: Array<IpKeys | undefined> = []
    let j = 0
    for (const [k, spec, ks] of changes) {
      while (j < this.list.length && remoteListKey(this.list[j] as RemoteEndpointSpec) < k) {
        list.push(this.list[j] as RemoteEndpointSpec)
        keys.push(this.keys[j])
        j++
      }
      if (j < this.list.length && remoteListKey(this.list[j] as RemoteEndpointSpec) === k) j++
      if (spec !== undefined) {
        list.push(spec)
        keys.push(ks)
      }
    }
    for (; j < this.list.length; j++) {
      list.push(this.list[j] as RemoteEndpointSpec)
      keys.push(this.keys[j])
    }
    // arrays of their exact length (push leaves room for ~2x)
    this.list = list.slice()
    this.keys = keys.slice()
  }

  /** @internal Entries of the map of IPs without a spec (tests: a placed remote costs no map entry). */
  unplacedCount (): number {
    return this.unplaced.size
  }
}
