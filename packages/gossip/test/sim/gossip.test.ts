import test from 'ava'
import { createGossip, createManualClock, createMemoryNetwork, createSeededRng, type Clock, type Gossip, type GossipInit, type ManualClock } from '@scalelb/gossip'
import { pumpUntil } from '@scalelb/test-support'

function cluster (ids: string[], seed = 1): { clock: ManualClock, net: ReturnType<typeof createMemoryNetwork>, make: (id: string, gen?: number, ownClock?: Clock, cfg?: Partial<GossipInit>) => Gossip } {
  const clock = createManualClock(1_000_000)
  const net = createMemoryNetwork({ clock, seed, latencyMs: [1, 3] })
  const make = (id: string, gen = 0, ownClock: Clock = clock, cfg: Partial<GossipInit> = {}): Gossip => createGossip({ ...cfg, transport: net.transport(id), clock: ownClock, rng: createSeededRng(`${seed}:${id}:${gen}`), profile: 'local' })
  return { clock, net, make }
}

/** Start every member, join them all to the first one, and wait until each sees all alive. */
async function startAll (clock: ManualClock, g: ReadonlyMap<string, Gossip>): Promise<boolean> {
  const [first, ...rest] = [...g.keys()]
  for (const x of g.values()) await x.start()
  const joins = rest.map(id => (g.get(id) as Gossip).join([`mem://${first as string}`]))
  await pumpUntil(clock, () => false, 100)
  await Promise.all(joins)
  return await pumpUntil(clock, () => [...g.values()].every(x => x.members().filter(m => m.state === 'alive').length === g.size), 10_000)
}

test('createGossip over the memory network: join, replicate, scopes, failure, restart with the same ID', async t => {
  const ids = ['a', 'b', 'c', 'd', 'e']
  const { clock, make } = cluster(ids)
  const g = new Map(ids.map(id => [id, make(id)]))
  const get = (id: string): Gossip => g.get(id) as Gossip
  for (const x of g.values()) await x.start()
  const joins = ids.slice(1).map(id => get(id).join(['mem://a']))
  await pumpUntil(clock, () => false, 100)
  t.deepEqual(await Promise.all(joins), [1, 1, 1, 1])
  const allAlive = (): boolean => ids.every(id => get(id).members().filter(m => m.state === 'alive').length === 5)
  t.true(await pumpUntil(clock, allAlive, 10_000), 'everyone sees 5 alive members')

  const e0 = get('a').set('cluster', 'services', 'web', { port: 80 })
  t.is(e0.status, 'live')
  get('e').set('cluster', 'services', 'from-e', { port: 81 })
  t.true(await pumpUntil(clock, () => ids.every(id => get(id).get('cluster', 'services', 'web') !== undefined && get(id).get('cluster', 'services', 'from-e') !== undefined), 5000), 'entries reach everyone')

  get('b').joinScope('network:n1')
  get('c').joinScope('network:n1')
  get('b').set('network:n1', 'endpoints', 'ep1', { ip: '10.0.0.2' })
  t.true(await pumpUntil(clock, () => get('c').get('network:n1', 'endpoints', 'ep1')?.status === 'live', 5000), 'scope member gets the entry')
  t.deepEqual(get('a').entries('network:n1'), [], 'non-members do not hold network scope entries')
  t.true(await pumpUntil(clock, () => get('a').scopeMembers('network:n1').sort().join() === 'b,c', 5000))
  t.throws(() => get('a').set('nope' as never, 't', 'k', 1), { name: 'InvalidScopeError' })

  // crash e: no announcement
  await get('e').stop()
  const others = ids.slice(0, 4)
  const sawDead = (): boolean => others.every(id => get(id).members().find(m => m.id === 'e')?.state === 'dead')
  t.true(await pumpUntil(clock, sawDead, 60_000), 'the crash is detected by everyone')
  t.true(others.every(id => get(id).get('cluster', 'services', 'from-e')?.status === 'suspended'), 'its entries are suspended, not deleted')

  // restart with the same ID: it comes back with a higher incarnation and its entries are live again
  const e2 = make('e', 1)
  g.set('e', e2)
  await e2.start()
  const j = e2.join(['mem://b'])
  await pumpUntil(clock, () => false, 100)
  t.is(await j, 1)
  t.true(await pumpUntil(clock, () => others.every(id => get(id).members().find(m => m.id === 'e')?.state === 'alive'), 20_000), 'alive again everywhere')
  t.true(others.every(id => (get(id).members().find(m => m.id === 'e')?.incarnation ?? 0) > 0))
  t.true(await pumpUntil(clock, () => others.every(id => get(id).get('cluster', 'services', 'from-e')?.status === 'live'), 10_000), 'its entries are live again')

  const st = get('a').stats()
  t.true(st.bytesSent > 0 && st.bytesReceived > 0 && (st.messagesSent.ping ?? 0) > 0)
  for (const x of g.values()) await x.stop()
})

