/** The agent's data plane: reconciler (desired -> kernel), task netns attach/detach. */
export { createReconciler, type Reconciler, type ReconcilerInit, type ReconcilerStats, type AppliedResult } from './reconciler.js'
export { attachTaskNetns, detachTaskNetns, type AttachTaskInit, type DetachTaskInit } from '../plumber/attach.js'
export { ReconcilerAbortedError } from './errors.js'
export { COALESCE_MS, RESYNC_INTERVAL_MS, RETRY_MIN_MS, RETRY_MAX_MS } from './constants.js'
export { createProgrammer, type ProgrammerInit } from '../programmer/index.js'
export type { NetworkDesired, ProgrammerKind, LbMode, Programmer, ApplyResult, SandboxSpec, OverlaySpec } from '../spec/types.js'
