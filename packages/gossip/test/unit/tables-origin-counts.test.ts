import test from 'ava'
import { OriginCounts, ScopeStore } from '../../src/tables/store.js'

/*
 * A claim change asks whether any network scope the node holds has records of
 * the claim's node: one lookup in counts summed over the node's network
 * scopes, kept through inserts, replaces, removes and dropped scopes.
 */

test('records per origin summed over several stores: kept through insert, replace, remove and a dropped store', (t) => {
  const sum = new OriginCounts()
  const a = new ScopeStore(sum)
  const b = new ScopeStore(sum)
  const v = (origin: string, lamport: number): Parameters<ScopeStore['insert']>[2] => ({ value: { x: lamport }, origin, lamport, seq: lamport, deleted: false, deadAt: 0 })
  const x1 = a.insert('t', 'k1', v('x', 1))
  b.insert('t', 'k1', v('x', 2))
  t.true(sum.has('x') && a.mayHold('x') && b.mayHold('x'))
  // a replace by another origin moves the count
  a.replace(x1, v('y', 3))
  t.true(sum.has('x') && sum.has('y') && !a.mayHold('x'))
  a.remove(a.get('t', 'k1')!)
  t.false(sum.has('y'))
  t.true(sum.has('x'))
  // a dropped store takes its records out of the sum
  b.unsum()
  t.false(sum.has('x'))
  // a store counting only its own origins adds nothing to a sum
  const c = new ScopeStore(true)
  c.insert('t', 'k', v('z', 4))
  t.true(c.mayHold('z'))
  t.false(sum.has('z'))
})
