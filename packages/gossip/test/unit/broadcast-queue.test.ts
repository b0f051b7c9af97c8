import test from 'ava'
import { MemberBroadcastQueue } from '../../src/membership/broadcast-queue.js'

test('least-transmitted first, newer update replaces the queued one, dropped after the limit', t => {
  const q = new MemberBroadcastQueue()
  q.push({ k: 'alive', id: 'a', inc: 1 })
  q.push({ k: 'alive', id: 'b', inc: 1 })
  t.deepEqual(q.take(1000, 3).map(u => u.id).sort(), ['a', 'b'])
  q.push({ k: 'suspect', id: 'a', inc: 1, from: 'x' })
  // the replacement starts at zero transmits, so it goes first and alone when the budget is tight
  t.deepEqual(q.take(30, 3), [{ k: 'suspect', id: 'a', inc: 1, from: 'x' }])
  // a: 1 transmit (the replacement), b: 1 -> both reach the limit of 3 together
  t.deepEqual(q.take(1000, 3).map(u => u.id).sort(), ['a', 'b'])
  t.deepEqual(q.take(1000, 3).map(u => u.id).sort(), ['a', 'b'])
  t.deepEqual(q.take(1000, 3), [])
  t.is(q.size, 0)
})

test('a forced first item (buddy ping) is carried once and not duplicated', t => {
  const q = new MemberBroadcastQueue()
  q.push({ k: 'suspect', id: 's', inc: 2, from: 'x' })
  q.push({ k: 'alive', id: 'b', inc: 1 })
  const out = q.take(1000, 5, { k: 'suspect', id: 's', inc: 2, from: 'me' })
  t.deepEqual(out.map(u => `${u.k}:${u.id}:${u.from ?? ''}`), ['suspect:s:me', 'alive:b:'])
})

test('updates about ourselves (refutations) go before a backlog of others', t => {
  const q = new MemberBroadcastQueue('me')
  for (let i = 0; i < 100; i++) q.push({ k: 'alive', id: `n${i}`, inc: 0 })
  q.push({ k: 'alive', id: 'me', inc: 7 })
  for (let i = 100; i < 200; i++) q.push({ k: 'alive', id: `n${i}`, inc: 0 })
  const first = q.take(200, 10)
  t.deepEqual(first[0], { k: 'alive', id: 'me', inc: 7 })
  t.true(first.length > 1)
})
