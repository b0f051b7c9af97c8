import test from 'ava'
import { Writable } from 'node:stream'
import { createRootLogger } from '../../../src/logging/logger.js'
import { networkConflicts } from '../../../src/state/conflicts.js'
import { createNetworkProblems } from '../../../src/state/network-problems.js'
import type { NetworkValue } from '../../../src/state/tables.js'

function capture (): { lines: Array<Record<string, unknown>>, stream: Writable } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb() } })
  return { lines, stream }
}

test('a subnet conflict is logged as an error once when it appears (not on every recomputation), counted, shown, and its end logged', (t) => {
  const { lines, stream } = capture()
  const networks = new Map<string, NetworkValue>([['a', { name: 'a', subnets: ['10.88.0.0/28'], vni: 1, options: {}, createdMs: 1 }]])
  let conflicts = networkConflicts(networks)
  const refused = new Map<string, string>()
  const p = createNetworkProblems({ logger: createRootLogger({ stream }), networks: () => networks, conflicts: () => conflicts, refused: () => refused })
  p.update([])
  t.deepEqual(p.list(), [])

  networks.set('b', { name: 'b', subnets: ['10.88.0.0/24'], vni: 2, options: {}, createdMs: 2 })
  conflicts = networkConflicts(networks)
  for (let i = 0; i < 5; i++) p.update([{ networkId: 'b', reason: 'subnet-conflict' }])
  const errors = lines.filter((l) => l.level === 'error')
  t.is(errors.length, 1)
  t.like(errors[0], { networkId: 'b', name: 'b', subnet: '10.88.0.0/24', with: 'a', withName: 'a', withSubnet: '10.88.0.0/28' })
  t.is(p.conflicts(), 1)
  t.is(p.conflictsDetected(), 1)
  t.regex(p.error('b') ?? '', /its subnets overlap a network created earlier/)
  t.deepEqual(p.list().map((x) => x.network), ['b'])

  // a refused desired state is named before the rest
  refused.set('a', 'desired state refused: services[0].vip: expected an IPv4 address')
  t.deepEqual(p.list().map((x) => [x.network, x.error.slice(0, 22)]), [['a', 'desired state refused:'], ['b', 'not programmed: its su']])

  networks.delete('b')
  conflicts = networkConflicts(networks)
  p.update([])
  t.is(p.conflicts(), 0)
  t.is(p.conflictsDetected(), 1)
  t.true(lines.some((l) => l.level === 'info' && l.message === 'network subnet conflict over' && l.networkId === 'b'))
})
