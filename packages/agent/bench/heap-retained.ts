/**
 * Where a V8 heap snapshot's memory is held: the dominator tree (an object
 * dominates another when every path from the roots to it passes through
 * it; its retained size is what freeing it would free), printed from the
 * root down through every object retaining at least --min-mib, each labelled
 * with the edge its dominator (or a retainer) holds it by. Weak edges are
 * not followed. Used to break an agent's per-entry heap cost down by
 * structure (gossip store, table cache, desired state, programmer model).
 *
 * Run: node --max-old-space-size=8192 --import tsx packages/agent/bench/heap-retained.ts FILE.heapsnapshot [--min-mib 1] [--depth 14]
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { round } from './common.js'

interface Snapshot {
  snapshot: { meta: { node_fields: string[], node_types: [string[], ...unknown[]], edge_fields: string[], edge_types: [string[], ...unknown[]] } }
  nodes: number[]
  edges: number[]
  strings: string[]
}

const MIB = 1024 * 1024
const { values, positionals } = parseArgs({ options: { 'min-mib': { type: 'string' }, depth: { type: 'string' } }, allowPositionals: true, strict: true })
const file = positionals[0]
if (file === undefined) {
  console.error('usage: heap-retained.ts FILE.heapsnapshot [--min-mib 1] [--depth 14]')
  process.exit(2)
}
const minBytes = Number(values['min-mib'] ?? '1') * MIB
const maxDepth = Number(values.depth ?? '14')
if (!(minBytes > 0) || !Number.isInteger(maxDepth) || maxDepth < 1) {
  console.error('--min-mib: a positive number; --depth: a positive integer')
  process.exit(2)
}

const snap = JSON.parse(await readFile(file, 'utf8')) as Snapshot
const nf = snap.snapshot.meta.node_fields
const ef = snap.snapshot.meta.edge_fields
const nodeTypes = snap.snapshot.meta.node_types[0]
const edgeTypes = snap.snapshot.meta.edge_types[0]
const NF = nf.length
const EF = ef.length
const [nType, nName, nSize, nEdges] = [nf.indexOf('type'), nf.indexOf('name'), nf.indexOf('self_size'), nf.indexOf('edge_count')]
const [eType, eName, eTo] = [ef.indexOf('type'), ef.indexOf('name_or_index'), ef.indexOf('to_node')]
const WEAK = edgeTypes.indexOf('weak')
const SHORTCUT = edgeTypes.indexOf('shortcut')
const N = snap.nodes.length / NF
const nodes = snap.nodes
const edges = snap.edges

// first edge of each node
const firstEdge = new Int32Array(N + 1)
for (let i = 0, e = 0; i < N; i++) {
  firstEdge[i] = e
  e += (nodes[i * NF + nEdges] as number) * EF
}
firstEdge[N] = edges.length
const strong = (e: number): boolean => edges[e + eType] !== WEAK && edges[e + eType] !== SHORTCUT

// post-order numbering from the root (node 0), iterative DFS
const post = new Int32Array(N).fill(-1)
const order = new Int32Array(N)
const visited = new Uint8Array(N)
let count = 0
{
  const stack = new Int32Array(N)
  const cursor = new Int32Array(N)
  let sp = 0
  stack[sp++] = 0
  visited[0] = 1
  cursor[0] = firstEdge[0] as number
  while (sp > 0) {
    const v = stack[sp - 1] as number
    const end = firstEdge[v + 1] as number
    let c = cursor[v] as number
    while (c < end && (!strong(c) || visited[(edges[c + eTo] as number) / NF] === 1)) c += EF
    if (c < end) {
      cursor[v] = c + EF
      const w = (edges[c + eTo] as number) / NF
      visited[w] = 1
      cursor[w] = firstEdge[w] as number
      stack[sp++] = w
    } else {
      sp--
      post[v] = count
      order[count++] = v
    }
  }
}

// predecessors (reachable nodes, strong edges)
const predCount = new Int32Array(N + 1)
for (let v = 0; v < N; v++) {
  if (visited[v] === 0) continue
  for (let e = firstEdge[v] as number; e < (firstEdge[v + 1] as number); e += EF) if (strong(e)) predCount[(edges[e + eTo] as number) / NF]++
}
const predStart = new Int32Array(N + 1)
for (let v = 0; v < N; v++) predStart[v + 1] = (predStart[v] as number) + (predCount[v] as number)
const preds = new Int32Array(predStart[N] as number)
const fill = predStart.slice()
for (let v = 0; v < N; v++) {
  if (visited[v] === 0) continue
  for (let e = firstEdge[v] as number; e < (firstEdge[v + 1] as number); e += EF) {
    if (!strong(e)) continue
    const w = (edges[e + eTo] as number) / NF
    preds[fill[w]++] = v
  }
}

// dominators (Cooper, Harvey, Kennedy), on post-order numbers
const idom = new Int32Array(count).fill(-1)
const rootPost = post[0] as number
idom[rootPost] = rootPost
let changed = true
while (changed) {
  changed = false
  for (let p = count - 1; p >= 0; p--) {
    if (p === rootPost) continue
    const v = order[p] as number
    let nd = -1
    for (let i = predStart[v] as number; i < (predStart[v + 1] as number); i++) {
      let q = post[preds[i] as number] as number
      if (idom[q] === -1) continue
      if (nd === -1) { nd = q; continue }
      let a = q
      let b = nd
      while (a !== b) {
        while (a < b) a = idom[a] as number
        while (b < a) b = idom[b] as number
      }
      q = a
      nd = q
    }
    if (nd !== -1 && idom[p] !== nd) {
      idom[p] = nd
      changed = true
    }
  }
}

// retained sizes (children before parents in post order)
const retained = new Float64Array(count)
for (let p = 0; p < count; p++) retained[p] += nodes[(order[p] as number) * NF + nSize] as number
for (let p = 0; p < count; p++) if (p !== rootPost) retained[idom[p] as number] += retained[p] as number

const children = new Map<number, number[]>()
for (let p = 0; p < count; p++) {
  if (p === rootPost || (retained[p] as number) < minBytes) continue
  const d = idom[p] as number
  let a = children.get(d)
  if (a === undefined) children.set(d, a = [])
  a.push(p)
}

/** Name of the edge from `from` to `to` (or from any retainer of `to`). */
function edgeLabel (to: number, from: number): string {
  const name = (e: number): string => {
    const t = edgeTypes[edges[e + eType] as number]
    const n = edges[e + eName] as number
    return t === 'element' || t === 'hidden' ? `[${n}]` : `.${snap.strings[n] as string}`
  }
  for (let e = firstEdge[from] as number; e < (firstEdge[from + 1] as number); e += EF) if ((edges[e + eTo] as number) / NF === to) return name(e)
  const r = preds[predStart[to] as number]
  if (r === undefined) return ''
  for (let e = firstEdge[r] as number; e < (firstEdge[r + 1] as number); e += EF) if ((edges[e + eTo] as number) / NF === to) return `${name(e)} (via ${label(r)})`
  return ''
}

