import test from 'ava'
import { pack } from 'msgpackr'
import { Names, shareOrigin } from '../../src/tables/names.js'

test('names: one copy per name up to the bound, then strings are kept as they came; a forgotten name frees its place', (t) => {
  const n = new Names(2)
  t.is(n.get('endpoints'), 'endpoints')
  t.is(n.get('node-a'), 'node-a')
  t.is(n.get('endpoints'), 'endpoints')
  t.is(n.size, 2)
  t.is(n.get('node-b'), 'node-b')
  t.is(n.size, 2, 'past the bound: not kept')
  n.forget('node-a')
  n.get('node-b')
  t.is(n.size, 2)
})

test('shareOrigin rewrites only top-level fields equal to the origin, and the value encodes to the same bytes', (t) => {
  const v = { kind: 'task', node: 'node-a', ip: '10.0.0.1', nested: { node: 'node-a' }, list: ['node-a'] }
  const before = pack(v)
  shareOrigin(v, 'node-a')
  t.deepEqual(pack(v), before)
  t.deepEqual(v, { kind: 'task', node: 'node-a', ip: '10.0.0.1', nested: { node: 'node-a' }, list: ['node-a'] })
  // not plain objects: left alone, no throw
  for (const x of [null, 'node-a', 3, ['node-a'], new Uint8Array(2)]) t.notThrows(() => { shareOrigin(x, 'node-a') })
})
