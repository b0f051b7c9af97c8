import test from 'ava'
import { pack } from 'msgpackr'
import { claimOf, ScopeIndex } from '../../src/tables/scope-index.js'
import type { Rec } from '../../src/tables/record.js'
import type { ScopeName } from '../../src/types.js'

/*
 * A `scopes` value keeps the claim made from it (every replica of a version
 * shares that value object in the simulator): hidden, so the value still
 * encodes, compares and clones as the list it is.
 */

const rec = (value: unknown, lamport: number): Rec => ({ table: 'scopes', key: 'A', origin: 'A', leaf: 0, li: 0, value, lamport, seq: 1, deleted: false, deadAt: undefined, vt: 0, size: 0, sig: undefined })

test('the claim of a scopes value is made once per value and kept out of sight', (t) => {
  const value = ['network:n1', 'network:n2', 'cluster', 7]
  const bytes = pack(value)
  const c = claimOf(rec(value, 5))
  t.deepEqual(c?.list, ['network:n1', 'network:n2'])
  t.true(c?.scopes.has('network:n2'))
  t.is(claimOf(rec(value, 5)), c, 'one claim per value')
  t.deepEqual(Buffer.from(pack(value)), Buffer.from(bytes), 'encoded as before')
  t.deepEqual(value, ['network:n1', 'network:n2', 'cluster', 7])
  t.deepEqual(Object.keys(value), ['0', '1', '2', '3'])
  t.deepEqual(JSON.parse(JSON.stringify(value)), value)
  t.is(structuredClone(value).length, 4)
  // the same value under another Lamport time (a record not of this version) gets a claim of its own
  const other = claimOf(rec(value, 6))
  t.is(other?.lamport, 6)
  t.not(other, c)
  t.is(claimOf(rec(value, 5)), c)
  // a frozen value (never the case in the tables) still gets its claim, made each time
  const frozen = Object.freeze(['network:n3'])
  t.deepEqual(claimOf(rec(frozen, 1))?.list, ['network:n3'])
})

test('a scope index follows claim changes, by scope number and, past the numbers\' bound, by name', (t) => {
  const store = new Map<string, Rec>()
  const idx = new ScopeIndex(() => ({ get: (n) => store.get(n), all: () => store.values() }))
  let lamport = 1
  const put = (node: string, scopes: string[]): void => {
    const before = store.get(node)
    const after = { ...rec(scopes, lamport++), key: node, origin: node }
    store.set(node, after)
    idx.set(node, before, after)
  }
  const members = (s: string): string[] => [...(idx.members(s as ScopeName) ?? [])]
  put('A', ['network:n1', 'network:n2'])
  t.deepEqual(members('network:n1'), ['A'])
  put('B', ['network:n1'])
  t.deepEqual(members('network:n1'), ['A', 'B'])
  put('A', ['network:n2'])
  t.deepEqual(members('network:n1'), ['B'])
  t.deepEqual(members('network:n2'), ['A'])
  put('C', ['network:n3'])
  t.deepEqual(members('network:n3'), ['C'])
  // a member listing made-up names fills the table of numbers: later names are followed by name
  claimOf(rec(Array.from({ length: 70_000 }, (_, i) => `network:x${i}`), 1))
  put('D', ['network:late', 'network:n1'])
  t.deepEqual(members('network:late'), ['D'])
  t.deepEqual(members('network:n1'), ['B', 'D'])
  put('E', ['network:late'])
  put('D', [])
  t.deepEqual(members('network:late'), ['E'])
  t.deepEqual(members('network:n1'), ['B'])
})
