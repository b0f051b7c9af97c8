/**
 * Fill a small network by adding tasks round-robin over the nodes until
 * every node has answered "network full" in one full round: the scenario of
 * an address-exhaustion report (a /28 shared by 3 nodes hung instead of failing).
 */

/** One `task add` call and its answer. */
export interface FillCall {
  node: number
  id: string
  /** Wall time of the call (reported, never asserted). */
  ms: number
  ip?: string
  error?: { name: string, message: string }
}

/** Error name of a failed call, seen through the API client or in-process. */
function errorOf (err: unknown): { name: string, message: string } {
  const e = err as Error
  // the API client reports the agent's error text; its name is in the message of a NetworkFullError
  const name = e.name === 'ApiClientError' && /is full: \d+\/\d+ addresses in use/.test(e.message) ? 'NetworkFullError' : e.name
  return { name, message: e.message }
}

/**
 * Add tasks `fill-0`, `fill-1`, ... on nodes 0, 1, 2, 0, ... until `nodes`
 * calls in a row failed with NetworkFullError, or `maxCalls` calls.
 */
export async function fillRoundRobin (nodes: number, add: (node: number, id: string) => Promise<string>, maxCalls = 64): Promise<FillCall[]> {
  const calls: FillCall[] = []
  let fullInARow = 0
  for (let k = 0; k < maxCalls && fullInARow < nodes; k++) {
    const node = k % nodes
    const id = `fill-${k}`
    const t0 = performance.now()
    const call: FillCall = { node, id, ms: 0 }
    try {
      call.ip = await add(node, id)
      fullInARow = 0
    } catch (err) {
      call.error = errorOf(err)
      fullInARow = call.error.name === 'NetworkFullError' ? fullInARow + 1 : 0
    }
    call.ms = performance.now() - t0
    calls.push(call)
  }
  return calls
}

/** `[used, total]` from a NetworkFullError message, or undefined. */
export function fullCounts (message: string): [number, number] | undefined {
  const m = /is full: (\d+)\/(\d+) addresses in use/.exec(message)
  return m === null ? undefined : [Number(m[1]), Number(m[2])]
}
