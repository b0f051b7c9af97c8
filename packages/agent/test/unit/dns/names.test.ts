import test from 'ava'
import { createTestRng } from '@scalelb/test-support'
import { createNameIndex, type NameResult, type NameSource } from '../../../src/dns/names.js'
import { vipOn } from '../../../src/state/desired.js'
import type { ServiceValue } from '../../../src/state/tables.js'
import { createFakeTables, frontAndBack, net } from './fixture.js'

test('a service name and <service>.<network> give the VIP on the querier\'s network only', (t) => {
  const f = frontAndBack()
  t.deepEqual(f.index.lookup('n1', 'web'), { kind: 'found', addrs: ['10.0.0.2'] })
  t.deepEqual(f.index.lookup('n1', 'WEB.front'), { kind: 'found', addrs: ['10.0.0.2'] })
  // db lives on another network: invisible, and under the cluster's own names
  t.deepEqual(f.index.lookup('n1', 'db'), { kind: 'nxdomain' })
  t.deepEqual(f.index.lookup('n1', 'db.front'), { kind: 'nxdomain' })
  t.deepEqual(f.index.lookup('n2', 'db.back'), { kind: 'found', addrs: ['10.1.0.2'] })
  // a dotted name not ours goes upstream; so does `db.back` asked from n1 (another network's name means nothing there)
  t.deepEqual(f.index.lookup('n1', 'example.com'), { kind: 'external' })
  t.deepEqual(f.index.lookup('n1', 'db.back'), { kind: 'external' })
})

test('tasks.<service> gives the live, ready task IPs; a draining or suspended task is left out; task rm shrinks it', (t) => {
  const f = createFakeTables()
  f.setNetwork('n1', net('front'))
  f.join('n1')
  f.setService('s1', { name: 'web', ports: [], vips: { n1: '10.0.0.2' } })
  f.setTask('n1', 'a', 't1', { ip: '10.0.0.10', service: 's1' })
  f.setTask('n1', 'b', 't2', { ip: '10.0.0.11', service: 's1' })
  f.setTask('n1', 'b', 't3', { ip: '10.0.0.12', service: 's1', state: 'draining' })
  f.setTask('n1', 'c', 't4', { ip: '10.0.0.13', service: 's1' }, 'suspended')
  const ips = (r: NameResult): string[] => r.kind === 'found' ? [...r.addrs].sort() : []
  t.deepEqual(ips(f.index.lookup('n1', 'tasks.web')), ['10.0.0.10', '10.0.0.11'])
  t.deepEqual(ips(f.index.lookup('n1', 'tasks.web.front')), ['10.0.0.10', '10.0.0.11'])
  f.setTask('n1', 'a', 't1', undefined)
  t.deepEqual(ips(f.index.lookup('n1', 'tasks.web')), ['10.0.0.11'])
  // a service with no task yet: the name exists, no address
  f.setTask('n1', 'b', 't2', undefined)
  t.deepEqual(f.index.lookup('n1', 'tasks.web'), { kind: 'found', addrs: [] })
  t.deepEqual(f.index.lookup('n1', 'tasks.nope'), { kind: 'nxdomain' })
})

test('a dnsrr service answers its task IPs for its name; a task id gives its IP; PTR names VIPs and task IPs', (t) => {
  const f = createFakeTables()
  f.setNetwork('n1', net('front'))
  f.join('n1')
  f.setService('s1', { name: 'web', ports: [], vips: { n1: '10.0.0.2' } })
  f.setService('s2', { name: 'cache', ports: [], vips: {}, endpointMode: 'dnsrr', networks: ['n1'] })
  f.setTask('n1', 'a', 'c1', { ip: '10.0.0.20', service: 's2' })
  f.setTask('n1', 'a', 'c2', { ip: '10.0.0.21', service: 's2' })
  const r = f.index.lookup('n1', 'cache')
  t.deepEqual(r.kind === 'found' ? [...r.addrs].sort() : r, ['10.0.0.20', '10.0.0.21'])
  t.deepEqual(f.index.lookup('n1', 'c1'), { kind: 'found', addrs: ['10.0.0.20'] })
  t.deepEqual(f.index.lookup('n1', 'C2.front'), { kind: 'found', addrs: ['10.0.0.21'] })
  t.deepEqual(f.index.reverse('n1', '10.0.0.2'), { kind: 'found', names: ['web.front'] })
  t.deepEqual(f.index.reverse('n1', '10.0.0.20'), { kind: 'found', names: ['c1.front'] })
  t.deepEqual(f.index.reverse('n1', '192.0.2.1'), { kind: 'external' })
})

/** The slow, obviously right twin: scan every table for every lookup. */
function lookupSlow (src: NameSource, networkId: string, name: string): NameResult {
  const lname = name.toLowerCase()
  const eps = [...(src.endpoints(networkId)?.values() ?? [])].filter((r) => r.status === 'live' && r.value.kind === 'task')
  const ready = (sid: string): string[] => eps.filter((r) => r.value.service === sid && r.value.state === 'ready').map((r) => r.value.ip)
  const svcOf = (n: string): string | undefined => [...src.services()]
    .filter(([, s]) => s.name.toLowerCase() === n && (vipOn(s, networkId) !== undefined || (s.endpointMode === 'dnsrr' && s.networks?.includes(networkId) === true)))
    .map(([id]) => id).sort()[0]
  const bare = (n: string): string[] | undefined => {
    const sid = svcOf(n)
    if (sid !== undefined) {
      const vip = vipOn(src.services().get(sid) as ServiceValue, networkId)
      return vip !== undefined ? [vip] : ready(sid)
    }
    const owner = n.startsWith('tasks.') ? svcOf(n.slice('tasks.'.length)) : undefined
    if (owner !== undefined) return ready(owner)
    const tasks = eps.filter((r) => r.key.slice(r.key.indexOf('/') + 1).toLowerCase() === n).map((r) => r.value.ip)
    return tasks.length > 0 ? [...new Set(tasks)] : undefined
  }
  const d = bare(lname)
  if (d !== undefined) return { kind: 'found', addrs: d }
  const nn = src.networks().get(networkId)?.name.toLowerCase()
  if (nn !== undefined && lname.endsWith(`.${nn}`) && lname.length > nn.length + 1) {
    const u = bare(lname.slice(0, -(nn.length + 1)))
    return u === undefined ? { kind: 'nxdomain' } : { kind: 'found', addrs: u }
  }
  if (!lname.includes('.') || lname.startsWith('tasks.')) return { kind: 'nxdomain' }
  return { kind: 'external' }
}

