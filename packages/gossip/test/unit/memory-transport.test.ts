import test from 'ava'
import { createManualClock, createMemoryNetwork } from '@scalelb/gossip'

async function setup (loss = 0): Promise<{ clock: ReturnType<typeof createManualClock>, net: ReturnType<typeof createMemoryNetwork>, got: string[] }> {
  const clock = createManualClock()
  const net = createMemoryNetwork({ clock, seed: 3, latencyMs: [2, 4], loss })
  const got: string[] = []
  for (const id of ['a', 'b', 'c']) {
    const tr = net.transport(id)
    tr.onMessage((from, bytes) => { got.push(`${from}>${id}:${bytes[0]}`) })
    tr.onRequest((_from, bytes) => new Uint8Array([(bytes[0] as number) + 1]))
    await tr.start()
  }
  return { clock, net, got }
}

test('datagrams arrive after the configured latency, copied', async t => {
  const { clock, net, got } = await setup()
  const buf = new Uint8Array([7])
  net.transport('a').send('b', buf)
  buf[0] = 9
  clock.advance(1)
  t.deepEqual(got, [])
  clock.advance(3)
  t.deepEqual(got, ['a>b:7'])
  t.is(await net.transport('a').dial('mem://c'), 'c')
  await t.throwsAsync(net.transport('a').dial('mem://zz'), { name: 'MemoryUnreachableError' })
})

test('partitions, one-way drops and heal', async t => {
  const { clock, net, got } = await setup()
  net.partition(['a'], ['b', 'c'])
  net.transport('a').send('b', new Uint8Array([1]))
  net.transport('c').send('a', new Uint8Array([2]))
  net.transport('b').send('c', new Uint8Array([3]))
  clock.advance(10)
  t.deepEqual(got, ['b>c:3'])
  net.heal()
  net.dropOneWay('a', 'b')
  net.transport('a').send('b', new Uint8Array([4]))
  net.transport('b').send('a', new Uint8Array([5]))
  const req = net.transport('a').request('b', new Uint8Array([1]))
  clock.advance(10)
  t.deepEqual(got, ['b>c:3', 'b>a:5'])
  await t.throwsAsync(req, { name: 'MemoryUnreachableError' })
  net.heal()
  const ok = net.transport('a').request('b', new Uint8Array([1]))
  for (let i = 0; i < 5; i++) { clock.advance(5); await Promise.resolve() }
  t.deepEqual(await ok, new Uint8Array([2]))
})

test('loss drops about the configured share, deterministically per seed', async t => {
  const counts: number[] = []
  for (let run = 0; run < 2; run++) {
    const { clock, net, got } = await setup(0.3)
    for (let i = 0; i < 1000; i++) net.transport('a').send('b', new Uint8Array([1]))
    clock.advance(10)
    counts.push(got.length)
    t.is(net.counts().delivered + net.counts().dropped, 1000)
  }
  t.is(counts[0], counts[1])
  t.true((counts[0] as number) > 620 && (counts[0] as number) < 780, `delivered ${counts[0]}`)
})
