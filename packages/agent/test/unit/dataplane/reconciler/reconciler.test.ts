import { createManualClock, type ManualClock } from '@scalelb/gossip'
import test from 'ava'
import { settle } from '@scalelb/test-support'
import { createMemoryKernel, createMemoryProgrammer, type MemoryKernel, type MemoryProgrammer, type NetworkDesired, type Programmer } from '../../../../src/dataplane/programmer/index.js'
import { createReconciler, type AppliedResult, type Reconciler } from '../../../../src/dataplane/reconciler/index.js'
import { backends, desired } from '../../../support/programmer-compliance.js'

interface Rig {
  clock: ManualClock
  kernel: MemoryKernel
  p: MemoryProgrammer
  r: Reconciler
  applied: Array<[string, AppliedResult]>
}

function rig (kernel = createMemoryKernel()): Rig {
  const clock = createManualClock(1000)
  const p = createMemoryProgrammer({ netnsPrefix: 'r', kernel })
  const applied: Array<[string, AppliedResult]> = []
  const r = createReconciler({ programmer: p, clock, resyncIntervalMs: 10_000, onApplied: (id, res) => applied.push([id, res]) })
  return { clock, kernel, p, r, applied }
}

const A = (n: number): NetworkDesired => desired('netA', [{ backends: backends(n) }])
const B = (n: number): NetworkDesired => desired('netB', [{ backends: backends(n) }], '10.77.0.3/16')

test('changes within the coalescing window go out as one transaction per sandbox', async t => {
  const { clock, p, r, applied } = rig()
  await r.start()
  // a transaction opens the window (the first change after a quiet spell goes out at once: next test)
  r.setDesired(new Map([['netA', A(4)]]))
  t.true(await r.flush().then(() => true))
  r.setDesired(new Map([['netA', A(1)]]))
  r.setDesired(new Map([['netA', A(2)]]))
  r.setDesired(new Map([['netA', A(3)], ['netB', B(1)]]))
  clock.advance(49)
  t.is(p.operations().length, 1)
  t.false(r.synced())
  clock.advance(1)
  t.true(await settle(() => r.synced()))
  t.deepEqual(p.operations().map(o => [o.op, o.networkId]), [['apply', 'netA'], ['apply', 'netA'], ['apply', 'netB']])
  t.deepEqual(applied.map(([id]) => id), ['netA', 'netA', 'netB'])
  t.is(p.state('netA')!.lb!.services.get('10.77.255.1 . tcp . 80')?.ips.length, 3)
  t.is(r.stats().sandboxes, 2)
  t.true(r.stats().kernelObjects > 0)
  await r.stop()
})

test('the coalescing window counts from the last transaction: a change after a quiet spell goes out at once, the next ones wait', async t => {
  const { clock, p, r } = rig()
  await r.start()
  clock.advance(1000)
  r.setDesired(new Map([['netA', A(1)]]))
  r.setDesired(new Map([['netA', A(2)]]))
  clock.advance(0)
  t.true(await settle(() => r.synced()))
  t.is(p.operations().length, 1)
  r.setDesired(new Map([['netA', A(3)]]))
  clock.advance(49)
  await settle(() => false, 5)
  t.is(p.operations().length, 1)
  clock.advance(1)
  t.true(await settle(() => r.synced()))
  t.is(p.operations().length, 2)
  t.is(p.state('netA')!.lb!.services.get('10.77.255.1 . tcp . 80')?.ips.length, 3)
  await r.stop()
})

test('while changes keep coming within the window, the window grows to busyCoalesceMs; after a quiet second it is coalesceMs again', async t => {
  const { clock, p, r } = rig()
  await r.start()
  clock.advance(1000)
  const applies = (): number => p.operations().length
  const at = async (ms: number): Promise<void> => { clock.advance(ms); await settle(() => false, 5) }
  /** Desire `n` backends, then let `ms` pass. */
  const put = async (n: number, ms: number): Promise<void> => { r.setDesired(new Map([['netA', A(n)]])); await at(ms) }
  await put(1, 0)
  t.is(applies(), 1, 'after a quiet spell: at once')
  await put(2, 49)
  t.is(applies(), 1)
  await at(1)
  t.is(applies(), 2, 'within the window: at its end (50 ms)')
  // another change within 200 ms of that transaction: changes are streaming in
  await at(60)
  await put(3, 100)
  await put(4, 39)
  t.is(applies(), 2, 'held until 200 ms after the last transaction')
  await at(1)
  t.is(applies(), 3, 'the two changes in one transaction')
  t.is(p.state('netA')!.lb!.services.get('10.77.255.1 . tcp . 80')?.ips.length, 4)
  // a change that comes after the busy window goes out at once, and the window stays busy
  await at(250)
  await put(5, 0)
  t.is(applies(), 4)
  await put(6, 50)
  t.is(applies(), 4, 'still a 200 ms window')
  await at(150)
  t.is(applies(), 5)
  // quiet for a second: the next change goes at once, and the window is 50 ms again
  await at(1000)
  await put(7, 0)
  t.is(applies(), 6)
  await put(8, 50)
  t.is(applies(), 7)
  await r.stop()
})

