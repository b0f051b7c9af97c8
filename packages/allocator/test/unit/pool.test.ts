import test from 'ava'
import { createNodeAllocator } from '@scalelb/allocator'

test('next-fit: a released address is not handed out again at once', (t) => {
  const a = createNodeAllocator({ self: 'a', reuseCooldownMs: 0 })
  a.createNetwork('n', ['10.0.0.0/29'], 0) // usable .1 .. .6
  t.is(a.allocate('n', 'task', 0), '10.0.0.1')
  t.is(a.allocate('n', 'task', 0), '10.0.0.2')
  a.release('n', '10.0.0.1', 0)
  t.is(a.allocate('n', 'task', 0), '10.0.0.3')
  t.deepEqual([a.allocate('n', 'task', 0), a.allocate('n', 'task', 0), a.allocate('n', 'task', 0)], ['10.0.0.4', '10.0.0.5', '10.0.0.6'])
  // wraps around, skipping the network and broadcast addresses
  t.is(a.allocate('n', 'task', 0), '10.0.0.1')
})

test('reuse cooldown: a released address is free again only after reuseCooldownMs', (t) => {
  const a = createNodeAllocator({ self: 'a', reuseCooldownMs: 5000 })
  a.createNetwork('n', ['10.0.0.0/30'], 0) // usable .1 .2
  a.allocate('n', 'task', 0)
  a.allocate('n', 'task', 0)
  a.release('n', '10.0.0.1', 1000)
  t.is(a.counts('n').cooling, 1)
  const e = t.throws(() => a.allocate('n', 'task', 5999))
  t.is(e?.name, 'PoolExhaustedError')
  t.is((e as unknown as { cooling: number }).cooling, 1)
  t.is(t.throws(() => a.allocateSpecific('n', '10.0.0.1', 'task', 5999))?.name, 'AddressUnavailableError')
  t.is(a.allocate('n', 'task', 6000), '10.0.0.1')
})

test('exhaustion is a typed error, never a duplicate; specific allocation rules', (t) => {
  const a = createNodeAllocator({ self: 'a' })
  a.createNetwork('n', ['192.168.7.0/24'], 0)
  const seen = new Set<string>()
  for (let i = 0; i < 254; i++) seen.add(a.allocate('n', i % 2 === 0 ? 'task' : 'vip', 0))
  t.is(seen.size, 254)
  t.false(seen.has('192.168.7.0') || seen.has('192.168.7.255'))
  t.is(t.throws(() => a.allocate('n', 'task', 0))?.name, 'PoolExhaustedError')
  t.deepEqual(a.counts('n'), { vip: 127, task: 127, lb: 0, free: 0, cooling: 0, owned: 256, bitmapChunks: 1 })
  const unavailable = (ip: string): string | undefined =>
    (t.throws(() => a.allocateSpecific('n', ip, 'task', 0)) as unknown as { reason?: string } | undefined)?.reason
  t.is(unavailable('192.168.7.9'), 'in-use')
  t.is(unavailable('192.168.7.255'), 'reserved')
  t.is(unavailable('192.168.7.0'), 'reserved')
  t.is(t.throws(() => a.allocateSpecific('n', '192.168.8.1', 'task', 0))?.name, 'InvalidAddressError')
  t.is(t.throws(() => a.release('n', '192.168.8.1', 0))?.name, 'NotAllocatedError')
  a.release('n', '192.168.7.9', 0)
  t.is(t.throws(() => a.release('n', '192.168.7.9', 0))?.name, 'NotAllocatedError')
  t.is(t.throws(() => a.allocate('n', 'gateway' as 'task', 0))?.name, 'InvalidInputError')
})

test('allocateSpecific of an address owned by another node names the owner', (t) => {
  const a = createNodeAllocator({ self: 'a' })
  const b = createNodeAllocator({ self: 'b' })
  b.addNetwork('n', ['10.0.0.0/24'])
  b.mergeTokens('n', a.createNetwork('n', ['10.0.0.0/24'], 0), 0)
  const e = t.throws(() => b.allocateSpecific('n', '10.0.0.7', 'task', 0)) as unknown as { name: string, reason: string, owner: string }
  t.is(e.name, 'AddressUnavailableError')
  t.is(e.reason, 'not-owned')
  t.is(e.owner, 'a')
})

test('IPv6 /64: memory follows the addresses in use, not the 2^64 addresses of the space', (t) => {
  const a = createNodeAllocator({ self: 'a', reuseCooldownMs: 0 })
  a.createNetwork('v6', ['2001:db8:1:2::/64'], 0)
  t.is(a.counts('v6').owned, 2 ** 64)
  t.is(a.counts('v6').bitmapChunks, 0)
  const got: string[] = []
  for (let i = 0; i < 5000; i++) got.push(a.allocate('v6', 'task', 0))
  t.is(got[0], '2001:db8:1:2::1')
  t.is(got[4999], '2001:db8:1:2::1388')
  t.is(new Set(got).size, 5000)
  // 5000 addresses in 1024-address bitmaps: 5 chunks, a few hundred bytes each
  t.is(a.counts('v6').bitmapChunks, 5)
  a.allocateSpecific('v6', '2001:db8:1:2:ffff:ffff:ffff:ffff', 'vip', 0)
  a.allocateSpecific('v6', '2001:db8:1:2:8000::', 'vip', 0)
  t.is(a.counts('v6').bitmapChunks, 7)
  // donations out of the /64 stay cheap too, and the snapshot stays small
  for (const peer of ['b', 'c', 'd']) t.truthy(a.donate('v6', peer, 0))
  t.true(a.serialize().length < 200_000)
  for (const ip of got) a.release('v6', ip, 0)
  t.is(a.counts('v6').bitmapChunks, 2)
})
