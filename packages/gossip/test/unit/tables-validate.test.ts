import test from 'ava'
import { pack, unpack } from 'msgpackr'
import {
  createTables, validateSyncRequest, validateSyncResponse, validateTablesMsg, type SyncRequest, type SyncResponse,
  type Tables, type TablesMsg
} from '../../src/tables/index.js'
import type { Rng } from '../../src/types.js'
import { createSeededRng } from '../../src/rng.js'

const C = 'cluster'

function int (r: Rng, n: number): number { return Math.floor(r.next() * n) }

/** A random JSON-ish/msgpack-ish value, sometimes hostile. */
function junk (r: Rng, depth = 0): unknown {
  const k = int(r, depth > 3 ? 9 : 12)
  switch (k) {
    case 0: return null
    case 1: return undefined
    case 2: return r.next() < 0.5
    case 3: return [0, -1, 1.5, NaN, Infinity, -0, 2 ** 53, 2 ** 48 + 1, 255, 1 << 30][int(r, 10)]
    case 4: return int(r, 1000)
    case 5: return ['', 'cluster', 'network:', 'network:n1', 'network:a b', 'x'.repeat(int(r, 700)), '__proto__', 'ep'][int(r, 8)]
    case 6: return new Uint8Array(int(r, 20))
    case 7: return 'k' + int(r, 50)
    case 8: return { toString: 1, constructor: 'x' }
    case 9: return Array.from({ length: int(r, 6) }, () => junk(r, depth + 1))
    case 10: {
      const o: Record<string, unknown> = {}
      for (let i = int(r, 5); i > 0; i--) o[['scope', 'entries', 'digest', 'member', 'complete', 'x'][int(r, 6)] as string] = junk(r, depth + 1)
      return o
    }
    default: return JSON.parse('{"__proto__": {"scope": "cluster", "entries": []}, "a": 1}')
  }
}

function validEntry (r: Rng): TablesMsg['entries'][number] {
  return r.next() < 0.3
    ? ['ep', `k${int(r, 20)}`, `n${int(r, 4)}`, 1 + int(r, 100), 1 + int(r, 100), 1, int(r, 10_000)]
    : ['ep', `k${int(r, 20)}`, `n${int(r, 4)}`, 1 + int(r, 100), 1 + int(r, 100), 0, { ip: `10.0.0.${int(r, 255)}` }]
}

/** Change one random place of a valid message into junk (or delete/extend it). */
function mutate (r: Rng, x: unknown): unknown {
  const copy = structuredClone(x) as Record<string, unknown>
  const paths: Array<[Record<string, unknown> | unknown[], string | number]> = []
  const walk = (o: unknown): void => {
    if (Array.isArray(o)) o.forEach((v, i) => { paths.push([o, i]); walk(v) })
    else if (typeof o === 'object' && o !== null && !(o instanceof Uint8Array)) {
      for (const k of Object.keys(o)) { paths.push([o as Record<string, unknown>, k]); walk((o as Record<string, unknown>)[k]) }
    }
  }
  walk(copy)
  const n = 1 + int(r, 3)
  for (let i = 0; i < n && paths.length > 0; i++) {
    const [o, k] = paths[int(r, paths.length)] as [Record<string, unknown>, string]
    const op = r.next()
    if (op < 0.7) o[k] = junk(r)
    else if (op < 0.85) delete o[k]
    else if (Array.isArray(o)) o.push(junk(r))
    else o[k] = Array.from({ length: 2000 }, () => 1)
  }
  return copy
}

function snapshot (t: Tables): string {
  return JSON.stringify([t.records(0, C), t.records(0, 'network:n1'), t.stats(), t.scopeMembers('network:n1')])
}

test('fuzz: thousands of random and mutated messages never throw, and rejected ones change nothing', (t) => {
  const r = createSeededRng(42)
  const node = createTables({ self: 'me', rng: createSeededRng(43) })
  node.joinScope(0, 'network:n1')
  node.set(0, C, 'nodes', 'me', { addr: '10.0.0.1' })
  const reasons = new Map<string, number>()
  let accepted = 0
  let rejected = 0
  for (let i = 0; i < 6000; i++) {
    const scope = r.next() < 0.5 ? C : 'network:n1'
    const msg: TablesMsg = { scope, entries: Array.from({ length: int(r, 4) }, () => validEntry(r)) }
    const req: SyncRequest = { scope, digest: r.next() < 0.5 ? [] : [int(r, 128), int(r, 1 << 30), int(r, 1 << 30)] }
    const res: SyncResponse = { scope, member: true, complete: [int(r, 256)], entries: msg.entries }
    const kind = i % 3
    const base = kind === 0 ? msg : kind === 1 ? req : res
    const dice = r.next()
    let x: unknown = dice < 0.15 ? junk(r) : dice < 0.4 ? structuredClone(base) : mutate(r, base)
    if (r.next() < 0.5) {
      // as the codec delivers it
      try { x = unpack(pack(x)) } catch { continue }
    }
    const before = snapshot(node)
    const v = kind === 0 ? validateTablesMsg(x) : kind === 1 ? validateSyncRequest(x) : validateSyncResponse(x)
    if (typeof v === 'string') {
      rejected++
      reasons.set(v, (reasons.get(v) ?? 0) + 1)
      t.is(snapshot(node), before)
      continue
    }
    accepted++
    t.notThrows(() => {
      if (kind === 0) node.handle(i, 'peer', v as TablesMsg)
      else if (kind === 1) pack(node.handleSyncRequest(i, 'peer', v as SyncRequest))
      else for (const m of node.handleSyncResponse(i, 'peer', v as SyncResponse)) pack(m)
    })
  }
  t.log(`accepted ${accepted}, rejected ${rejected}; reasons: ${JSON.stringify(Object.fromEntries(reasons))}`)
  t.true(accepted > 1000)
  t.true(rejected > 2000)
  t.true(reasons.size >= 10, 'many different reasons')
  // reasons are a bounded set of short labels
  for (const reason of reasons.keys()) t.regex(reason, /^[a-z.]{3,20}$/)
  // the node still works, and a clean peer converges with it by anti-entropy
  const peer = createTables({ self: 'peer2', rng: createSeededRng(44) })
  peer.joinScope(0, 'network:n1')
  let now = 10_000
  node.set(now, C, 'nodes', 'me', { addr: '10.0.0.9' })
  const pair: Array<[Tables, string, Tables, string]> = [[peer, 'peer2', node, 'me'], [node, 'me', peer, 'peer2']]
  for (let round = 0; round < 4; round++) {
    now += 2000
    for (const [from, fromId, to, toId] of pair) {
      for (const plan of from.tick(now, [toId]).syncs) {
        const back = from.handleSyncResponse(now, toId, to.handleSyncRequest(now, fromId, plan.req))
        for (const m of back) to.handle(now, fromId, m)
      }
    }
  }
  for (const scope of [C, 'network:n1'] as const) t.deepEqual(strip(peer.records(now, scope)), strip(node.records(now, scope)))
  t.deepEqual(peer.get(C, 'nodes', 'me')?.value, { addr: '10.0.0.9' })
})

