/** Changes within this window go out together (DESIGN.md: coalesce window default 50 ms). */
export const COALESCE_MS = 50

/**
 * The coalescing window while changes keep arriving within it (ms): one
 * gossip round (lan profile), so a stream of remote task events shares a
 * kernel transaction per sandbox per round instead of one per event.
 */
export const BUSY_COALESCE_MS = 200

/** The coalescing window is COALESCE_MS again after this long without a kernel transaction (ms). */
export const BUSY_QUIET_MS = 1000

/** How often the in-memory copy is checked against the kernel (ms); a mismatch triggers a full resync. */
export const RESYNC_INTERVAL_MS = 60_000

/** First retry delay after a failed transaction (ms); doubles per consecutive failure. */
export const RETRY_MIN_MS = 200

/** Longest retry delay after failures (ms). */
export const RETRY_MAX_MS = 30_000
