import test from 'ava'
import { DenseKeys, KeySlots } from '../../src/tables/dense-keys.js'
import { ScopeStore } from '../../src/tables/store.js'
import { createSeededRng } from '../../src/rng.js'

/*
 * The simulator's nodes hold the cluster scope's `scopes` records (one per
 * node, on every node) in an array by the keys' shared numbers instead of a
 * map entry each: the store must behave exactly as with a map.
 */

test('a store holding one table in an array by shared key numbers answers as one holding it in a map', (t) => {
  const r = createSeededRng(4)
  const keys = new KeySlots(50)
  const dense = new ScopeStore(false, { table: 'scopes', keys })
  const plain = new ScopeStore(false)
  const other = new ScopeStore(false, { table: 'scopes', keys })
  let lamport = 1
  for (let i = 0; i < 4000; i++) {
    // 60 keys for 50 numbers: the last ones go in the map beside the array
    const table = r.next() < 0.8 ? 'scopes' : 'svc'
    const key = `node-${Math.floor(r.next() * 60)}`
    const v = { value: [`network:n${i % 7}`], origin: key, lamport: lamport++, seq: i, deleted: false, deadAt: 0 }
    const drop = r.next() < 0.3
    for (const s of [dense, plain, other]) {
      const cur = s.get(table, key)
      if (cur === undefined) s.insert(table, key, v)
      else if (drop) s.remove(cur)
      else s.replace(cur, v)
    }
    t.is(dense.get(table, key)?.lamport, plain.get(table, key)?.lamport)
  }
  t.is(dense.count, plain.count)
  const sorted = (s: ScopeStore, table?: string): string[] => [...s.all(table)].map((x) => `${x.table}/${x.key}@${x.lamport}`).sort()
  t.deepEqual(sorted(dense, 'scopes'), sorted(plain, 'scopes'))
  t.deepEqual(sorted(dense), sorted(plain))
  t.deepEqual([...dense.lanes], [...plain.lanes])
  for (const x of plain.all()) t.true(dense.holds(dense.get(x.table, x.key)!) && !dense.holds(x))
  // listed per digest leaf as the map's store lists them, the numbered keys' records from the shared numbers
  const leafOf = (s: ScopeStore, l: number): string[] => [...(s.leaf(l) ?? [])].map((x) => `${x.table}/${x.key}@${x.lamport}`).sort()
  for (let l = 0; l < 256; l++) t.deepEqual(leafOf(dense, l), leafOf(plain, l))
  t.deepEqual([...dense.fineLanes()], [...plain.fineLanes()])
  // ... so those records take no slot in the store's own leaf arrays (8 bytes a record per store)
  const arrays = (s: ScopeStore): Array<unknown[] | undefined> => {
    const inner = s as unknown as { leaves?: Array<unknown[] | undefined>, leavesMap?: Map<number, unknown[]> }
    return inner.leaves ?? [...(inner.leavesMap?.values() ?? [])]
  }
  const slotsOf = (s: ScopeStore): number => arrays(s).reduce((n, a) => n + (a?.length ?? 0), 0)
  t.is(slotsOf(plain), plain.count)
  t.is(slotsOf(dense), [...dense.all()].filter((x) => x.table !== 'scopes' || keys.find(x.key) === undefined).length)
  // two stores share the numbers, not the records
  t.deepEqual(sorted(other), sorted(plain))
})

test('dense keys: numbers are shared and bounded; an unnumbered key lives in a map; deletes free the slot', (t) => {
  const keys = new KeySlots(2)
  t.is(keys.slot('a', 3), 0)
  t.is(keys.slot('b', 3), 1)
  t.is(keys.slot('c', 3), undefined)
  t.deepEqual(keys.inLeaf(3), [0, 1])
  t.is(keys.find('a'), 0)
  const m = new DenseKeys(keys)
  const rec = (k: string): Parameters<DenseKeys['set']>[1] => ({ table: 't', key: k, leaf: 0, li: 0, value: 1, origin: k, lamport: 1, seq: 1, deleted: false, deadAt: undefined, vt: 0, size: 0, sig: undefined })
  m.set('b', rec('b')).set('c', rec('c'))
  t.is(m.size, 2)
  t.is(m.get('b')?.key, 'b')
  t.is(m.get('c')?.key, 'c')
  t.is(m.get('a'), undefined)
  t.deepEqual([...m.values()].map((x) => x.key), ['b', 'c'])
  t.true(m.delete('b'))
  t.false(m.delete('b'))
  t.false(m.delete('zzz'))
  t.is(m.size, 1)
  t.is(keys.find('zzz'), undefined, 'a lookup assigns no number')
})

