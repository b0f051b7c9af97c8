/** The reconciler: keeps the kernel equal to the desired state through a Programmer. */
export { createReconciler, type Reconciler, type ReconcilerInit, type ReconcilerStats, type AppliedResult, type FlushOptions } from './reconciler.js'
export { ReconcilerAbortedError } from './errors.js'
export { COALESCE_MS, RESYNC_INTERVAL_MS, RETRY_MIN_MS, RETRY_MAX_MS } from './constants.js'
