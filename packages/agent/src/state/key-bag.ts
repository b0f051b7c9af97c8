/**
 * A set of strings kept as an array while small and as a Set above
 * {@link KEY_BAG_ARRAY_MAX}: the task keys of one service in the
 * incremental desired state. Most services have a few tasks, and 10 keys
 * cost ~18 bytes each in an array where a Map of them cost ~54
 * (bench:memory, 10k services x 10 tasks); a large service keeps O(1) adds
 * and removes.
 */
export type KeyBag = string[] | Set<string>

/** Above this many keys a bag is a Set (an array's remove is a linear scan). */
export const KEY_BAG_ARRAY_MAX = 32

/** `bag` with `key` added: a new array (of the exact length) unless `bag` is a Set. */
export function bagAdd (bag: KeyBag | undefined, key: string): KeyBag {
  if (bag === undefined) return [key]
  if (bag instanceof Set) return bag.add(key)
  if (bag.includes(key)) return bag
  if (bag.length < KEY_BAG_ARRAY_MAX) {
    // a new array of the exact length: push grows an array of 10 keys to room for 19 (72 bytes more per
    // service at 10k services x 10 tasks, bench:memory); a bag has at most KEY_BAG_ARRAY_MAX keys to copy
    const out = new Array<string>(bag.length + 1)
    for (let i = 0; i < bag.length; i++) out[i] = bag[i] as string
    out[bag.length] = key
    return out
  }
  return new Set([...bag, key])
}

/** `bag` without `key`; undefined when it is then empty. */
export function bagDelete (bag: KeyBag | undefined, key: string): KeyBag | undefined {
  if (bag === undefined) return undefined
  if (bag instanceof Set) {
    bag.delete(key)
    if (bag.size === 0) return undefined
    // back to an array only well below the limit, so a bag at the edge does not flip on every change
    return bag.size <= KEY_BAG_ARRAY_MAX / 2 ? [...bag] : bag
  }
  const i = bag.indexOf(key)
  if (i < 0) return bag.length === 0 ? undefined : bag
  const last = bag.pop() as string
  if (i < bag.length) bag[i] = last
  return bag.length === 0 ? undefined : bag
}
