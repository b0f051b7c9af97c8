// Node 20 lacks Promise.withResolvers, which libp2p 3 calls. Every process
// entry of @scalelb/gossip (CLI, test child processes) imports this module first (same code as
// scripts/polyfill.mjs, kept here because published code cannot reach scripts/).
const P = Promise as unknown as { withResolvers?: unknown }
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function withResolvers<T> (this: PromiseConstructor) {
    let resolve!: (v: T | PromiseLike<T>) => void
    let reject!: (e: unknown) => void
    const promise = new this<T>((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
export {}
