/** The lab a benchmark brings up, and its teardown. */
import { rm } from 'node:fs/promises'
import { labDown, loadLabState, type LabState } from '@scalelb/lab'
import type { Cleanup } from './common.js'

/**
 * The state dir of run `run`'s lab (`/run/scalelb-bench-<run>`) and a holder
 * for its state, with the teardown registered on `cleanup`: it runs also
 * when the benchmark fails half-way (the state is read back from the dir if
 * `labUp` never returned), `beforeDown` first, then `labDown` and the dir.
 */
export function benchLab (run: string, cleanup: Cleanup, beforeDown?: (state: LabState) => Promise<void>): { stateDir: string, lab: { state?: LabState } } {
  const stateDir = `/run/scalelb-bench-${run}`
  const lab: { state?: LabState } = {}
  cleanup.add('lab', async () => {
    const st = lab.state ?? await loadLabState(stateDir).catch(() => undefined)
    if (st !== undefined) {
      await beforeDown?.(st)
      await labDown(st)
    }
    await rm(stateDir, { recursive: true, force: true })
  })
  return { stateDir, lab }
}
