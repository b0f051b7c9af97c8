// Node 20 lacks Promise.withResolvers, which libp2p 3 calls. The package's
// index.ts imports this first, so every importer of @scalelb/gossip (the
// agent's process entries included) gets it; the simulator CLI imports it too,
// and ava loads it (after tsx) into every test process.
const P = Promise as unknown as { withResolvers?: unknown }
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function withResolvers<T> (): { promise: Promise<T>, resolve: (v: T) => void, reject: (e?: unknown) => void } {
    let resolve!: (v: T) => void
    let reject!: (e?: unknown) => void
    const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
export {}
