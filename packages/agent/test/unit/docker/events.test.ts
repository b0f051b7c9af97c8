import test from 'ava'
import { readFileSync } from 'node:fs'
import { createManualClock } from '@scalelb/gossip'
import { createSilentLogger } from '../../../src/logging/logger.js'
import { createEventFollower, createLineSplitter, parseEvent, type DockerEvent } from '../../../src/docker/events.js'
import type { DockerEngine } from '../../../src/docker/engine.js'
import { DockerEngineError } from '../../../src/docker/errors.js'
import { settle } from '@scalelb/test-support'

/** dockerd 20.10's event stream (filtered as the agent asks) of: network create front and other, docker run (create, start), docker rm -f (die, destroy), network rm front. */
const stream = readFileSync(new URL('./fixtures/events-20.10.ndjson', import.meta.url))

test('the recorded stream cut at every byte gives the same events as whole', (t) => {
  const whole = createLineSplitter().push(stream).map(parseEvent)
  t.deepEqual(whole.map((p) => 'event' in p ? `${p.event.Type} ${p.event.Action}` : p.error), [
    'network create', 'network create', 'container create', 'container start', 'container die', 'container destroy', 'network destroy'
  ])
  const start = whole.find((p) => 'event' in p && p.event.Action === 'start')
  t.is((start as { event: DockerEvent }).event.Actor.Attributes['scalelb.service'], 'web')
  for (let cut = 1; cut < stream.length; cut++) {
    const s = createLineSplitter()
    const lines = [...s.push(stream.subarray(0, cut)), ...s.push(stream.subarray(cut))]
    t.deepEqual(lines.map(parseEvent), whole, `cut at ${cut}`)
  }
})

test('a multi-byte character split across chunks survives; an overlong line is an error', (t) => {
  const line = Buffer.from('{"Type":"container","Action":"start","Actor":{"ID":"x","Attributes":{"name":"caf\u00e9"}}}\n')
  const at = line.indexOf(0xc3) + 1
  const s = createLineSplitter()
  const got = [...s.push(line.subarray(0, at)), ...s.push(line.subarray(at))].map(parseEvent)
  t.is((got[0] as { event: DockerEvent }).event.Actor.Attributes.name, 'caf\u00e9')
  t.throws(() => createLineSplitter(16).push(Buffer.from('x'.repeat(40))), { name: 'DockerEngineError' })
  t.deepEqual(parseEvent('{"Type":1}'), { error: 'no Type, Action or Actor.ID' })
  t.regex((parseEvent('{') as { error: string }).error, /^not JSON/)
})

/** An engine whose event streams the test opens, feeds and ends by hand. */
function scriptedEngine (): DockerEngine & { streams: Array<{ feed: (s: string) => void, end: (err?: Error) => void }>, down: boolean } {
  const e = {
    streams: [] as Array<{ feed: (s: string) => void, end: (err?: Error) => void }>,
    down: false,
    async get () { return [] },
    async events (_f: Record<string, string[]>, onData: (c: Buffer) => void) {
      if (e.down) throw new DockerEngineError('connect ENOENT /var/run/docker.sock')
      let end!: (err?: Error) => void
      const ended = new Promise<void>((resolve, reject) => { end = (err) => { if (err === undefined) resolve(); else reject(err) } })
      e.streams.push({ feed: (s) => { onData(Buffer.from(s)) }, end })
      return { ended }
    }
  }
  return e
}

test('the follower resyncs on every (re)connection, handles events in order, and reconnects with backoff', async (t) => {
  const clock = createManualClock(0)
  const engine = scriptedEngine()
  const seen: string[] = []
  let resyncs = 0
  const f = createEventFollower({
    engine, clock, logger: createSilentLogger(), filters: {},
    resync: async () => { resyncs++; seen.push(`resync${resyncs}`) },
    onEvent: async (e) => { seen.push(`${e.Action} ${e.Actor.ID}`) },
    reconnectMinMs: 100, reconnectMaxMs: 400
  })
  f.start()
  t.true(await settle(() => f.connected()))
  const lines = stream.toString().split('\n').filter((l) => l !== '')
  const first = engine.streams[0] as { feed: (s: string) => void, end: (err?: Error) => void }
  // a line cut in two, then the rest
  first.feed((lines[2] as string).slice(0, 50))
  first.feed(`${(lines[2] as string).slice(50)}\n${lines[3] as string}\n`)
  t.true(await settle(() => seen.length === 3))
  t.deepEqual(seen.slice(1).map((s) => s.split(' ')[0]), ['create', 'start'])

  // dockerd restarts: the stream breaks, the next connection fails twice, then works
  engine.down = true
  first.end(new DockerEngineError('socket hang up'))
  t.true(await settle(() => !f.connected()))
  t.is(engine.streams.length, 1)
  clock.advance(100)
  t.true(await settle(() => clock.pending() === 1), "the 2nd try failed and waits 200 ms")
  clock.advance(199)
  t.is(f.connections(), 1)
  engine.down = false
  clock.advance(1)
  t.true(await settle(() => f.connected() && f.connections() === 2))
  t.is(resyncs, 2, 'a full resync after reconnecting')
  await f.stop()
  await f.stop()
  t.false(f.connected())
})
