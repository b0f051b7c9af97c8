import test from 'ava'
import { pack } from 'msgpackr'
import { compactValue } from '../../src/tables/compact-value.js'

test('a received object of more than 4 fields is rebuilt with the same keys in the same order and the same field values: it encodes the same', (t) => {
  const sig = new Uint8Array([1, 2, 3])
  const ports = [{ proto: 'tcp', port: 80 }]
  const v: Record<string, unknown> = {}
  for (const [k, x] of [['kind', 'task'], ['service', 's1'], ['ip', '10.0.0.1'], ['mac', '02:42:0a:00:00:01'], ['node', 'A'], ['state', 'ready'], ['originMs', 1], ['ports', ports], ['bytes', sig], ['ok', true], ['none', null], ['a "quoted" \\ key', 2.5]] as const) v[k] = x
  const c = compactValue(v) as Record<string, unknown>
  t.not(c, v)
  t.is(Object.getPrototypeOf(c), Object.prototype)
  t.deepEqual(Object.keys(c), Object.keys(v))
  for (const k of Object.keys(v)) t.is(c[k], v[k], `field ${k} is the same value, not a copy`)
  t.deepEqual(pack(c), pack(v))
  // a second value of that shape takes the same path
  const w = { ...v, ip: '10.0.0.2' }
  t.deepEqual(pack(compactValue(w)), pack(w))
})

test('values a rebuild would not make smaller or could change are kept as they are: small objects, arrays, index or __proto__ keys, non-plain objects', (t) => {
  const small = { a: 1, b: 2, c: 3, d: 4 }
  const indexed = { 0: 'x', a: 1, b: 2, c: 3, d: 4 }
  const proto = JSON.parse('{"__proto__": 1, "a": 1, "b": 2, "c": 3, "d": 4}') as object
  const arr = [1, 2, 3, 4, 5, 6]
  const bytes = new Uint8Array(8)
  for (const x of [small, indexed, proto, arr, bytes, 'text', 5, null, undefined]) t.is(compactValue(x), x)
  t.deepEqual(Object.keys(proto), ['__proto__', 'a', 'b', 'c', 'd'])
})
