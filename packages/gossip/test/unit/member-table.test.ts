import test from 'ava'
import type { MemberSnapshot } from '../../src/codec/messages.js'
import { MemberIndex, MemberTable, type Rec } from '../../src/membership/member-table.js'
import { ProbeOrder } from '../../src/membership/probe-order.js'
import { createSeededRng } from '../../src/rng.js'

test('ProbeOrder: every round is a permutation of [0, n), a different one each round', t => {
  const rng = createSeededRng(3)
  const o = new ProbeOrder()
  for (const n of [1, 2, 3, 4, 5, 17, 64, 65, 1000, 4097]) {
    const rounds: string[] = []
    for (let r = 0; r < 3; r++) {
      o.reset(n, rng)
      const seen = new Uint8Array(n)
      const order: number[] = []
      for (let i = 0; i < n; i++) {
        const x = o.at(i)
        t.true(x >= 0 && x < n, `n=${n}: ${x} in range`)
        seen[x]!++
        order.push(x)
      }
      t.true(seen.every(c => c === 1), `n=${n}: each index once`)
      rounds.push(order.join())
    }
    if (n > 3) t.true(new Set(rounds).size > 1, `n=${n}: rounds differ`)
  }
})

const snaps = (ids: string[]): MemberSnapshot[] => ids.map(id => ({ id, addrs: [`mem://${id}`], state: 'alive', inc: 0, restarting: false }))

/** What a table holds, as `id:state:inc` sorted. */
const contents = (tb: MemberTable): string => tb.filter(() => true).map(r => `${r.id}:${r.state}:${r.inc}`).sort().join()

test('MemberTable: tables seeded from one list share it; each change stays in its own table (copy on write), also past the private-copy threshold', t => {
  const ids = Array.from({ length: 40 }, (_, i) => `n${i}`)
  const list = snaps(ids)
  const index = new MemberIndex()
  const a = new MemberTable(index, createSeededRng(1))
  const b = new MemberTable(index, createSeededRng(2))
  // the slow twin: a table filled one record at a time, always private
  const ref = new MemberTable(index, createSeededRng(3))
  t.true(a.adoptSeed(index.seedBase(list, 0), 'n0'))
  t.true(b.adoptSeed(index.seedBase(list, 0), 'n1'))
  for (const s of list) if (s.id !== 'n0') ref.addShared(index.seedRec(s, 0))
  t.is(a.count, 39)
  t.is(a.get('n0'), undefined, 'a table never holds its own node')
  t.is(b.get('n1'), undefined)
  t.is(a.get('n5'), b.get('n5'), 'seeded records are shared')
  t.is(contents(a), contents(ref))

  const rng = createSeededRng(9)
  for (let step = 0; step < 200; step++) {
    const id = ids[1 + Math.floor(rng.next() * 39)] as string
    const op = rng.next()
    for (const tb of [a, ref]) {
      const r = tb.get(id)
      if (op < 0.5 && r !== undefined) {
        const m = tb.mutable(r)
        tb.setState(m, m.state === 'alive' ? 'suspect' : 'alive')
        m.inc++
      } else if (op < 0.75 && r !== undefined) {
        tb.remove(r)
      } else if (r === undefined) {
        tb.add(id, { addrs: [], state: 'dead', inc: 7, since: 0, restarting: false, restartUntil: 0, signed: undefined })
      }
    }
    t.is(contents(a), contents(ref), `step ${step}`)
    t.is(a.count, ref.count)
    t.deepEqual(a.byState, ref.byState)
  }
  t.is(b.count, 39)
  t.true(b.filter(r => r.state !== 'alive' || r.inc !== 0).length === 0, 'b still sees every member alive at incarnation 0')
})

test('MemberTable: nextProbe visits every eligible member once per round, none when nobody is eligible', t => {
  const index = new MemberIndex()
  const tb = new MemberTable(index, createSeededRng(5))
  tb.adoptSeed(index.seedBase(snaps(['self', 'a', 'b', 'c', 'd', 'e']), 0), 'self')
  const d = tb.mutable(tb.get('d') as Rec)
  tb.setState(d, 'dead')
  const eligible = (r: Rec): boolean => r.state === 'alive'
  for (let round = 0; round < 3; round++) {
    const got = [0, 1, 2, 3].map(() => tb.nextProbe(eligible)?.id)
    t.deepEqual([...got].sort(), ['a', 'b', 'c', 'e'], `round ${round}`)
  }
  t.is(tb.nextProbe(() => false), undefined)
})
