/**
 * Summarise a V8 heap snapshot (e.g. from `npm run bench:memory --
 * --heap-snapshot-dir D`): total self size, by node type, the largest
 * constructors / kinds, and the string values held most often (copies of
 * one value that a shared string would save). Self sizes only, no retained
 * sizes. Snapshots up to a few hundred MB (the file is parsed whole).
 *
 * Run: node --import tsx packages/agent/bench/heap-summary.ts FILE.heapsnapshot [--top 25]
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { intFlag, printTable, round } from './common.js'

/** The parts of the .heapsnapshot JSON read here. */
interface Snapshot {
  snapshot: { meta: { node_fields: string[], node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

const MIB = 1024 * 1024
const STRING_TYPES = new Set(['string', 'sliced string', 'concatenated string'])

/** Add `size` to `key`'s [count, bytes]. */
function bump (m: Map<string, [number, number]>, key: string, size: number): void {
  const r = m.get(key)
  if (r === undefined) m.set(key, [1, size])
  else { r[0]++; r[1] += size }
}

function top (m: Map<string, [number, number]>, n: number): Array<[string, number, number]> {
  return [...m].sort((a, b) => b[1][1] - a[1][1]).slice(0, n).map(([k, [c, s]]) => [k, c, s])
}

const { values, positionals } = parseArgs({ options: { top: { type: 'string' } }, allowPositionals: true, strict: true })
const file = positionals[0]
if (file === undefined) {
  console.error('usage: heap-summary.ts FILE.heapsnapshot [--top N]')
  process.exit(2)
}
const n = intFlag('top', values.top, 25, 1, 1000)
const snap = JSON.parse(await readFile(file, 'utf8')) as Snapshot
const fields = snap.snapshot.meta.node_fields
const types = snap.snapshot.meta.node_types[0]
const [iType, iName, iSize] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')]
const byType = new Map<string, [number, number]>()
const byName = new Map<string, [number, number]>()
const byValue = new Map<string, [number, number]>()
let total = 0
for (let i = 0; i < snap.nodes.length; i += fields.length) {
  const type = types[snap.nodes[i + iType] as number] as string
  const size = snap.nodes[i + iSize] as number
  const name = snap.strings[snap.nodes[i + iName] as number] as string
  total += size
  bump(byType, type, size)
  if (STRING_TYPES.has(type)) {
    bump(byName, type, size)
    if (type === 'string') bump(byValue, name.slice(0, 60), size)
  } else {
    bump(byName, `${type}: ${name.slice(0, 60)}`, size)
  }
}
console.log(`${file}: ${round(total / MIB)} MiB self size`)
printTable([['node type', 'count', 'MiB'], ...top(byType, n).map(([k, c, s]) => [k, c, round(s / MIB)])])
console.log('')
printTable([['type: constructor / kind', 'count', 'MiB'], ...top(byName, n).map(([k, c, s]) => [k, c, round(s / MIB)])])
console.log('')
const repeated = new Map([...byValue].filter(([, [c]]) => c > 1))
printTable([['string value (first 60 chars), held more than once', 'copies', 'MiB'], ...top(repeated, n).map(([k, c, s]) => [JSON.stringify(k), c, round(s / MIB, 3)])])