test('dense keys: a store keeps a one-byte index into the records of a key that all stores share; past the shared list\'s bound, a map', (t) => {
  const keys = new KeySlots(10)
  const a = new DenseKeys(keys)
  const b = new DenseKeys(keys)
  const rec = (k: string, lamport: number): Parameters<DenseKeys['set']>[1] => ({ table: 't', key: k, leaf: 1, li: 0, value: 1, origin: k, lamport, seq: 1, deleted: false, deadAt: undefined, vt: 0, size: 0, sig: undefined })
  const inner = (m: DenseKeys): { idx: Uint8Array, over: Map<number, unknown> | undefined } => m as unknown as { idx: Uint8Array, over: Map<number, unknown> | undefined }
  const r1 = rec('x', 1)
  a.set('x', r1)
  b.set('x', r1)
  t.is(a.get('x'), r1)
  t.is(b.get('x'), r1)
  t.is(inner(a).idx[0], 1)
  t.is(inner(b).idx[0], 1, 'the same record, the same shared index')
  t.is(inner(a).idx.byteLength, 1, 'one byte per key number')
  // every store's own records (tombstones are not shared) fill the key's list; then they go in a map
  const made: Array<ReturnType<typeof rec>> = []
  for (let i = 2; i < 60; i++) {
    const r = rec('x', i)
    made.push(r)
    a.set('x', r)
    t.is(a.get('x'), r)
  }
  t.is(inner(a).idx[0], 0)
  t.is(inner(a).over?.size, 1)
  t.is(a.size, 1)
  t.deepEqual([...a.values()], [made[made.length - 1]])
  // back to a record with an index: out of the map
  a.set('x', r1)
  t.is(a.get('x'), r1)
  t.is(inner(a).over?.size, 0)
  t.true(a.delete('x'))
  t.is(a.get('x'), undefined)
  t.is(a.size, 0)
  t.is(b.get('x'), r1, 'another store\'s record is its own')
})


test('a store lists its records per leaf from a map while few leaves hold records, from an array past that, and back to none', (t) => {
  const store = new ScopeStore(false)
  const inner = store as unknown as { leaves?: unknown[], leavesMap?: Map<number, unknown[]> }
  const v = (i: number): Parameters<ScopeStore['insert']>[2] => ({ value: i, origin: 'A', lamport: i + 1, seq: i + 1, deleted: false, deadAt: 0 })
  const byLeaf = (): string[] => {
    const out: string[] = []
    for (let l = 0; l < 256; l++) for (const r of store.leaf(l) ?? []) out.push(`${l}:${r.key}`)
    return out.sort()
  }
  const expected = (): string[] => [...store.all()].map((r) => `${r.leaf}:${r.key}`).sort()
  for (let i = 0; i < 20; i++) store.insert('t', `k${i}`, v(i))
  t.true(inner.leavesMap !== undefined && inner.leaves === undefined, 'few leaves: a map')
  t.deepEqual(byLeaf(), expected())
  for (let i = 20; i < 2000; i++) store.insert('t', `k${i}`, v(i))
  t.true(inner.leavesMap === undefined && inner.leaves !== undefined, 'many: the array')
  t.deepEqual(byLeaf(), expected())
  for (let i = 0; i < 2000; i += 2) store.remove(store.get('t', `k${i}`)!)
  t.deepEqual(byLeaf(), expected())
  for (let i = 1; i < 2000; i += 2) store.remove(store.get('t', `k${i}`)!)
  t.deepEqual(byLeaf(), [])
  t.deepEqual(store.digest(), [])
})