function norm (r: NameResult): NameResult {
  return r.kind === 'found' ? { kind: 'found', addrs: [...r.addrs].sort() } : r
}

test('seeded random table changes: the incremental index answers as a scan of the tables after every step, and as a fresh index', (t) => {
  const rng = createTestRng('dns-names')
  const f = createFakeTables()
  const nets = ['n1', 'n2', 'n3']
  const names = ['web', 'db', 'api', 'tasks.web', 'WEB', 'x1', 'x2', 'web.front', 'api.back', 'tasks.db.front', 'a.b']
  const netNames = ['front', 'back', 'other']
  for (let step = 0; step < 3000; step++) {
    const op = rng.int(10)
    const nid = rng.pick(nets)
    if (op === 0) f.setNetwork(nid, rng.int(4) === 0 ? undefined : net(rng.pick(netNames)))
    else if (op === 1) {
      if (rng.int(3) === 0) f.leave(nid)
      else f.join(nid)
    } else if (op <= 3) {
      const vips: Record<string, string> = {}
      for (const n of nets) if (rng.int(2) === 0) vips[n] = `10.9.0.${rng.int(5)}`
      const dnsrr = rng.int(4) === 0
      f.setService(`s${rng.int(6)}`, rng.int(5) === 0 ? undefined : dnsrr ? { name: rng.pick(['web', 'db', 'api']), ports: [], vips: {}, endpointMode: 'dnsrr', networks: nets.filter(() => rng.int(2) === 0) } : { name: rng.pick(['web', 'db', 'api', 'a.b']), ports: [], vips })
    } else if (f.endpoints(nid) !== undefined) {
      f.setTask(nid, rng.pick(['na', 'nb']), `x${rng.int(4)}`, rng.int(4) === 0 ? undefined : { ip: `10.9.1.${rng.int(8)}`, service: `s${rng.int(6)}`, state: rng.int(3) === 0 ? 'draining' : 'ready' }, rng.int(5) === 0 ? 'suspended' : 'live')
    }
    if (step % 7 !== 0) continue
    const fresh = createNameIndex(f)
    for (const n of nets) {
      for (const name of names) {
        const want = norm(lookupSlow(f, n, name))
        const got = norm(f.index.lookup(n, name))
        if (JSON.stringify(got) !== JSON.stringify(want)) return t.fail(`step ${step}: ${n} ${name}: got ${JSON.stringify(got)} want ${JSON.stringify(want)}`)
        t.deepEqual(norm(fresh.lookup(n, name)), want)
      }
      for (let i = 0; i < 8; i++) {
        const ip = `10.9.1.${i}`
        t.deepEqual(f.index.reverse(n, ip), fresh.reverse(n, ip))
      }
    }
  }
})

test('dual-stack: a service name gives its VIP and its IPv6 VIP (A and AAAA), a task both its addresses; PTR names IPv6 VIPs and task addresses; task rm drops both', (t) => {
  const f = createFakeTables()
  f.setNetwork('n1', { name: 'front', subnets: ['10.0.0.0/24', 'fd00:1::/64'], vni: 4096, options: {} })
  f.join('n1')
  f.setService('s1', { name: 'web', ports: [], vips: { n1: '10.0.0.2' }, vips6: { n1: 'fd00:1::2' } })
  f.setTask('n1', 'a', 't1', { ip: '10.0.0.10', ip6: 'fd00:1::10', service: 's1' })
  const ips = (r: NameResult): string[] => r.kind === 'found' ? [...r.addrs].sort() : []
  t.deepEqual(ips(f.index.lookup('n1', 'web')), ['10.0.0.2', 'fd00:1::2'])
  t.deepEqual(ips(f.index.lookup('n1', 'tasks.web')), ['10.0.0.10', 'fd00:1::10'])
  t.deepEqual(ips(f.index.lookup('n1', 't1')), ['10.0.0.10', 'fd00:1::10'])
  t.deepEqual(f.index.reverse('n1', 'fd00:1::2'), { kind: 'found', names: ['web.front'] })
  t.deepEqual(f.index.reverse('n1', 'fd00:1::10'), { kind: 'found', names: ['t1.front'] })
  f.setTask('n1', 'a', 't1', undefined)
  t.deepEqual(ips(f.index.lookup('n1', 'tasks.web')), [])
  t.deepEqual(f.index.reverse('n1', 'fd00:1::10'), { kind: 'external' })
  // an IPv6-only network: the one VIP is IPv6
  f.setService('s2', { name: 'six', ports: [], vips: { n1: 'fd00:1::3' } })
  t.deepEqual(ips(f.index.lookup('n1', 'six')), ['fd00:1::3'])
})
