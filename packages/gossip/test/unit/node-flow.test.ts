import test from 'ava'
import { Mesh } from '../support/mesh.js'

const value = (i: number): Record<string, unknown> => ({ kind: 'task', ip: `10.0.0.${i}`, pad: 'x'.repeat(100) })

test('table flow counters: writes, entries learned by push, entries put into packets', t => {
  const m = new Mesh(['a', 'b', 'c'], 'flow-push', true)
  m.run(m.now + 5_000)
  const a = m.get('a')
  const before = [...m.nodes.values()].map((n) => n.stats().flow)
  for (let i = 0; i < 3; i++) a.set(m.now, 'cluster', 'eps', `k${i}`, value(i))
  a.delete(m.now, 'cluster', 'eps', 'k0')
  m.wake.set('a', a.nextWake())
  m.run(m.now + 5_000)
  const after = [...m.nodes.values()].map((n) => n.stats().flow)
  t.is((after[0]?.written ?? 0) - (before[0]?.written ?? 0), 4)
  t.true((after[0]?.writtenBytes ?? 0) - (before[0]?.writtenBytes ?? 0) > 3 * 100)
  t.true((after[0]?.broadcastsSent ?? 0) > (before[0]?.broadcastsSent ?? 0))
  for (const i of [1, 2]) {
    const pushed = (after[i]?.learnedPush ?? 0) - (before[i]?.learnedPush ?? 0)
    t.true(pushed >= 3 && pushed <= 4, `node ${i}: 3 keys, k0 written then deleted (its write may be superseded in the queue), ${pushed}`)
    t.is((after[i]?.learnedSync ?? 0) - (before[i]?.learnedSync ?? 0), 0)
  }
  t.is(after[0]?.broadcastsQueued, 0)
})

test('entries learned by anti-entropy are counted apart from those learned by push', t => {
  const m = new Mesh(['a', 'b', 'c'], 'flow-sync', true)
  m.run(m.now + 5_000)
  // every packet carrying table broadcasts is lost: only anti-entropy (sync answers, push-backs) can spread the write
  m.drop = (_from, msg) => msg.t !== 'push' && msg.tb !== undefined
  const a = m.get('a')
  const b0 = m.get('b').stats().flow
  a.set(m.now, 'cluster', 'eps', 'k', value(1))
  m.wake.set('a', a.nextWake())
  m.run(m.now + 30_000)
  t.truthy(m.get('b').tables.get('cluster', 'eps', 'k'))
  const b1 = m.get('b').stats().flow
  t.is(b1.learnedSync - b0.learnedSync, 1)
  t.is(b1.learnedPush - b0.learnedPush, 0)
})
