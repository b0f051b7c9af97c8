import test from 'ava'
import { createManualClock } from '@scalelb/gossip'
import { settle } from '@scalelb/test-support'
import { createSilentLogger } from '../../../src/logging/logger.js'
import { anonRss, createMemoryTrim, processMemory, type ProcessMemory } from '../../../src/components/memory-trim.js'

const MIB = 2 ** 20

/** A process whose RSS the test sets; a trim brings it down to `afterTrim`. */
function fakeMemory (): ProcessMemory & { value: number, afterTrim: number, gcs: number, mallocTrims: number, releases: number } {
  const m = {
    value: 40 * MIB,
    afterTrim: 30 * MIB,
    gcs: 0,
    mallocTrims: 0,
    releases: 0,
    rss: () => m.value,
    gc: () => { m.gcs++ },
    mallocTrim: async () => { m.mallocTrims++; m.value = m.afterTrim },
    releaseFilePages: async () => { m.releases++; return 0 }
  }
  return m
}

test('trims what the start-up left, then only after RSS grew and stopped growing', async (t) => {
  const clock = createManualClock(0)
  const mem = fakeMemory()
  const durations: number[] = []
  const trim = createMemoryTrim({ memory: mem, clock, logger: createSilentLogger(), intervalMs: 1000, growthBytes: 32 * MIB, maxIntervalMs: 5000, onTrim: (ms) => durations.push(ms) })
  trim.component.start?.()
  clock.advance(1000)
  t.true(await settle(() => trim.trims() === 1), 'the first check trims the start-up')
  t.deepEqual([mem.gcs, mem.mallocTrims, mem.releases, durations.length], [1, 1, 1, 1])

  // a large sync: RSS grows past the last trim's 30 MiB by far; no trim while it still grows
  mem.value = 200 * MIB
  clock.advance(1000)
  await settle(() => false, 20)
  t.is(trim.trims(), 1)
  mem.afterTrim = 60 * MIB
  clock.advance(1000)
  t.true(await settle(() => trim.trims() === 2), 'trimmed once RSS stopped growing')
  t.is(mem.value, 60 * MIB)

  // drift under the threshold: no trim before maxIntervalMs
  mem.value = 80 * MIB
  clock.advance(1000)
  await settle(() => false, 20)
  clock.advance(1000)
  await settle(() => false, 20)
  t.is(trim.trims(), 2)
  // what the burst freed after that trim: returned by the periodic one
  mem.afterTrim = 50 * MIB
  for (let i = 0; i < 3; i++) {
    clock.advance(1000)
    await settle(() => false, 20)
  }
  t.is(trim.trims(), 3, 'trimmed once maxIntervalMs passed')
  t.deepEqual([mem.gcs, mem.mallocTrims, mem.releases], [2, 3, 2], 'the periodic trim runs no GC and leaves the file pages mapped')

  trim.component.stop?.('restart')
  trim.component.stop?.('restart')
  t.is(clock.pending(), 0)
})

test('the process hooks read anonymous RSS, run a GC and malloc_trim, and release file pages', async (t) => {
  const mem = processMemory(createSilentLogger())
  t.true(mem.rss() > 0)
  const anon = anonRss()
  if (anon !== undefined) {
    // the file-backed pages (the node binary's code: tens of MiB) are not counted
    t.true(mem.rss() < process.memoryUsage.rss(), 'file-backed pages are left out')
  }
  mem.gc()
  await mem.mallocTrim()
  const released = await mem.releaseFilePages()
  t.true(released >= 0)
  // the process goes on running code from the released pages (they are mapped again on access)
  mem.gc()
  t.true(mem.rss() > 0)
})
