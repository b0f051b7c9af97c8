import test from 'ava'
import { DSR_TABLE_SIZES, dsrSlotTable, dsrTableSize } from '../../../../src/dataplane/lb/dsr-slots.js'

const ips = (n: number): string[] => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}`)
const eq = (list: string[]): Array<{ ip: string, weight: number }> => list.map((ip) => ({ ip, weight: 1 }))
const count = (table: string[]): Record<string, number> => {
  const c: Record<string, number> = {}
  for (const ip of table) c[ip] = (c[ip] ?? 0) + 1
  return c
}

test('DSR slot table: every slot filled, shares within one slot, sizes from the list and never shrinking', (t) => {
  for (const n of [1, 2, 3, 7, 8, 31, 100]) {
    const table = dsrSlotTable(eq(ips(n)))
    t.is(table.length, dsrTableSize(n))
    t.true(DSR_TABLE_SIZES.includes(table.length))
    const shares = Object.values(count(table))
    t.is(shares.length, n)
    t.true(Math.max(...shares) - Math.min(...shares) <= 1, `${n}: ${JSON.stringify(shares)}`)
  }
  t.is(dsrSlotTable([]).length, 0)
  const big = dsrSlotTable(eq(ips(40)))
  t.is(dsrSlotTable(eq(ips(2)), big).length, big.length, 'a table only grows while the service lives')
})

test('DSR slot table: removing a backend moves only its slots; adding one moves only the slots it takes', (t) => {
  const four = dsrSlotTable(eq(ips(4)))
  const three = dsrSlotTable(eq(ips(4).filter((ip) => ip !== '10.0.0.2')), four)
  for (let i = 0; i < four.length; i++) if (four[i] !== '10.0.0.2') t.is(three[i], four[i], `slot ${i}`)
  t.false(three.includes('10.0.0.2'))
  const five = dsrSlotTable(eq([...ips(4), '10.0.0.9']), four)
  const moved = five.filter((ip, i) => ip !== four[i])
  t.true(moved.every((ip) => ip === '10.0.0.9'))
  t.is(moved.length, count(five)['10.0.0.9'])
  t.true(moved.length >= Math.floor(four.length / 5))
  t.deepEqual(dsrSlotTable(eq(ips(4)), four), four, 'the same backends keep the same table')
})

test('DSR slot table: weights give proportional shares; zero weight none', (t) => {
  const c = count(dsrSlotTable([{ ip: '10.0.0.1', weight: 3 }, { ip: '10.0.0.2', weight: 1 }, { ip: '10.0.0.3', weight: 0 }]))
  t.false('10.0.0.3' in c)
  t.is((c['10.0.0.1'] ?? 0) + (c['10.0.0.2'] ?? 0), 61)
  t.true(Math.abs((c['10.0.0.1'] ?? 0) - 3 * 61 / 4) <= 1, JSON.stringify(c))
})
