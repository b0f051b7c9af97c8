import test from 'ava'
import type { RingSpace, SpaceUsage } from '@scalelb/allocator'
import { SERVED_MAX, checkUsage, publishedUsage, servedTag, spaceView, type UsageValue } from '../../../src/state/ipam-space.js'

const ring: RingSpace = {
  usable: 14,
  complete: true,
  owners: [{ id: 'a', addresses: 8, digest: 'aa' }, { id: 'b', addresses: 4, digest: 'bb' }, { id: 'c', addresses: 4, digest: 'cc' }]
}
const none: SpaceUsage = { free: 0, cooling: 0, owned: 0, nextFreeAt: undefined, digest: '00' }

test('full only when the ring is complete and every owner\'s current usage shows nothing free', (t) => {
  const zero = new Map<string, UsageValue>([['a', { free: 0, cooling: 0, ring: 'aa' }], ['b', { free: 0, cooling: 2, ring: 'bb' }], ['c', { free: 0, cooling: 0, ring: 'cc' }]])
  t.like(spaceView('d', ring, none, zero), { full: true, used: 14, total: 14, cooling: 2, donors: [], unknown: [] })
  t.false(spaceView('d', { ...ring, complete: false }, none, zero).full, 'tokens missing: not known full')
  const stale = new Map(zero)
  stale.set('b', { free: 0, cooling: 0, ring: 'old' })
  t.like(spaceView('d', ring, none, stale), { full: false, unknown: ['b'] }, 'usage counted over other ranges is not trusted')
  const missing = new Map(zero)
  missing.delete('c')
  t.like(spaceView('d', ring, none, missing), { full: false, unknown: ['c'] })
  t.false(spaceView('a', ring, { ...none, free: 1 }, zero).full, 'own free address counts')
})

test('donors: owners publishing free addresses, most free first, then most space', (t) => {
  const u = new Map<string, UsageValue>([['a', { free: 3, cooling: 0, ring: 'aa' }], ['b', { free: 3, cooling: 0, ring: 'bb' }], ['c', { free: 0, cooling: 0, ring: 'cc' }]])
  t.deepEqual(spaceView('d', ring, none, u).donors.map((d) => d.id), ['a', 'b'])
  u.set('b', { free: 5, cooling: 0, ring: 'bb' })
  t.deepEqual(spaceView('d', ring, none, u).donors.map((d) => d.id), ['b', 'a'])
  t.deepEqual(spaceView('b', ring, none, u).donors.map((d) => d.id), ['a'], 'never itself')
})

test('published counts saturate; malformed usage is refused with the field named', (t) => {
  // cooling is published only when nothing is free (it matters only to a full network's error)
  t.deepEqual(publishedUsage({ free: 1_000_000, cooling: 3, owned: 2 ** 20, nextFreeAt: undefined, digest: 'ab' }), { free: 16, cooling: 0, ring: 'ab' })
  t.deepEqual(publishedUsage({ free: 0, cooling: 3, owned: 2 ** 20, nextFreeAt: undefined, digest: 'ab' }), { free: 0, cooling: 3, ring: 'ab' })
  t.deepEqual(publishedUsage({ free: 0, cooling: 99, owned: 2 ** 20, nextFreeAt: undefined, digest: 'ab' }), { free: 0, cooling: 16, ring: 'ab' })
  t.deepEqual(checkUsage({ free: 1, cooling: 0, ring: 'ab' }), { ok: true, value: { free: 1, cooling: 0, ring: 'ab' } })
  t.like(checkUsage({ free: -1, cooling: 0, ring: 'ab' }), { ok: false, reason: 'usage.free: not a count' })
  t.like(checkUsage({ free: 1, cooling: 0, ring: 'zz!' }), { ok: false, reason: 'usage.ring: not a digest' })
  t.like(checkUsage(null), { ok: false })
})

test('a usage names the requests it answered (newest 8); a malformed list is refused with the field named', (t) => {
  const u: SpaceUsage = { ...none, owned: 4, free: 1 }
  const refused = (v: unknown, reason: RegExp): void => {
    const c = checkUsage(v)
    t.false(c.ok)
    if (!c.ok) t.regex(c.reason, reason)
  }
  t.false('served' in publishedUsage(u), 'no answered request: no field (the entry stays as small as before)')
  const tags = Array.from({ length: 10 }, (_, i) => servedTag(`12D3KooWpeer${i}`, 1_700_000_000_000 + i))
  t.deepEqual(publishedUsage(u, tags).served, tags.slice(-SERVED_MAX))
  t.deepEqual(checkUsage({ free: 1, cooling: 0, ring: 'ab', served: tags.slice(0, 2) }), { ok: true, value: { free: 1, cooling: 0, ring: 'ab', served: tags.slice(0, 2) } })
  refused({ free: 1, cooling: 0, ring: 'ab', served: 'x@1' }, /usage\.served/)
  refused({ free: 1, cooling: 0, ring: 'ab', served: tags }, /at most 8/)
  refused({ free: 1, cooling: 0, ring: 'ab', served: ['no-time'] }, /usage\.served\[0\]/)
  refused({ free: 1, cooling: 0, ring: 'ab', served: [`${'x'.repeat(300)}@1`] }, /usage\.served\[0\]/)
})