function label (v: number): string {
  const t = nodeTypes[nodes[v * NF + nType] as number] as string
  const n = (snap.strings[nodes[v * NF + nName] as number] as string).slice(0, 50)
  return `${t}:${n}`
}

console.log(`${file}: ${N} nodes, ${count} reachable, ${round(retained[rootPost] as number / MIB)} MiB retained by the roots (min ${round(minBytes / MIB)} MiB shown)`)
function print (p: number, depth: number): void {
  const v = order[p] as number
  const parent = idom[p] as number
  const via = p === rootPost ? '' : edgeLabel(v, order[parent] as number)
  console.log(`${'  '.repeat(depth)}${round(retained[p] as number / MIB)} MiB ${label(v)} ${via}`)
  if (depth >= maxDepth) return
  for (const c of (children.get(p) ?? []).sort((a, b) => (retained[b] as number) - (retained[a] as number))) print(c, depth + 1)
}
print(rootPost, 0)

// what no single object holds (shared between structures, or held by the roots themselves), by kind
const shared = new Map<string, [number, number]>()
for (let p = 0; p < count; p++) {
  if (p === rootPost || idom[p] !== rootPost || (retained[p] as number) >= minBytes) continue
  const k = label(order[p] as number).replace(/:.*$/, (m) => m.length > 30 ? m.slice(0, 30) : m)
  const r = shared.get(k)
  if (r === undefined) shared.set(k, [1, retained[p] as number])
  else { r[0]++; r[1] += retained[p] as number }
}
console.log('\nheld by the roots directly, below --min-mib each (shared between structures), by kind:')
for (const [k, [c, b]] of [...shared].sort((a, b) => b[1][1] - a[1][1]).slice(0, 25)) console.log(`  ${round(b / MIB)} MiB ${c} x ${k}`)
