import test from 'ava'
import { createSeededRng } from '@scalelb/gossip'
import { RemoteIndex, type IpKeys } from '../../../src/state/remote-index.js'
import type { RemoteEndpointSpec } from '../../../src/dataplane/spec/types.js'

function keyList (keys: IpKeys | undefined): string[] {
  return keys === undefined ? [] : typeof keys === 'string' ? [keys] : [...keys].sort()
}

test('a remote with a spec is held in the sorted list alone, no map entry beside it; one without is held in the map until it has one', (t) => {
  const idx = new RemoteIndex()
  const usable = new Set<string>()
  const build = (ip: string, keys: IpKeys | undefined, prev: RemoteEndpointSpec | undefined): RemoteEndpointSpec | undefined => {
    if (keys === undefined || !usable.has(ip)) return undefined
    const mac = keyList(keys)[0] as string
    return prev?.mac === mac ? prev : { ip, mac, underlay: '192.168.0.1' }
  }
  for (let i = 0; i < 100; i++) {
    idx.add(`10.0.0.${i}`, `k${i}`)
    usable.add(`10.0.0.${i}`)
  }
  idx.add('10.0.1.1', 'nounderlay')
  idx.update(idx.ips(), build)
  t.is(idx.list.length, 100)
  t.is(idx.unplacedCount(), 1, 'only the IP without a spec')
  const list = idx.list
  // a second endpoint with a placed IP: held in its slot, no map entry; the spec (mac of the smallest key) stays
  idx.add('10.0.0.5', 'k5b')
  t.is(idx.unplacedCount(), 1)
  idx.update(['10.0.0.5'], build)
  t.is(idx.list, list, 'unchanged specs: the same list')
  idx.delete('10.0.0.5', 'k5')
  idx.update(['10.0.0.5'], build)
  t.not(idx.list, list, 'a changed spec: a new list, the old one untouched')
  t.is(list.find((r) => r.ip === '10.0.0.5')?.mac, 'k5')
  t.is(idx.spec('10.0.0.5')?.mac, 'k5b')
  usable.add('10.0.1.1')
  idx.update(idx.ips(), build)
  t.is(idx.unplacedCount(), 0, 'every IP placed: no map entry at all')
  t.is(idx.list.length, 101)
  idx.clearList()
  t.deepEqual(idx.list, [])
  t.is(idx.unplacedCount(), 101, 'clearing the list keeps the keys')
  idx.update(idx.ips(), build)
  t.is(idx.unplacedCount(), 0)
  t.is(idx.list.length, 101)
})

test('random adds, removes, specs coming and going, list clears: the list and the keys handed to build equal a map-by-IP reference', (t) => {
  for (const seed of [1, 2, 3, 4]) {
    const rng = createSeededRng(seed)
    const idx = new RemoteIndex()
    const ref = new Map<string, Set<string>>()
    const usable = new Set<string>()
    const dirty = new Set<string>()
    let seen = new Map<string, string[]>()
    const build = (ip: string, keys: IpKeys | undefined, prev: RemoteEndpointSpec | undefined): RemoteEndpointSpec | undefined => {
      seen.set(ip, keyList(keys))
      if (keys === undefined || !usable.has(ip)) return undefined
      const mac = keyList(keys)[0] as string
      return prev?.mac === mac ? prev : { ip, mac, underlay: '192.168.0.1' }
    }
    for (let step = 0; step < 3000; step++) {
      const ip = `10.0.${Math.floor(rng.next() * 3)}.${Math.floor(rng.next() * 40)}`
      const key = `k${Math.floor(rng.next() * 4)}@${ip}`
      const r = rng.next()
      if (r < 0.45) {
        if (ref.get(ip)?.has(key) !== true) {
          idx.add(ip, key)
          ref.set(ip, (ref.get(ip) ?? new Set()).add(key))
        }
        dirty.add(ip)
      } else if (r < 0.85) {
        if (ref.get(ip)?.has(key) === true) {
          idx.delete(ip, key)
          ref.get(ip)?.delete(key)
          if (ref.get(ip)?.size === 0) ref.delete(ip)
        }
        dirty.add(ip)
      } else if (r < 0.95) {
        if (usable.has(ip)) usable.delete(ip)
        else usable.add(ip)
        dirty.add(ip)
      } else if (r < 0.97) {
        idx.clearList()
        for (const x of idx.ips()) dirty.add(x)
      }
      if (rng.next() < 0.3) {
        seen = new Map()
        idx.update(dirty, build)
        for (const x of dirty) t.deepEqual(seen.get(x), [...(ref.get(x) ?? [])].sort(), `seed ${seed} step ${step}: keys of ${x}`)
        dirty.clear()
        const want = [...ref.keys()].filter((x) => usable.has(x)).sort((a, b) => `${a}|` < `${b}|` ? -1 : 1)
        t.deepEqual(idx.list.map((s) => s.ip), want, `seed ${seed} step ${step}`)
        for (const s of idx.list) t.is(s.mac, [...(ref.get(s.ip) ?? [])].sort()[0])
        t.is(idx.unplacedCount(), [...ref.keys()].filter((x) => !usable.has(x)).length)
      }
    }
  }
})
