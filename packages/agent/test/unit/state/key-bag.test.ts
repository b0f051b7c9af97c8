import test from 'ava'
import { createSeededRng } from '@scalelb/gossip'
import { bagAdd, bagDelete, KEY_BAG_ARRAY_MAX, type KeyBag } from '../../../src/state/key-bag.js'

test('a key bag holds what a Set holds through random adds and removes, as an array while small and a Set when large', (t) => {
  const rng = createSeededRng(16)
  let bag: KeyBag | undefined
  const ref = new Set<string>()
  let sawArray = false
  let sawSet = false
  for (let step = 0; step < 20_000; step++) {
    // drift the size up and down across the array/Set limit
    const phase = Math.floor(step / 2000) % 2 === 0 ? 0.7 : 0.3
    const key = `k${Math.floor(rng.next() * 3 * KEY_BAG_ARRAY_MAX)}`
    if (rng.next() < phase) {
      bag = bagAdd(bag, key)
      ref.add(key)
    } else {
      bag = bagDelete(bag, key)
      ref.delete(key)
    }
    if (ref.size === 0) {
      t.is(bag, undefined, `step ${step}: an empty bag is undefined`)
      continue
    }
    if (bag === undefined) return t.fail(`step ${step}: bag gone while ${ref.size} keys remain`)
    const keys = [...bag]
    t.is(keys.length, ref.size, `step ${step}: no duplicates`)
    if (!keys.every((k) => ref.has(k))) return t.fail(`step ${step}: ${keys.join(',')} != ${[...ref].join(',')}`)
    if (Array.isArray(bag)) {
      sawArray = true
      t.true(bag.length <= KEY_BAG_ARRAY_MAX)
    } else sawSet = true
  }
  t.true(sawArray && sawSet, 'both forms were used')
})

test('removing a key a bag does not hold changes nothing', (t) => {
  const bag = bagAdd(bagAdd(undefined, 'a'), 'b')
  t.deepEqual(bagDelete(bag, 'c'), ['a', 'b'])
  t.is(bagDelete(undefined, 'a'), undefined)
  t.deepEqual(bagAdd(bag, 'a'), ['a', 'b'], 'adding a held key again keeps one copy')
})
