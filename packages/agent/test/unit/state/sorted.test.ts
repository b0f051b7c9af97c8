import test from 'ava'
import { createSeededRng } from '@scalelb/gossip'
import { findSorted, updateOutputs, updateSortedOutputs } from '../../../src/state/sorted.js'

interface Out { id: string, v: number }
const key = (o: Out): string => `${o.id}|`
const idKey = (id: string): string => `${id}|`

test('updateSortedOutputs (outputs found by binary search) gives the lists and object identities of updateOutputs (outputs in a map)', (t) => {
  const rng = createSeededRng(3)
  const values = new Map<string, number>()
  const outputs = new Map<string, Out>()
  let withMap: Out[] = []
  let sorted: Out[] = []
  const build = (prev: Out | undefined, id: string): Out | undefined => {
    const v = values.get(id)
    if (v === undefined) return undefined
    return prev !== undefined && prev.v === v ? prev : { id, v }
  }
  for (let step = 0; step < 400; step++) {
    // a few changes, sometimes many (the rebuild-by-sorting path)
    const n = rng.next() < 0.2 ? 60 + Math.floor(rng.next() * 200) : 1 + Math.floor(rng.next() * 5)
    const ids = new Set<string>()
    for (let i = 0; i < n; i++) {
      const id = `10.0.${Math.floor(rng.next() * 4)}.${Math.floor(rng.next() * 120)}`
      ids.add(id)
      const r = rng.next()
      if (r < 0.3) values.delete(id)
      else if (r < 0.6 || !values.has(id)) values.set(id, Math.floor(rng.next() * 3))
    }
    const before = sorted
    withMap = updateOutputs(ids, outputs, withMap, (id) => build(outputs.get(id), id), key, idKey)
    sorted = updateSortedOutputs(ids, sorted, (id) => build(findSorted(sorted, key, idKey(id)), id), key, idKey)
    t.is(sorted.length, withMap.length, `step ${step}`)
    for (let i = 0; i < sorted.length; i++) {
      const a = sorted[i] as Out
      const b = withMap[i] as Out
      if (a.id !== b.id || a.v !== b.v) return t.fail(`step ${step}: index ${i}: ${a.id}=${a.v} vs ${b.id}=${b.v}`)
      const old = findSorted(before, key, key(a))
      if (old !== undefined && old.v === a.v && old !== a) return t.fail(`step ${step}: an unchanged output got a new object`)
    }
  }
  t.pass()
})

test('updateSortedOutputs returns the same list when nothing changed', (t) => {
  const list = [{ id: 'a', v: 1 }, { id: 'b', v: 2 }]
  t.is(updateSortedOutputs(['a', 'b'], list, (id) => findSorted(list, key, idKey(id)), key, idKey), list)
})
