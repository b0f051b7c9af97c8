// Node 20 lacks Promise.withResolvers, which libp2p 3 calls. Process entries
// of this package (the simulator CLI) import this file first.
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
