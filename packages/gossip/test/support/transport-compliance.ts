/**
 * The one compliance suite every Transport passes (memory, libp2p): what the
 * interface in src/types.ts promises, asserted the same way for each. Each
 * implementation supplies an environment that makes transports of one
 * network and lets time pass (a manual clock, or real sockets on loopback).
 */
import type { ExecutionContext, TestFn } from 'ava'
import type { NodeId, Transport } from '../../src/types.js'

/** One implementation's test environment. */
export interface TransportEnv {
  /** A new, unstarted transport on the network. */
  create(): Promise<Transport>
  /** The same node (same id) as `old`, stopped: started again it may listen at other addresses. */
  recreate(old: Transport): Promise<Transport>
  /** Let time pass until `cond` holds; throw naming `what` if it never does. */
  until(cond: () => boolean, what: string): Promise<void>
  /** A well-formed id of a node that does not exist. */
  unknownId(): Promise<NodeId>
  /** An address nobody listens at. */
  deadAddr: string
  /** Stop every transport made. */
  cleanup(): Promise<void>
}

/** What a transport enforces beyond the interface, so the suite can check it. */
export interface TransportLimits {
  /** Datagrams above this many bytes are not delivered. */
  maxMessageBytes: number
  /** Requests and responses above this many bytes fail. */
  maxRequestBytes: number
}