test('a restart announcement keeps the node live for the grace; a graceful leave tombstones its entries', async t => {
  const ids = ['a', 'b', 'c', 'd']
  const { clock, make } = cluster(ids, 2)
  const g = new Map(ids.map(id => [id, make(id)]))
  const get = (id: string): Gossip => g.get(id) as Gossip
  t.true(await startAll(clock, g), 'everyone sees everyone alive')
  get('d').set('cluster', 'services', 'd-svc', 1)
  get('c').set('cluster', 'services', 'c-svc', 1)
  t.true(await pumpUntil(clock, () => ids.every(id => get(id).get('cluster', 'services', 'd-svc') !== undefined && get(id).get('cluster', 'services', 'c-svc') !== undefined), 5000))

  const stopping = get('d').stop({ restart: true })
  await pumpUntil(clock, () => false, 300)
  await stopping
  t.true(await pumpUntil(clock, () => ['a', 'b', 'c'].every(id => get(id).members().find(m => m.id === 'd')?.restarting === true), 2000), 'peers learn the restart')
  // 'local' profile: restart grace 10 s; the failure detector would otherwise fire in ~3-18 s
  await pumpUntil(clock, () => false, 8000)
  t.true(['a', 'b', 'c'].every(id => get(id).members().find(m => m.id === 'd')?.state === 'alive'), 'kept live during the grace')
  t.true(['a', 'b', 'c'].every(id => get(id).get('cluster', 'services', 'd-svc')?.status === 'live'))
  t.true(await pumpUntil(clock, () => ['a', 'b', 'c'].every(id => get(id).members().find(m => m.id === 'd')?.state === 'dead'), 10_000), 'failed after the grace')

  const leaving = get('c').leave()
  await pumpUntil(clock, () => false, 1000)
  await leaving
  t.true(await pumpUntil(clock, () => ['a', 'b'].every(id => get(id).members().find(m => m.id === 'c')?.state === 'left'), 5000), 'leave announced')
  t.true(await pumpUntil(clock, () => ['a', 'b'].every(id => get(id).get('cluster', 'services', 'c-svc')?.status === 'deleted'), 5000), 'its entries are tombstoned')
  for (const x of g.values()) await x.stop()
})

test('join rejects with JoinFailedError when nobody answers', async t => {
  const { make } = cluster(['a'])
  const a = make('a')
  await a.start()
  await t.throwsAsync(a.join(['mem://nobody']), { name: 'JoinFailedError' })
  // our own address is no contact: the cause names it
  const self = await t.throwsAsync(a.join(['mem://a']), { name: 'JoinFailedError' }) as Error & { causes: Array<{ addr: string, reason: string }> }
  t.deepEqual(self.causes, [{ addr: 'mem://a', reason: 'address mem://a is this node' }])
  await a.stop()
  await a.stop()
})

test('garbage from the network is dropped and counted by reason; the node keeps working', async t => {
  const { clock, net, make } = cluster(['a', 'b', 'x'], 4)
  const a = make('a')
  const b = make('b')
  await a.start()
  await b.start()
  const j = b.join(['mem://a'])
  await pumpUntil(clock, () => false, 100)
  t.is(await j, 1)
  const evil = net.transport('x')
  await evil.start()
  evil.send('a', new Uint8Array([9, 1, 2, 3]))
  evil.send('a', new Uint8Array([1, 0x82, 0xa1]))
  evil.send('a', new Uint8Array([1, 0x81, 0xa1, 0x74, 0xa4, 0x62, 0x6f, 0x6f, 0x6d])) // { t: 'boom' }
  const req = evil.request('a', new Uint8Array([1, 0xc0]))
  await pumpUntil(clock, () => false, 50)
  // the memory transport hands the requester the handler's own error
  await t.throwsAsync(req, { name: 'RequestDroppedError', message: /request from x dropped/ })
  t.like(a.stats().dropped, { version: 1, decode: 1, schema: 2 })
  b.set('cluster', 'services', 'after', 1)
  t.true(await pumpUntil(clock, () => a.get('cluster', 'services', 'after')?.status === 'live', 5000))
  await a.stop()
  await b.stop()
})

test('an idle member wakes for its probes and syncs, not for the deadline of a probe already acked', async t => {
  const ids = ['a', 'b', 'c']
  const { clock, make } = cluster(ids, 5)
  // member a's timers, counted as they fire (its transport keeps the shared clock)
  let fired = 0
  const counted: Clock = { now: () => clock.now(), setTimer: (ms, fn) => clock.setTimer(ms, () => { fired++; fn() }) }
  // no other periodic work within the window: reconnect and reap rounds, push-pull
  const quiet = { reconnectIntervalMs: 120_000, pushPullIntervalMs: 0 }
  const g = new Map(ids.map(id => [id, make(id, 0, clock, quiet)]))
  g.set('a', make('a', 0, counted, quiet))
  const get = (id: string): Gossip => g.get(id) as Gossip
  t.true(await startAll(clock, g), 'everyone sees everyone alive')
  await pumpUntil(clock, () => false, 5_000)
  const pings0 = get('a').stats().messagesSent.ping ?? 0
  fired = 0
  await pumpUntil(clock, () => false, 30_000)
  const pings = (get('a').stats().messagesSent.ping ?? 0) - pings0
  // 'local' profile: a probe a second (its ack comes in ~4 ms, before the 200 ms deadline) and a sync every 2 s
  // (its hash rides on a probe; the tables still wake at its latest time): ~1.5 wake-ups per probe. A timer
  // left at each acked probe's deadline made one more per probe
  t.true(pings >= 25, `a probed (${pings} pings)`)
  t.true(fired <= pings * 1.75, `${fired} wake-ups for ${pings} probes`)
  for (const x of g.values()) await x.stop()
})
