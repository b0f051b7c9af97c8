// Node 20 lacks Promise.withResolvers, which libp2p 3 calls. This is the one
// polyfill of the project: every process entry and the test setup import it.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve
    let reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
