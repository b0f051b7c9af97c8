/**
 * The one compliance suite every programmer passes (nft, memory, ipvs). Each
 * implementation supplies an environment: fresh programmer instances sharing
 * one "kernel", and an observer reading what that kernel balances.
 */
import type { ExecutionContext, TestFn } from 'ava'
import type { NetworkDesired, Programmer, SandboxSpec, ServiceSpec } from '../../src/dataplane/programmer/index.js'
import { slotTargets, type LbView } from '../../src/dataplane/lb/lb-view.js'

/** What a kernel balances for one network, as a user would see it. */
export interface Observed {
  /** LB addresses, one per family (IPv4 first). */
  lbAddresses: string[]
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
  return desiredV4(networkId, services, lbAddress)
}

function desiredV4 (networkId: string, services: Array<Partial<ServiceSpec> & { backends: ServiceSpec['backends'] }>, lbAddress = '10.77.0.2/16'): NetworkDesired {
  const svcs: ServiceSpec[] = services.map((s, i) => ({
    id: s.id ?? `svc${i}`,
    vip: s.vip ?? `10.77.255.${i + 1}`,
    ports: s.ports ?? [{ proto: 'tcp', port: 80, targetPort: 8080 }],
    backends: s.backends
  }))
  const sandbox: SandboxSpec = { networkId, lbAddresses: [lbAddress], lbMac: '02:42:0a:4d:00:02', services: svcs }
  return { sandbox, overlay: { networkId, vni: 4242, subnets: ['10.77.0.0/16'], localUnderlay: '', remotes: [] }, localTaskNetns: [] }
}

/** `n` backends 10.77.(i/250).(i%250+10), weight 1. */
export function backends (n: number, from = 0): ServiceSpec['backends'] {
  return Array.from({ length: n }, (_, j) => {
    const i = j + from
    return { ip: `10.77.${Math.floor(i / 250) + 1}.${(i % 250) + 2}`, weight: 1, draining: false }
  })
}

/** Address families the suite runs in: IPv4, IPv6 (every address of the IPv4 tests mapped by {@link to6}), dual-stack (both). */
export type SuiteFamily = '4' | '6' | 'dual'

/** The IPv6 twin of a test address `10.77.c.d` (and of its /16): `fd00:0:0:4d::c:d` (hex); an invalid address stays invalid. */
export function to6 (v4: string): string {
  const [ip, len] = v4.split('/')
  const o = (ip ?? '').split('.').map(Number)
  if (o.length !== 4 || o.some(x => !Number.isInteger(x) || x < 0 || x > 255)) return `fd00::zz${ip ?? ''}`
  // canonical text (RFC 5952), as the kernel reads it back
  const addr = canonical6(`fd00:${o[0].toString(16)}:${o[1].toString(16)}:0:0:0:${o[2].toString(16)}:${o[3].toString(16)}`)
  // a /16 of the tests is the /64 of its twin
  return len === undefined ? addr : len === '16' ? `${canonical6(`fd00:${o[0].toString(16)}:${o[1].toString(16)}::`)}/64` : `${addr}/${String(Number(len) + 96)}`
}

function canonical6 (a: string): string {
  return new URL(`http://[${a}]/`).hostname.slice(1, -1)
}

/** The IPv4 test address of an IPv6 twin ({@link to6}); other text is returned as is. */
function from6 (v6: string): string {
  if (!v6.startsWith('fd00:')) return v6
  const [head, tail] = v6.split('::')
  const h = (head ?? '').split(':')
  const tl = tail === undefined || tail === '' ? [] : tail.split(':')
  const g = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - tl.length).fill('0'), ...tl]
  return [g[1], g[2], g[6], g[7]].map(x => String(parseInt(x ?? '0', 16))).join('.')
}

/** A spec of the IPv4 tests in another family: IPv6 (every address mapped) or dual-stack (IPv6 twins beside). */
export function inFamily (d: NetworkDesired, fam: SuiteFamily): NetworkDesired {
  if (fam === '4') return d
  const sb = d.sandbox
  const lb = sb.lbAddresses[0] as string
  const lb6 = `${to6(lb.split('/')[0] as string)}/64`
  const services = sb.services.map((s): ServiceSpec => fam === '6'
    ? { ...s, vip: to6(s.vip), backends: s.backends.map(b => ({ ...b, ip: to6(b.ip) })) }
    : { ...s, vip6: to6(s.vip), backends: s.backends.map(b => ({ ...b, ip6: to6(b.ip) })) })
  const subnets6 = d.overlay.subnets.map(to6)
  return {
    ...d,
    sandbox: { ...sb, lbAddresses: fam === '6' ? [lb6] : [lb, lb6], services },
    overlay: { ...d.overlay, subnets: fam === '6' ? subnets6 : [...d.overlay.subnets, ...subnets6] }
  }
}

