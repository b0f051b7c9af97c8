/**
 * The one compliance suite every programmer passes (nft, memory, ipvs). Each
 * implementation supplies an environment: fresh programmer instances sharing
 * one "kernel", and an observer reading what that kernel balances.
 */
import type { ExecutionContext, TestFn } from 'ava'
import type { NetworkDesired, Programmer, SandboxSpec, ServiceSpec } from '../../src/dataplane/programmer/index.js'

/** What a kernel balances for one network, as a user would see it. */
export interface Observed {
  lbAddress: string
  vips: string[]
  /** `vip proto port` -> `ip:targetPort` -> share (slots or weight; 0-share backends omitted). */
  services: Map<string, Map<string, number>>
  /** `vip proto port` rejected (no ready backend). */
  rejected: Set<string>
}

/** One implementation's test environment. */
export interface ComplianceEnv {
  /** A new programmer instance on the same kernel (a second one simulates an agent restart). */
  programmer(): Programmer
  /** Read the kernel; undefined when the network has no LB state. */
  observe(networkId: string): Promise<Observed | undefined>
  cleanup(): Promise<void>
}

let seq = 0

/** A NetworkDesired with `n` backends per service on 10.<x>.0.0/16. */
export function desired (networkId: string, services: Array<Partial<ServiceSpec> & { backends: ServiceSpec['backends'] }>, lbAddress = '10.77.0.2/16'): NetworkDesired {
  const svcs: ServiceSpec[] = services.map((s, i) => ({
    id: s.id ?? `svc${i}`,
    vip: s.vip ?? `10.77.255.${i + 1}`,
    ports: s.ports ?? [{ proto: 'tcp', port: 80, targetPort: 8080 }],
    backends: s.backends
  }))
  const sandbox: SandboxSpec = { networkId, lbAddress, lbMac: '02:42:0a:4d:00:02', services: svcs }
  return { sandbox, overlay: { networkId, vni: 4242, subnets: ['10.77.0.0/16'], localUnderlay: '', remotes: [] }, localTaskNetns: [] }
}

/** `n` backends 10.77.(i/250).(i%250+10), weight 1. */
export function backends (n: number, from = 0): ServiceSpec['backends'] {
  return Array.from({ length: n }, (_, j) => {
    const i = j + from
    return { ip: `10.77.${Math.floor(i / 250) + 1}.${(i % 250) + 2}`, weight: 1, draining: false }
  })
}

