import test from 'ava'
import { MinHeap } from '../../src/min-heap.js'
import { createSeededRng } from '../../src/rng.js'

test('pops in (time, insertion order) like a stable sort, under random pushes and pops', t => {
  const rng = createSeededRng('min-heap')
  const heap = new MinHeap<number>()
  // the obviously-right twin: a list kept sorted by (time, insertion order)
  let oracle: Array<{ time: number, item: number }> = []
  for (let step = 0; step < 5000; step++) {
    if (rng.next() < 0.6) {
      // few distinct times, so ties are common
      const time = Math.floor(rng.next() * 20)
      heap.push(time, step)
      oracle.push({ time, item: step })
      oracle = oracle.sort((a, b) => a.time - b.time || a.item - b.item)
    } else {
      const want = oracle.shift()
      t.is(heap.peekTime(), want?.time ?? Infinity)
      t.is(heap.peek(), want?.item)
      t.is(heap.pop(), want?.item)
    }
    t.is(heap.size, oracle.length)
  }
})

test('an empty heap peeks Infinity and pops undefined', t => {
  const heap = new MinHeap<string>()
  t.is(heap.peekTime(), Infinity)
  t.is(heap.peek(), undefined)
  t.is(heap.pop(), undefined)
  heap.push(5, 'a')
  t.is(heap.pop(), 'a')
  t.is(heap.size, 0)
  t.is(heap.pop(), undefined)
})
