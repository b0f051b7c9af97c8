import test from 'ava'
import { Net } from '../support/tables-harness.js'

const C = 'cluster'
const N = 'network:n1'

/**
 * a and b in network n1, c only in the cluster; join syncs run at 0 and the first periodic sync is not spread
 * (staggerSyncs false), so periodic ones are due at 2000, 4000, ...
 */
function setup (): Net {
  const net = new Net(['a', 'b', 'c'], 5, { syncWindowMs: 500, staggerSyncs: false })
  for (const id of ['a', 'b']) net.get(id).joinScope(0, N)
  for (let i = 0; i < 3; i++) net.gossip(1 << 20)
  net.tick(0)
  return net
}

test('a periodic sync hash rides on a packet to a live scope member from 250 ms before its due time; the cadence stays', t => {
  const net = setup()
  const a = net.get('a')
  t.deepEqual(a.syncHashesFor(1749, 'b'), [], 'not before the window')
  t.deepEqual(a.syncHashesFor(1800, 'c').map((h) => h.scope), [C], 'c is not in n1')
  t.deepEqual(a.syncHashesFor(1810, 'b').map((h) => h.scope), [N], 'the cluster hash went to c')
  t.deepEqual(a.syncHashesFor(1820, 'b'), [], 'one hash per scope per interval')
  t.deepEqual(a.tick(2250, ['a', 'b', 'c']).syncs, [], 'nothing left to send alone')
  // the next ones are due at 4000 (not 1800 + 2000)
  t.deepEqual(a.syncHashesFor(3700, 'b'), [])
  t.deepEqual(a.syncHashesFor(3750, 'b').map((h) => h.scope).sort(), [C, N])
})

test('a periodic sync no packet took by 250 ms after its due time goes alone; the differs answer is taken from its peer only', t => {
  const net = setup()
  const a = net.get('a')
  t.deepEqual(a.tick(2249, ['a', 'b', 'c']).syncs, [])
  const syncs = a.tick(2250, ['a', 'b', 'c']).syncs
  t.deepEqual(syncs.map((s) => [s.req.scope, s.periodic]).sort(), [[C, true], [N, true]])
  const n = syncs.find((s) => s.req.scope === N)
  t.is(n?.to, 'b')
  const hashed = a.syncHashesFor(2300, 'b')
  t.deepEqual(hashed, [], 'sent alone, so not again on a packet')
  t.truthy(a.handleSyncDiffers(2400, 'b', N), 'b may answer "differs"')
  t.is(a.handleSyncDiffers(2400, 'c', C) === undefined, syncs.find((s) => s.req.scope === C)?.to !== 'c')
})

test('without a window (the default) every periodic sync goes alone when due', t => {
  const net = new Net(['a', 'b'], 6, { staggerSyncs: false })
  net.tick(0)
  const a = net.get('a')
  t.deepEqual(a.syncHashesFor(1999, 'b'), [])
  t.deepEqual(a.tick(2000, ['a', 'b']).syncs.map((s) => s.periodic), [true])
})
