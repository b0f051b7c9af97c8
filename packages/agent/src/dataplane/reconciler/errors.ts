/** `flush()` was aborted by its signal or by `stop()`. */
export class ReconcilerAbortedError extends Error {
  override name = 'ReconcilerAbortedError' as const
}
