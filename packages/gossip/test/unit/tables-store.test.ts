import test from 'ava'
import { DIGEST_LEAVES } from '../../src/tables/constants.js'
import { leafOf } from '../../src/tables/hash.js'
import type { Rec } from '../../src/tables/record.js'
import { ScopeStore } from '../../src/tables/store.js'

/** xorshift32: a fixed sequence of operations. */
function rng (seed: number): () => number {
  let x = seed
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

test('store: each record reads back its fields, its leaf and its place in the leaf (a hint kept right through swap-removes), and `deleted` exactly for tombstones, over random inserts, replaces and removes', (t) => {
  const store = new ScopeStore()
  const ref = new Map<string, Rec>()
  const r = rng(7)
  for (let step = 0; step < 20_000; step++) {
    const key = `k${Math.floor(r() * 3000)}`
    const cur = store.get('t', key)
    const op = r()
    const deleted = r() < 0.2
    const v = { value: deleted ? undefined : { n: step }, origin: `o${step % 7}`, lamport: step + 1, seq: step + 1, deleted, deadAt: 1_000_000 + step }
    if (cur === undefined) ref.set(key, store.insert('t', key, v))
    else if (op < 0.3) {
      t.true(store.remove(cur))
      ref.delete(key)
    } else ref.set(key, store.replace(cur, v))
  }
  t.is(store.count, ref.size)
  for (const [key, rec] of ref) {
    t.is(store.get('t', key), rec)
    t.is(rec.table, 't')
    t.is(rec.key, key)
    t.is(rec.leaf, leafOf('t', key, DIGEST_LEAVES))
    t.is(store.leaf(rec.leaf)?.[rec.li], rec)
    t.is(rec.deleted, rec.deadAt !== undefined)
    if (rec.deleted) {
      t.is(rec.value, undefined)
      t.is(rec.vt, 0)
      t.true((rec.deadAt as number) >= 1_000_000)
    } else t.is(typeof rec.vt, 'number')
  }
  let listed = 0
  for (let l = 0; l < DIGEST_LEAVES; l++) listed += store.leaf(l)?.length ?? 0
  t.is(listed, ref.size)
})
