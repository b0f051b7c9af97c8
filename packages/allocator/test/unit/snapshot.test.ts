import test from 'ava'
import { Packr } from 'msgpackr'
import { createNodeAllocator, deserializeNodeAllocator, type NodeAllocator } from '@scalelb/allocator'
import { encodeSnapshot, type SnapshotData } from '../../src/snapshot.js'

function busy (): NodeAllocator {
  const a = createNodeAllocator({ self: 'node-a', reuseCooldownMs: 5000 })
  a.createNetwork('n1', ['10.0.0.0/24', 'fd00::/64'], 0)
  a.createNetwork('n2', ['172.16.0.0/16'], 0)
  a.allocate('n1', 'vip', 0, 'svc')
  const t1 = a.allocate('n1', 'task', 0, 'task-1')
  a.allocate('n1', 'task', 0, 'task-2', 6)
  a.localTaskAdded('n1', 'task-2', 0)
  a.release('n1', t1, 10)
  a.donate('n2', 'node-b', 0)
  a.localTaskAdded('n2', 'x', 0)
  a.localTaskRemoved('n2', 'x', 50)
  return a
}

const view = (a: NodeAllocator): unknown => a.networks().map((id) => ({
  id, tokens: a.tokens(id), allocs: a.allocations(id), counts: a.counts(id), owned: a.ownedBy(id)
}))

test('snapshot round trip keeps everything, including cooldowns, next-fit cursor and the LB grace', (t) => {
  const a = busy()
  const b = deserializeNodeAllocator(a.serialize(), { reuseCooldownMs: 5000 })
  t.is(b.self, 'node-a')
  t.deepEqual(view(b), view(a))
  t.is(b.nextDeadline(), a.nextDeadline())
  // both continue the same way
  t.is(b.allocate('n1', 'task', 20), a.allocate('n1', 'task', 20))
  t.is(t.throws(() => b.allocateSpecific('n1', '10.0.0.2', 'task', 20))?.name, 'AddressUnavailableError')
  t.deepEqual(b.tick(1e9), a.tick(1e9))
})

test('every truncation is a typed error, never a half-loaded state', (t) => {
  const bytes = busy().serialize()
  for (let len = 0; len < bytes.length; len += 1 + Math.floor(len / 20)) {
    const e = t.throws(() => deserializeNodeAllocator(bytes.subarray(0, len)))
    t.true(e?.name === 'CorruptSnapshotError' || e?.name === 'ForeignSnapshotError', `${len}: ${e?.name}`)
  }
})

test('flipped bits are caught by the checksum', (t) => {
  const bytes = busy().serialize()
  for (let i = 9; i < bytes.length; i += 7) {
    const bad = new Uint8Array(bytes)
    bad[i] ^= 0x10
    t.is(t.throws(() => deserializeNodeAllocator(bad))?.name, 'CorruptSnapshotError')
  }
})

test('foreign bytes, another format version, or another node\'s snapshot are rejected', (t) => {
  const bytes = busy().serialize()
  t.is(t.throws(() => deserializeNodeAllocator(new TextEncoder().encode('{"hello":"world"}')))?.name, 'ForeignSnapshotError')
  t.is(t.throws(() => deserializeNodeAllocator(new Packr().pack({ self: 'x', networks: [] })))?.name, 'ForeignSnapshotError')
  const v2 = new Uint8Array(bytes)
  v2[4] = 2
  t.regex(t.throws(() => deserializeNodeAllocator(v2))?.message ?? '', /version 2/)
  t.is(t.throws(() => deserializeNodeAllocator(bytes, { self: 'node-b' }))?.name, 'ForeignSnapshotError')
})

test('a well-formed snapshot with invalid content is rejected whole', (t) => {
  const good = (): SnapshotData => ({
    self: 'a',
    networks: [{
      id: 'n', subnets: ['10.0.0.0/24'], tokens: [{ start: '10.0.0.0', end: '10.0.0.255', owner: 'a', version: 1 }],
      allocs: [['10.0.0.1', 'task', null]], cooling: [], cursor: '10.0.0.1', localTasks: [], lbIp: null, lbReleaseAt: null
    }]
  })
  t.is(deserializeNodeAllocator(encodeSnapshot(good())).allocations('n').length, 1)
  const mutate: Array<(d: SnapshotData) => void> = [
    (d) => { d.networks[0].allocs.push(['10.0.0.1', 'vip', null]) }, // duplicate
    (d) => { d.networks[0].allocs[0][0] = '10.0.0.0' }, // reserved
    (d) => { d.networks[0].tokens[0].owner = 'b' }, // not owned
    (d) => { d.networks[0].subnets = ['10.0.0.1/24'] },
    (d) => { d.networks[0].lbIp = '10.0.0.1' }, // allocated as a task, not an LB IP
    (d) => { d.networks.push(good().networks[0]) }, // duplicate network
    (d) => { (d.networks[0] as unknown as Record<string, unknown>).allocs = 'x' },
    (d) => { d.networks[0].tokens.push({ start: '10.0.0.0', end: '10.0.0.9', owner: 'a', version: 2 }) } // overlap
  ]
  for (const [i, m] of mutate.entries()) {
    const d = good()
    m(d)
    t.is(t.throws(() => deserializeNodeAllocator(encodeSnapshot(d)))?.name, 'CorruptSnapshotError', `mutation ${i}`)
  }
})