function strip (ws: TablesMsg['entries']): unknown[] {
  return ws.map((w) => w[5] === 1 ? w.slice(0, 6) : w)
}

test('validators reject by field with short reasons', (t) => {
  t.is(validateTablesMsg(null), 'shape')
  t.is(validateTablesMsg({ scope: 'network:bad id', entries: [] }), 'scope')
  t.is(validateTablesMsg({ scope: C, entries: {} }), 'entries')
  t.is(validateTablesMsg({ scope: C, entries: Array(2000).fill(['t', 'k', 'o', 1, 1, 0, 1]) }), 'entries.count')
  t.is(validateTablesMsg({ scope: C, entries: [['', 'k', 'o', 1, 1, 0, 1]] }), 'entry.table')
  t.is(validateTablesMsg({ scope: C, entries: [['t', 'k'.repeat(600), 'o', 1, 1, 0, 1]] }), 'entry.key')
  t.is(validateTablesMsg({ scope: C, entries: [['t', 'k', '', 1, 1, 0, 1]] }), 'entry.origin')
  t.is(validateTablesMsg({ scope: C, entries: [['t', 'k', 'o', -1, 1, 0, 1]] }), 'entry.lamport')
  t.is(validateTablesMsg({ scope: C, entries: [['t', 'k', 'o', 2 ** 50, 1, 0, 1]] }), 'entry.lamport')
  t.is(validateTablesMsg({ scope: C, entries: [['t', 'k', 'o', 1, 1.5, 0, 1]] }), 'entry.seq')
  t.is(validateTablesMsg({ scope: C, entries: [['t', 'k', 'o', 1, 1, 2, 1]] }), 'entry.deleted')
  t.is(validateTablesMsg({ scope: C, entries: [['t', 'k', 'o', 1, 1, 1, -5]] }), 'entry.age')
  t.is(validateTablesMsg({ scope: C, entries: [['t', 'k', 'o', 1, 1, 0, { a: NaN }]] }), 'entry.value')
  let deep: unknown = 1
  for (let i = 0; i < 40; i++) deep = [deep]
  t.is(validateTablesMsg({ scope: C, entries: [['t', 'k', 'o', 1, 1, 0, deep]] }), 'entry.value')
  t.is(validateTablesMsg({ scope: C, entries: [['t', 'k', 'o', 1, 1, 0, JSON.parse('{"__proto__": {"x": 1}}')]] }), 'entry.value')
  t.is(validateTablesMsg({ scope: C, entries: [['t', 'k', 'o', 1, 1, 0]] }), 'entry')
  t.deepEqual(validateTablesMsg({ scope: 'network:n-1.a_b', entries: [['t', 'k', 'o', 1, 1, 0, { a: [1, 'x', null, true] }]] }),
    { scope: 'network:n-1.a_b', entries: [['t', 'k', 'o', 1, 1, 0, { a: [1, 'x', null, true] }]] })
  t.is(validateSyncRequest({ scope: C, digest: [1, 2] }), 'digest')
  t.is(validateSyncRequest({ scope: C, digest: [5, 1, 1, 5, 1, 1] }), 'digest', 'leaves must increase')
  t.is(validateSyncRequest({ scope: C, digest: [256, 1, 1] }), 'digest')
  t.is(validateSyncRequest({ scope: C, digest: [1, 2 ** 31, 1] }), 'digest')
  t.deepEqual(validateSyncRequest({ scope: C, digest: [0, 1, 2, 255, 3, 4] }), { scope: C, digest: [0, 1, 2, 255, 3, 4] })
  t.is(validateSyncResponse({ scope: C, member: 1, complete: [], entries: [] }), 'member')
  t.is(validateSyncResponse({ scope: C, member: true, complete: [3, 2], entries: [] }), 'complete')
  t.is(validateSyncResponse({ scope: C, member: true, complete: [], entries: [1] }), 'entry')
})