test('flush({ now: false }) waits for the coalescing window: changes made meanwhile share its transaction', async t => {
  const { clock, p, r } = rig()
  await r.start()
  r.setDesired(new Map([['netA', A(1)]]))
  let done = false
  const lazy = r.flush({ now: false }).then(() => { done = true })
  await settle(() => false, 5)
  t.false(done)
  t.is(p.operations().length, 0)
  r.setDesired(new Map([['netA', A(2)]]))
  clock.advance(50)
  await lazy
  t.deepEqual(p.operations().map(o => [o.op, o.networkId]), [['apply', 'netA']])
  t.is(p.state('netA')!.lb!.services.get('10.77.255.1 . tcp . 80')?.ips.length, 2)
  // flush() (now) still applies at once
  r.setDesired(new Map([['netA', A(3)]]))
  await r.flush()
  t.is(p.operations().length, 2)
  await r.stop()
})

test('a network no longer desired is removed; flush waits for it', async t => {
  const { r, p } = rig()
  r.setDesired(new Map([['netA', A(2)], ['netB', B(2)]]))
  await r.start()
  t.deepEqual(p.networks(), ['netA', 'netB'])
  r.setDesired(new Map([['netB', B(2)]]))
  await r.flush()
  t.deepEqual(p.networks(), ['netB'])
  t.is(p.state('netA'), undefined)
  await r.stop()
})

test('start adopts the kernel: what is desired is not re-programmed, the rest is removed', async t => {
  const first = rig()
  first.r.setDesired(new Map([['netA', A(3)], ['netB', B(1)]]))
  await first.r.start()
  await first.r.stop()
  const second = rig(first.kernel)
  second.r.setDesired(new Map([['netA', A(3)]]))
  await second.r.start()
  t.deepEqual(second.p.operations().filter(o => o.op !== 'adopt').map(o => [o.op, o.networkId]), [['remove', 'netB']])
  t.is(second.p.counters().transactions, 1)
  t.deepEqual([...second.kernel.networks.keys()], ['netA'])
  t.true(second.r.synced())
  await second.r.stop()
})

test('a failed transaction triggers a full resync with exponential backoff', async t => {
  const { clock, r, p } = rig()
  await r.start()
  p.failNext(2)
  r.setDesired(new Map([['netA', A(2)]]))
  clock.advance(50)
  t.true(await settle(() => r.stats().failures === 1))
  t.false(r.synced())
  clock.advance(199)
  t.false(await settle(() => r.stats().failures === 2, 20))
  clock.advance(1)
  t.true(await settle(() => r.stats().failures === 2))
  clock.advance(399)
  t.false(await settle(() => r.synced(), 20))
  clock.advance(1)
  t.true(await settle(() => r.synced()))
  t.deepEqual(p.networks(), ['netA'])
  await r.stop()
})

test('the periodic check finds kernel drift and repairs it', async t => {
  const { clock, r, kernel } = rig()
  r.setDesired(new Map([['netA', A(2)]]))
  await r.start()
  kernel.networks.delete('netA') // someone deleted the sandbox behind our back
  clock.advance(10_000)
  t.true(await settle(() => kernel.networks.has('netA') && r.synced()))
  t.is(kernel.networks.get('netA')!.lb!.services.get('10.77.255.1 . tcp . 80')?.ips.length, 2)
  await r.stop()
})

test('flush can be aborted; teardown removes everything', async t => {
  const { r, p } = rig()
  r.setDesired(new Map([['netA', A(1)], ['netB', B(1)]]))
  await r.start()
  p.failNext(1)
  r.setDesired(new Map([['netA', A(2)], ['netB', B(1)]]))
  const ac = new AbortController()
  const pending = r.flush({ signal: ac.signal })
  ac.abort()
  t.is((await t.throwsAsync(pending))?.name, 'ReconcilerAbortedError')
  await r.teardown()
  t.deepEqual(p.networks(), [])
  t.deepEqual([...p.kernel.networks.keys()], [])
  await r.stop()
})

test('a network with invalid desired state is refused (failure counted) without blocking the others', async t => {
  const { r, p } = rig()
  const bad = desired('netBad', [{ backends: [{ ip: 'not-an-ip', weight: 1, draining: false }] }])
  r.setDesired(new Map([['netA', A(1)], ['netBad', bad]]))
  await r.start()
  t.true(r.synced())
  t.deepEqual(p.networks(), ['netA'])
  t.is(r.stats().failures, 1)
  r.setDesired(new Map([['netA', A(1)], ['netBad', desired('netBad', [{ backends: backends(1) }], '10.77.0.9/16')]]))
  await r.flush()
  t.deepEqual(p.networks(), ['netA', 'netBad'])
  await r.stop()
})