/** Register the suite under `name`; `make` builds a fresh environment per test. `skip` = reason to skip. */
export function runCompliance (test: TestFn, name: string, make: () => Promise<ComplianceEnv>, skip?: string): void {
  const t = skip === undefined ? test : test.skip
  const title = (s: string): string => `${name}: ${s}${skip === undefined ? '' : ` (skipped: ${skip})`}`
  const netId = (): string => `net${String(++seq).padStart(4, '0')}${name.replace(/[^a-z0-9]/g, '')}xxxxxxxx`

  const withEnv = (s: string, fn: (env: ComplianceEnv, tt: ExecutionContext) => Promise<void>): void => {
    t(title(s), async tt => {
      const env = await make()
      tt.teardown(async () => { await env.cleanup() })
      await fn(env, tt)
    })
  }

  withEnv('apply creates VIPs, LB IP, weighted backends, UDP ports and rejects', async (env, tt) => {
    const id = netId()
    const p = env.programmer()
    const d = desired(id, [
      { vip: '10.77.255.1', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }, { proto: 'udp', port: 53, targetPort: 5353 }], backends: [{ ip: '10.77.1.2', weight: 1, draining: false }, { ip: '10.77.1.3', weight: 2, draining: false }] },
      { vip: '10.77.255.2', backends: [] }
    ])
    const res = await p.apply(d)
    tt.true(res.transactions >= 1)
    tt.true(res.kernelObjects > 0)
    const o = await env.observe(id)
    tt.truthy(o)
    tt.is(o!.lbAddress, '10.77.0.2/16')
    tt.deepEqual(o!.vips, ['10.77.255.1', '10.77.255.2'])
    tt.deepEqual(o!.services.get('10.77.255.1 tcp 80'), new Map([['10.77.1.2:8080', 1], ['10.77.1.3:8080', 2]]))
    tt.deepEqual(o!.services.get('10.77.255.1 udp 53'), new Map([['10.77.1.2:5353', 1], ['10.77.1.3:5353', 2]]))
    tt.false(o!.services.has('10.77.255.2 tcp 80'))
    tt.deepEqual([...o!.rejected], ['10.77.255.2 tcp 80'])
    tt.deepEqual(p.networks(), [id])
  })

  withEnv('re-applying the same state changes nothing; a backend change is one transaction', async (env, tt) => {
    const id = netId()
    const p = env.programmer()
    await p.apply(desired(id, [{ backends: backends(3) }]))
    tt.is((await p.apply(desired(id, [{ backends: backends(3) }]))).transactions, 0)
    const res = await p.apply(desired(id, [{ backends: backends(4) }]))
    tt.is(res.transactions, 1)
    tt.is((await env.observe(id))!.services.get('10.77.255.1 tcp 80')!.size, 4)
    tt.true(await p.verify(id))
  })

  withEnv('a draining backend gets no new share; no ready backend means reject', async (env, tt) => {
    const id = netId()
    const p = env.programmer()
    const bs = backends(3)
    await p.apply(desired(id, [{ backends: bs }]))
    await p.apply(desired(id, [{ backends: bs.map((b, i) => ({ ...b, draining: i === 0 })) }]))
    const o = await env.observe(id)
    tt.deepEqual([...o!.services.get('10.77.255.1 tcp 80')!.keys()].sort(), ['10.77.1.3:8080', '10.77.1.4:8080'])
    await p.apply(desired(id, [{ backends: [] }]))
    const o2 = await env.observe(id)
    tt.false(o2!.services.has('10.77.255.1 tcp 80'))
    tt.true(o2!.rejected.has('10.77.255.1 tcp 80'))
  })

  withEnv('backend counts 1, 2, 63, 64, 65, 500 all get an even share', async (env, tt) => {
    const id = netId()
    const p = env.programmer()
    const counts = [1, 2, 63, 64, 65, 500]
    await p.apply(desired(id, counts.map((n, i) => ({ vip: `10.77.254.${i + 1}`, backends: backends(n) }))))
    const o = await env.observe(id)
    counts.forEach((n, i) => {
      const shares = o!.services.get(`10.77.254.${i + 1} tcp 80`)
      tt.is(shares?.size, n, `count ${n}`)
      const v = [...shares!.values()]
      tt.true(Math.max(...v) - Math.min(...v) <= 1, `even shares for ${n}`)
    })
  })

  withEnv('a new instance adopts the kernel state: nothing to re-program, then removes it all', async (env, tt) => {
    const id = netId()
    const d = desired(id, [{ backends: backends(5) }, { vip: '10.77.255.9', backends: [] }])
    await env.programmer().apply(d)
    const p2 = env.programmer()
    tt.deepEqual(await p2.adopt(new Map([[id, d]])), [id])
    tt.true(await p2.verify(id))
    tt.is((await p2.apply(d)).transactions, 0)
    tt.true(p2.kernelObjects() > 0)
    await p2.remove(id)
    tt.is(await env.observe(id), undefined)
    tt.deepEqual(p2.networks(), [])
    tt.is(p2.kernelObjects(), 0)
  })

  withEnv('bad input is refused with the field named and nothing changes', async (env, tt) => {
    const id = netId()
    const p = env.programmer()
    await p.apply(desired(id, [{ backends: backends(2) }]))
    const bad = desired(id, [{ backends: [{ ip: '10.77.1.300', weight: 1, draining: false }] }])
    const err = await tt.throwsAsync(p.apply(bad))
    tt.is(err?.name, 'ProgrammerInputError')
    tt.regex(err!.message, /services\[0\]\.backends\[0\]\.ip/)
    const badPort = desired(id, [{ ports: [{ proto: 'sctp' as 'tcp', port: 80, targetPort: 80 }], backends: backends(1) }])
    tt.regex((await tt.throwsAsync(p.apply(badPort)))!.message, /ports\[0\]\.proto/)
    tt.is((await env.observe(id))!.services.get('10.77.255.1 tcp 80')!.size, 2)
  })
}

/** Observed state of an nft LB view (slots per backend). */
export function observeLbView (v: { lbAddress: string, vips: string[], services: Map<string, string[]>, noback: Set<string> }): Observed {
  const services = new Map<string, Map<string, number>>()
  for (const [k, table] of v.services) {
    const svc = k.split(' . ').join(' ')
    const m = new Map<string, number>()
    for (const val of table) {
      const target = val.replace(' . ', ':')
      m.set(target, (m.get(target) ?? 0) + 1)
    }
    services.set(svc, m)
  }
  return { lbAddress: v.lbAddress, vips: [...v.vips].sort(), services, rejected: new Set([...v.noback].map(k => k.split(' . ').join(' '))) }
}
