import test from 'ava'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { batchYamuxWindowUpdates } from '../../../src/transport/libp2p/yamux-window.js'

const WINDOW_UPDATE = 1

interface SentFrame { type: number, flag: number, length?: number }

/** A yamux stream as the muxer makes it (established, inbound), with the frames it sends recorded. */
function stream (state: StreamState = StreamState.Established): { s: YamuxStream, sent: SentFrame[], receive: (bytes: number) => void } {
  const sent: SentFrame[] = []
  const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, newScope: () => log, enabled: false })
  const s = new YamuxStream({ id: '1', streamId: 1, state, direction: 'inbound', log, sendFrame: (h: SentFrame) => { sent.push(h) }, getRTT: () => -1 } as unknown as ConstructorParameters<typeof YamuxStream>[0])
  s.addEventListener('message', () => {})
  const handle = (s as unknown as { handleData: (f: unknown) => void }).handleData.bind(s)
  return { s, sent, receive: (bytes) => { handle({ header: { type: 0, flag: 0, streamID: 1, length: bytes }, data: new Uint8Array(bytes) }) } }
}

const updates = (sent: SentFrame[]): SentFrame[] => sent.filter((f) => f.type === WINDOW_UPDATE)

test('small frames get no window update each; a stream that receives more than its window gets updates in time and never overruns it', (t) => {
  t.true(batchYamuxWindowUpdates())
  t.true(batchYamuxWindowUpdates(), 'installing twice is harmless')
  const small = stream()
  for (let i = 0; i < 100; i++) small.receive(100)
  t.is(updates(small.sent).length, 0, '100 datagrams of 100 bytes: no window update (was one per frame)')

  const big = stream()
  // 4 MiB in 16 KiB frames: 16 windows of 256 KiB; handleData throws if the window is overrun
  t.notThrows(() => { for (let i = 0; i < 256; i++) big.receive(16 * 1024) })
  const n = updates(big.sent).length
  t.true(n >= 16 && n <= 40, `window updates for 4 MiB: ${n}`)
})

test('the first frame of a stream still acknowledges it (flags go out with the update)', (t) => {
  batchYamuxWindowUpdates()
  const fresh = stream(StreamState.SYNReceived)
  fresh.receive(10)
  const u = updates(fresh.sent)
  t.is(u.length, 1)
  t.not(u[0]?.flag, 0)
})