test('a change that arrives while a transaction is in flight is applied next, not lost', async t => {
  const { clock, r, p } = rig()
  await r.start()
  r.setDesired(new Map([['netA', A(1)]]))
  const flushed = r.flush()
  r.setDesired(new Map([['netA', A(4)]]))
  t.true(await settle(() => p.operations().length === 1))
  t.false(r.synced())
  // the second apply runs on the next timer (coalescing window or right after the first tick)
  for (let i = 0; i < 5 && !r.synced(); i++) {
    clock.advance(50)
    await settle(() => r.synced(), 20)
  }
  await flushed
  t.is(p.operations().length, 2)
  t.is(p.state('netA')!.lb!.services.get('10.77.255.1 . tcp . 80')?.ips.length, 4)
  await r.stop()
})

test('start returns after a failed first pass and keeps retrying in the background', async t => {
  const { clock, r, p } = rig()
  p.failNext(1)
  r.setDesired(new Map([['netA', A(2)]]))
  await r.start()
  t.false(r.synced())
  t.is(r.stats().failures, 1)
  clock.advance(200)
  t.true(await settle(() => r.synced()))
  t.deepEqual(p.networks(), ['netA'])
  await r.stop()
})

test('flush returns once the state as of the call is applied, while later changes are still pending', async t => {
  const { clock, p } = rig()
  // each apply waits until the test opens its gate: changes arrive while transactions are in flight
  const gates: Array<() => void> = []
  const gated: Programmer = {
    kind: p.kind,
    lbMode: p.lbMode,
    apply: async (d, o) => {
      await new Promise<void>(resolve => gates.push(resolve))
      return await p.apply(d, o)
    },
    remove: async (id, o) => await p.remove(id, o),
    adopt: async (h, o) => await p.adopt(h, o),
    verify: async (id, o) => await p.verify(id, o),
    networks: () => p.networks(),
    kernelObjects: () => p.kernelObjects(),
    counters: () => p.counters()
  }
  const r = createReconciler({ programmer: gated, clock, resyncIntervalMs: 10_000 })
  await r.start()
  const slots = (): number | undefined => p.state('netA')?.lb?.services.get('10.77.255.1 . tcp . 80')?.ips.length
  const done = new Set<string>()
  const track = (name: string, f: Promise<void>): void => { void f.then(() => done.add(name)) }

  r.setDesired(new Map([['netA', A(1)]]))
  track('f1', r.flush()) // starts the apply of A(1) at once
  t.true(await settle(() => gates.length === 1))
  r.setDesired(new Map([['netA', A(2)]]))
  track('f2', r.flush())
  r.setDesired(new Map([['netA', A(3)]]))

  gates.shift()!()
  t.true(await settle(() => done.has('f1')))
  t.is(slots(), 1)
  t.false(done.has('f2'), 'A(2) is not applied yet')
  t.false(r.synced())

  // f2 waits: the next apply (of the newest state, A(3)) starts at once; A(4) arrives during it
  t.true(await settle(() => gates.length === 1))
  r.setDesired(new Map([['netA', A(4)]]))
  gates.shift()!()
  t.true(await settle(() => done.has('f2')))
  t.is(slots(), 3)
  t.false(r.synced(), 'A(4) is still pending when f2 returns')

  // the pending change goes out in the next coalescing window
  clock.advance(50)
  t.true(await settle(() => gates.length === 1))
  gates.shift()!()
  t.true(await settle(() => r.synced()))
  t.is(slots(), 4)
  await r.stop()
})

test('the periodic check and applies never overlap on the programmer; synced() holds during a check', async t => {
  const { clock, p } = rig()
  let inCall = 0
  let overlaps = 0
  let checkGate: (() => void) | undefined
  const serial = async <T>(f: () => Promise<T>): Promise<T> => {
    if (++inCall > 1) overlaps++
    try { return await f() } finally { inCall-- }
  }
  const watched: Programmer = {
    kind: p.kind,
    lbMode: p.lbMode,
    apply: async (d, o) => await serial(async () => await p.apply(d, o)),
    remove: async (id, o) => await serial(async () => await p.remove(id, o)),
    adopt: async (h, o) => await serial(async () => await p.adopt(h, o)),
    // the check reads the kernel slowly: it holds until the test opens its gate
    verify: async (id, o) => await serial(async () => {
      await new Promise<void>(resolve => { checkGate = resolve })
      return await p.verify(id, o)
    }),
    networks: () => p.networks(),
    kernelObjects: () => p.kernelObjects(),
    counters: () => p.counters()
  }
  const r = createReconciler({ programmer: watched, clock, resyncIntervalMs: 10_000 })
  r.setDesired(new Map([['netA', A(1)]]))
  await r.start()
  clock.advance(10_000)
  t.true(await settle(() => checkGate !== undefined), 'the check started')
  t.true(r.synced(), 'a check in progress does not make the node unready')
  r.setDesired(new Map([['netA', A(2)]]))
  const flushed = r.flush()
  clock.advance(50)
  await settle(() => false, 20)
  t.is(p.operations().filter(o => o.op === 'apply').length, 1, 'no apply while the check reads the kernel')
  checkGate?.()
  await flushed
  t.is(p.state('netA')?.lb?.services.get('10.77.255.1 . tcp . 80')?.ips.length, 2)
  t.is(overlaps, 0)
  t.true(r.synced())
  await r.stop()
})