/** Options of {@link runTransportCompliance}. */
export interface ComplianceOptions {
  setup: () => Promise<TransportEnv>
  /** Limits the implementation enforces (the oversize tests run only then). */
  limits?: TransportLimits
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

interface Node { tr: Transport, got: Array<{ from: NodeId, text: string }> }

/** Start a transport recording what it receives; requests are answered `<from>:<BODY>`. */
async function started (tr: Transport): Promise<Node> {
  const got: Node['got'] = []
  tr.onMessage((from, bytes) => { got.push({ from, text: dec(bytes) }) })
  tr.onRequest((from, bytes) => {
    const text = dec(bytes)
    if (text === 'fail') throw new Error('handler refuses')
    return enc(`${from}:${text.toUpperCase()}`)
  })
  await tr.start()
  return { tr, got }
}

/** Wait for `p` while the environment lets time pass; resolve to its outcome. */
async function settle<T> (env: TransportEnv, p: Promise<T>): Promise<{ ok: true, value: T } | { ok: false, err: unknown }> {
  let out: { ok: true, value: T } | { ok: false, err: unknown } | undefined
  p.then(value => { out = { ok: true, value } }, (err: unknown) => { out = { ok: false, err } })
  await env.until(() => out !== undefined, 'the call to settle')
  return out as NonNullable<typeof out>
}

async function answered (t: ExecutionContext, env: TransportEnv, p: Promise<Uint8Array>): Promise<string | undefined> {
  const r = await settle(env, p)
  if (!r.ok) { t.fail(`request rejected: ${String(r.err)}`); return undefined }
  return dec(r.value)
}

async function rejected (t: ExecutionContext, env: TransportEnv, p: Promise<unknown>, what: string): Promise<void> {
  const r = await settle(env, p)
  t.false(r.ok, `${what} should reject`)
  if (!r.ok) t.true(r.err instanceof Error, `${what} rejects with an Error, got ${String(r.err)}`)
}

/** Register the suite for one implementation. */
export function runTransportCompliance (test: TestFn, name: string, opts: ComplianceOptions): void {
  const withEnv = (title: string, fn: (t: ExecutionContext, env: TransportEnv) => Promise<void>): void => {
    test(`${name} compliance: ${title}`, async t => {
      const env = await opts.setup()
      t.teardown(async () => { await env.cleanup() })
      await fn(t, env)
    })
  }
  /** Two started nodes; `a` knows `b`'s addresses. */
  const pair = async (env: TransportEnv): Promise<[Node, Node]> => {
    const a = await started(await env.create())
    const b = await started(await env.create())
    a.tr.addPeerAddrs(b.tr.id, b.tr.addrs())
    return [a, b]
  }

  withEnv('start and stop are safe to call twice; a started transport has addresses', async (t, env) => {
    const tr = await env.create()
    const id = tr.id
    await tr.start()
    await tr.start()
    t.true(tr.addrs().length > 0)
    t.is(tr.id, id)
    await tr.stop()
    await tr.stop()
  })

  withEnv('dial resolves to the id of the node at the address; a dead address rejects', async (t, env) => {
    const a = await started(await env.create())
    const b = await started(await env.create())
    const r = await settle(env, a.tr.dial(b.tr.addrs()[0] as string))
    t.deepEqual(r, { ok: true, value: b.tr.id })
    await rejected(t, env, a.tr.dial(env.deadAddr), 'a dial of a dead address')
  })

  withEnv('datagrams arrive with the sender id and the bytes as sent, even if the sender reuses its buffer', async (t, env) => {
    const [a, b] = await pair(env)
    const buf = new Uint8Array(8)
    for (let i = 0; i < 10; i++) {
      buf.set(enc(`frame ${i}`.padEnd(8)))
      a.tr.send(b.tr.id, buf)
    }
    buf.fill(0)
    await env.until(() => b.got.length === 10, 'b to receive 10 datagrams')
    // datagrams promise no order (the memory network's latency varies)
    t.deepEqual(b.got.map(g => g.text).sort(), Array.from({ length: 10 }, (_, i) => `frame ${i}`.padEnd(8)))
    t.true(b.got.every(g => g.from === a.tr.id))
    // b never learned a's addresses: it answers over what a opened (libp2p) or by id (memory)
    b.tr.send(a.tr.id, enc('back'))
    await env.until(() => a.got.length === 1, 'a to receive the reply')
    t.deepEqual(a.got, [{ from: b.tr.id, text: 'back' }])
  })

  withEnv('request/response: the handler sees the requester and its result is the response; a throwing handler fails the request', async (t, env) => {
    const [a, b] = await pair(env)
    t.is(await answered(t, env, a.tr.request(b.tr.id, enc('sync me'))), `${a.tr.id}:SYNC ME`)
    await rejected(t, env, a.tr.request(b.tr.id, enc('fail')), 'a request whose handler throws')
    // the failure is per request: the next one is answered
    t.is(await answered(t, env, a.tr.request(b.tr.id, enc('again'))), `${a.tr.id}:AGAIN`)
  })

  withEnv('a request to a peer without a request handler rejects', async (t, env) => {
    const a = await started(await env.create())
    const mute = await env.create()
    await mute.start()
    a.tr.addPeerAddrs(mute.id, mute.addrs())
    await rejected(t, env, a.tr.request(mute.id, enc('hello')), 'a request nobody handles')
  })

  withEnv('an unknown peer: send is dropped without throwing, request rejects', async (t, env) => {
    const a = await started(await env.create())
    const nobody = await env.unknownId()
    t.notThrows(() => { a.tr.send(nobody, enc('x')) })
    await rejected(t, env, a.tr.request(nobody, enc('x')), 'a request to an unknown peer')
  })

  withEnv('a stopped transport: its own request rejects and send does not throw; peers cannot reach it', async (t, env) => {
    const [a, b] = await pair(env)
    t.is(await answered(t, env, a.tr.request(b.tr.id, enc('before'))), `${a.tr.id}:BEFORE`)
    await b.tr.stop()
    await rejected(t, env, a.tr.request(b.tr.id, enc('after')), 'a request to a stopped peer')
    await a.tr.stop()
    t.notThrows(() => { a.tr.send(b.tr.id, enc('x')) })
    await rejected(t, env, a.tr.request(b.tr.id, enc('x')), 'a request from a stopped transport')
  })

  withEnv('a peer that comes back (maybe at other addresses) is reached again once its addresses are added', async (t, env) => {
    const [a, b1] = await pair(env)
    t.is(await answered(t, env, a.tr.request(b1.tr.id, enc('one'))), `${a.tr.id}:ONE`)
    await b1.tr.stop()
    const b2 = await started(await env.recreate(b1.tr))
    t.is(b2.tr.id, b1.tr.id)
    a.tr.addPeerAddrs(b2.tr.id, b2.tr.addrs())
    t.is(await answered(t, env, a.tr.request(b2.tr.id, enc('two'))), `${a.tr.id}:TWO`)
    a.tr.send(b2.tr.id, enc('hello again'))
    await env.until(() => b2.got.some(g => g.text === 'hello again'), 'the datagram to the peer that came back')
  })

  const limits = opts.limits
  if (limits !== undefined) {
    withEnv('an oversized datagram is not delivered; the next one is', async (t, env) => {
      const [a, b] = await pair(env)
      a.tr.send(b.tr.id, new Uint8Array(limits.maxMessageBytes + 1))
      a.tr.send(b.tr.id, enc('small'))
      await env.until(() => b.got.length > 0, 'the small datagram')
      t.deepEqual(b.got.map(g => g.text), ['small'])
    })

    withEnv('an oversized request fails; a request of the limit is answered', async (t, env) => {
      const [a, b] = await pair(env)
      await rejected(t, env, a.tr.request(b.tr.id, new Uint8Array(limits.maxRequestBytes + 1)), 'an oversized request')
      const res = await answered(t, env, a.tr.request(b.tr.id, new Uint8Array(limits.maxRequestBytes - 64)))
      t.is(res?.length, a.tr.id.length + 1 + limits.maxRequestBytes - 64)
    })
  }
}
