/**
 * Shared test helpers: every package's tests (and the root e2e tier) import
 * these instead of keeping their own copy. Source only: tests run it through
 * tsx, nothing builds or publishes it.
 */
export { waitFor, settle, type WaitOptions } from './wait.js'
export { pump, pumpUntil, type PumpClock, type PumpOptions } from './pump.js'
export { createTestRng, type TestRng } from './rng.js'
export { isRoot, NEEDS_ROOT, rootTest, type RootTestFn } from './root.js'