/** `fd00:..::c:d proto port` / `fd00:..::c:d:port` / `[fd00:..::c:d]:port` keys mapped back to their IPv4 test text. */
function keyFrom6 (k: string): string {
  const sp = k.split(' ')
  if (sp.length === 3) return [from6(sp[0] as string), sp[1], sp[2]].join(' ')
  const b = /^\[(.*)\]:(\d+)$/.exec(k)
  if (b !== null) return `${from6(b[1] as string)}:${b[2]}`
  const i = k.lastIndexOf(':')
  return `${from6(k.slice(0, i))}:${k.slice(i + 1)}`
}

/**
 * What the kernel balances in `fam` as the IPv4 tests expect it: IPv6 entries
 * mapped back; in dual-stack, the IPv4 half, after checking the IPv6 half is
 * its twin (throws otherwise).
 */
export function observedAs4 (o: Observed | undefined, fam: SuiteFamily): Observed | undefined {
  if (o === undefined || fam === '4') return o
  const is6 = (k: string): boolean => k.includes(':') && (k.split(' ').length === 3 ? (k.split(' ')[0] as string).includes(':') : true)
  const part = (six: boolean): Observed => {
    const services = new Map<string, Map<string, number>>()
    for (const [k, m] of o.services) {
      if (is6(k) !== six) continue
      services.set(six ? keyFrom6(k) : k, new Map([...m].map(([r, w]) => [six ? keyFrom6(r) : r, w])))
    }
    return {
      lbAddresses: o.lbAddresses.filter(a => a.includes(':') === six).map(a => six ? `${from6(a.split('/')[0] as string).split('.').slice(0, 2).join('.')}.0.2/16` : a),
      vips: o.vips.filter(v => v.includes(':') === six).map(v => six ? from6(v) : v).sort(),
      services,
      rejected: new Set([...o.rejected].filter(k => is6(k) === six).map(k => six ? keyFrom6(k) : k))
    }
  }
  const six = part(true)
  if (fam === '6') return six
  const four = part(false)
  const show = (x: Observed): string => JSON.stringify({ vips: x.vips, services: [...x.services].map(([k, m]) => [k, [...m]]).sort(), rejected: [...x.rejected].sort() })
  if (show(four) !== show(six)) throw new Error(`dual-stack: the IPv6 half differs from the IPv4 half:\n${show(four)}\n${show(six)}`)
  if (o.lbAddresses.length !== 2) throw new Error(`dual-stack: expected an LB address per family, got ${JSON.stringify(o.lbAddresses)}`)
  return four
}

/** Register the suite under `name` in IPv4, IPv6 and dual-stack; `make` builds a fresh environment per test. `skip` = reason to skip. */
export function runCompliance (test: TestFn, name: string, make: () => Promise<ComplianceEnv>, skip?: string): void {
  for (const fam of ['4', '6', 'dual'] as const) runComplianceIn(test, name, make, fam, skip)
}

function runComplianceIn (test: TestFn, name: string, makeEnv: () => Promise<ComplianceEnv>, fam: SuiteFamily, skip?: string): void {
  const t = skip === undefined ? test : test.skip
  const famName = fam === '4' ? 'IPv4' : fam === '6' ? 'IPv6' : 'dual-stack'
  const title = (s: string): string => `${name} ${famName}: ${s}${skip === undefined ? '' : ` (skipped: ${skip})`}`
  const desired = (networkId: string, services: Parameters<typeof desiredV4>[1]): NetworkDesired => inFamily(desiredV4(networkId, services), fam)
  const make = async (): Promise<ComplianceEnv> => {
    const env = await makeEnv()
    return {
      programmer: env.programmer,
      observe: async id => observedAs4(await env.observe(id), fam),
      cleanup: env.cleanup
    }
  }
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
    tt.deepEqual(o!.lbAddresses, ['10.77.0.2/16'])
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
export function observeLbView (v: LbView): Observed {
  const services = new Map<string, Map<string, number>>()
  for (const [k, table] of v.services) {
    const svc = k.split(' . ').join(' ')
    const m = new Map<string, number>()
    for (const val of slotTargets(table)) {
      const target = val.replace(' . ', ':')
      m.set(target, (m.get(target) ?? 0) + 1)
    }
    services.set(svc, m)
  }
  return { lbAddresses: [...v.lbAddresses], vips: [...v.vips].sort(), services, rejected: new Set([...v.noback].map(k => k.split(' . ').join(' '))) }
}
