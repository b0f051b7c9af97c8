import test from 'ava'
import { cidrRange, findOverlap, networkConflicts } from '../../../src/state/conflicts.js'
import { computeDesired, type EndpointRecord } from '../../../src/state/desired.js'
import type { NetworkValue } from '../../../src/state/tables.js'

function net (name: string, subnets: string[], createdMs?: number): NetworkValue {
  const v: NetworkValue = { name, subnets, vni: 100, options: {} }
  if (createdMs !== undefined) v.createdMs = createdMs
  return v
}

test('CIDR ranges come from the allocator\'s subnet parser, per family; bad CIDRs give none', (t) => {
  t.deepEqual(cidrRange('10.0.0.4/30'), { family: 4, first: 0x0a000004n, last: 0x0a000007n })
  t.is(cidrRange('fd00::/64')?.family, 6)
  const v6 = cidrRange('fd00::/64')
  t.is((v6?.last ?? 0n) - (v6?.first ?? 0n), (1n << 64n) - 1n)
  t.is(cidrRange('nope'), undefined)
  t.is(cidrRange('10.0.0.0/33'), undefined)
})

test('the network created first keeps its subnet; equal times fall back to the smaller id; map order does not matter', (t) => {
  const entries: Array<[string, NetworkValue]> = [
    ['id-b', net('b', ['10.88.0.0/24'], 200)],
    ['id-a', net('a', ['10.88.0.0/28'], 100)],
    ['id-c', net('c', ['10.88.1.0/24'], 50)]
  ]
  const want = new Map([['id-b', { with: 'id-a', withName: 'a', subnet: '10.88.0.0/28', ownSubnet: '10.88.0.0/24' }]])
  t.deepEqual(networkConflicts(new Map(entries)), want)
  t.deepEqual(networkConflicts(new Map([...entries].reverse())), want)
  // same creation time: the smaller id wins
  const tie = networkConflicts(new Map([['z', net('z', ['10.1.0.0/16'], 5)], ['y', net('y', ['10.1.2.0/24'], 5)]]))
  t.deepEqual([...tie.keys()], ['z'])
  // a value of an older agent (no createdMs) counts as created at 0
  t.deepEqual([...networkConflicts(new Map([['a', net('a', ['10.2.0.0/24'], 1)], ['b', net('b', ['10.2.0.0/25'])]])).keys()], ['a'])
})

test('a conflicted network does not block later ones; families do not overlap; disjoint networks do not conflict', (t) => {
  // b loses to a, c overlaps only b: c keeps its subnet
  const chain = new Map([
    ['a', net('a', ['10.0.0.0/25'], 1)],
    ['b', net('b', ['10.0.0.0/24'], 2)],
    ['c', net('c', ['10.0.0.128/25'], 3)]
  ])
  t.deepEqual([...networkConflicts(chain).keys()], ['b'])
  t.is(networkConflicts(new Map([['a', net('a', ['10.0.0.0/24', 'fd00::/64'], 1)], ['b', net('b', ['fd01::/64'], 2)]])).size, 0)
  const many = new Map(Array.from({ length: 200 }, (_, i) => [`n${i}`, net(`n${i}`, [`10.${i}.0.0/24`], i)] as [string, NetworkValue]))
  t.is(networkConflicts(many).size, 0)
  many.set('wide', net('wide', ['10.0.0.0/8'], 1000))
  t.regex(networkConflicts(many).get('wide')?.withName ?? '', /^n\d+$/, 'a wide subnet created last loses to one of the networks it covers')
})

test('findOverlap names the network whose subnet overlaps', (t) => {
  const nets = new Map([['id-a', net('a', ['10.88.0.0/28'])], ['id-x', net('x', ['10.90.0.0/24'])]])
  t.deepEqual(findOverlap(['10.1.0.0/24', '10.88.0.0/24'], nets), { id: 'id-a', name: 'a', subnet: '10.88.0.0/28', ownSubnet: '10.88.0.0/24' })
  t.is(findOverlap(['10.88.0.16/28'], nets), undefined)
})

test('computeDesired gives a conflicted network with local tasks no kernel state and reports it skipped', (t) => {
  const lb: EndpointRecord = { key: 'lb:me', status: 'live', value: { kind: 'lb', ip: '10.88.0.3', mac: '02:42:0a:58:00:03', node: 'me', state: 'ready', originMs: 1 } }
  const task: EndpointRecord = { key: 't1', status: 'live', value: { kind: 'task', service: 's', ip: '10.88.0.9', mac: '02:42:0a:58:00:09', node: 'me', state: 'ready', originMs: 1 } }
  const networks = new Map([['early', net('early', ['10.88.0.0/28'], 1)], ['late', net('late', ['10.88.0.0/24'], 2)]])
  const r = computeDesired({ self: 'me', localUnderlay: '', networks, services: new Map(), nodes: new Map(), endpoints: new Map([['early', [lb, task]], ['late', [lb, task]]]) })
  t.deepEqual([...r.desired.keys()], ['early'])
  t.deepEqual(r.skipped, [{ networkId: 'late', reason: 'subnet-conflict' }])
})
