import { createSeededRng } from '@scalelb/gossip'
import test, { type ExecutionContext } from 'ava'
import { LbModel, replaceRange } from '../../../../src/dataplane/lb/lb-model.js'
import { diffScript, sameView, slotTargets, viewFromSpec, withChains, type LbView } from '../../../../src/dataplane/lb/lb-view.js'
import { addressLines } from '../../../../src/dataplane/lb/addresses.js'
import type { SandboxSpec, ServiceSpec } from '../../../../src/dataplane/spec/types.js'
import { backends, desired } from '../../../support/programmer-compliance.js'

/** Script lines with each element list split into one line per element, order-free within a line. */
function normalize (script: string): string[] {
  const out: string[] = []
  for (const line of script.split('\n').filter(l => l !== '')) {
    const m = /^(add|delete) element inet (\S+) (\S+) \{ (.*) \}$/.exec(line)
    if (m === null) out.push(line)
    else for (const item of m[4].split(', ')) out.push(`${m[1]} element ${m[3]} ${item}`)
  }
  return out.sort()
}

function copy (v: LbView): LbView {
  return { ...v, vips: [...v.vips], services: new Map(v.services), noback: new Set(v.noback), chains: new Set(v.chains) }
}

for (const sorted of [true, false]) {
  test(`incremental plans program exactly what a full build and diff would, over 300 random changes (ids ${sorted ? 'sorted' : 'unsorted'})`, t => {
    randomRun(t, sorted)
  })
}

function randomRun (t: ExecutionContext, sorted: boolean): void {
  const rng = createSeededRng(sorted ? 7 : 8)
  const random = (): number => rng.next()
  const pick = (n: number): number => Math.floor(random() * n)
  const base = desired('n', Array.from({ length: 40 }, (_, i) => ({ id: sorted ? `s${String(i).padStart(3, '0')}` : undefined, vip: `10.77.250.${i + 1}`, backends: backends(1 + (i % 5), i * 5) }))).sandbox
  let spec: SandboxSpec = base
  let nextVip = 100
  const model = new LbModel()
  let programmed: LbView | undefined
  for (let step = 0; step < 300; step++) {
    const services = [...spec.services]
    const i = pick(services.length)
    const svc = services[i]
    switch (pick(7)) {
      case 0: // replace one backend
        services[i] = { ...svc, backends: svc.backends.map((b, j) => j === 0 ? { ...b, ip: `10.77.9.${1 + pick(250)}` } : b) }
        break
      case 1: // drain or weigh
        services[i] = { ...svc, backends: svc.backends.map(b => ({ ...b, draining: random() < 0.3, weight: 1 + pick(3) })) }
        break
      case 2: // no backend: rejected
        services[i] = { ...svc, backends: [] }
        break
      case 3: // a new service in the middle (shifts every later one)
        services.splice(i, 0, { id: `new${step}`, vip: `10.77.251.${nextVip++ % 250 + 1}`, ports: [{ proto: 'udp', port: 53, targetPort: 5353 }], backends: backends(1 + pick(4)) })
        break
      case 4: // a service removed
        if (services.length > 1) services.splice(i, 1)
        break
      case 5: // same content, new object (as the agent's desired-state function gives)
        services[i] = { ...svc, ports: svc.ports.map(p => ({ ...p })), backends: svc.backends.map(b => ({ ...b })) }
        break
      default: // a second port
        services[i] = { ...svc, ports: [...svc.ports.filter(p => p.port !== 443 && p.port !== 444), { proto: 'tcp', port: 443 + pick(2), targetPort: 8443 }] }
    }
    if (sorted) services.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    spec = { ...spec, lbAddresses: step === 150 ? ['10.77.0.3/16'] : spec.lbAddresses, services }
    const full = viewFromSpec(spec)
    const before = programmed === undefined ? undefined : copy(programmed)
    const plan = model.plan(spec, programmed)
    t.is(plan.empty, before !== undefined && sameView(before, full), `step ${step}: empty`)
    t.deepEqual(normalize(plan.script('tbl')), normalize(before !== undefined && sameView(before, full) ? '' : diffScript('tbl', before, full)), `step ${step}: script`)
    t.deepEqual(plan.addressLines(), plan.empty ? [] : addressLines(before, full), `step ${step}: addresses`)
    programmed = plan.commit()
    t.true(sameView(programmed, full), `step ${step}: view`)
    t.deepEqual(programmed.chains, withChains(before, full).chains, `step ${step}: chains`)
  }
}

test('an update touches only the services that changed; bad input is refused and nothing is recorded', t => {
  const services: ServiceSpec[] = Array.from({ length: 1000 }, (_, i) => ({
    id: `s${i}`, vip: `10.77.${200 + (i >> 8)}.${i & 255}`, ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], backends: backends(3, i * 3)
  }))
  const spec: SandboxSpec = { networkId: 'n', lbAddresses: ['10.77.0.2/16'], lbMac: '02:42:0a:4d:00:02', services }
  const model = new LbModel()
  const first = model.plan(spec, undefined)
  t.true(first.script('tbl').startsWith('add table inet tbl'))
  const view = first.commit()
  // one backend of service 500 replaced
  const s500 = services[500]
  services[500] = { ...s500, backends: [s500.backends[0], s500.backends[1], { ip: '10.77.100.1', weight: 1, draining: false }] }
  const plan = model.plan(spec, view)
  t.deepEqual(normalize(plan.script('tbl')), [
    `add element backends_tcp ${s500.vip} . 80 . 2 : 10.77.100.1 . 8080`,
    `delete element backends_tcp ${s500.vip} . 80 . 2`
  ].sort())
  t.deepEqual(plan.addressLines(), [])
  t.is(plan.commit(), view)
  t.deepEqual(slotTargets(view.services.get(`${s500.vip} . tcp . 80`)!), [`${s500.backends[0].ip} . 8080`, `${s500.backends[1].ip} . 8080`, '10.77.100.1 . 8080'])

  // a changed service with a bad backend: the field is named, the next good plan starts from the last commit
  const good = services[10]
  services[10] = { ...good, backends: [{ ip: '10.77.1.999', weight: 1, draining: false }] }
  t.regex(t.throws(() => model.plan(spec, view))!.message, /services\[10\]\.backends\[0\]\.ip/)
  // a VIP port taken twice: the same error a full build gives
  services[10] = { ...good, vip: services[11].vip }
  t.is(t.throws(() => model.plan(spec, view))!.message, t.throws(() => viewFromSpec(spec))!.message)
  services[10] = good
  const back = model.plan(spec, view)
  t.true(back.empty)
  // a view the model did not produce (adoption) gets a full diff
  const adopted = copy(view)
  adopted.services.delete(`${good.vip} . tcp . 80`)
  t.deepEqual(normalize(model.plan(spec, adopted).script('tbl')), normalize(diffScript('tbl', adopted, viewFromSpec(spec))))
})

test('replaceRange replaces a window in place, growing, shrinking or keeping the length', t => {
  for (const [start, count, items] of [[1, 1, ['x']], [1, 2, ['x', 'y', 'z', 'w']], [0, 4, ['x']], [5, 0, ['x', 'y']], [2, 3, []], [0, 0, []]] as Array<[number, number, string[]]>) {
    const a = ['a', 'b', 'c', 'd', 'e']
    const want = [...a]
    want.splice(start, count, ...items)
    const same = a
    replaceRange(a, start, count, items)
    t.is(a, same)
    t.deepEqual(a, want, `replaceRange(${start}, ${count}, ${items.join(',')})`)
  }
})

test('the model keeps its own copy of the service list: a caller changing its array in place between applies is seen', t => {
  const spec = desired('n', [{ backends: backends(2) }, { vip: '10.77.250.2', backends: backends(2, 10) }]).sandbox
  const services = [...spec.services]
  const model = new LbModel()
  let view = model.plan({ ...spec, services }, undefined).commit()
  const svc = services[1] as ServiceSpec
  services[1] = { ...svc, backends: svc.backends.map((b, j) => j === 0 ? { ...b, ip: '10.77.9.99' } : b) }
  const plan = model.plan({ ...spec, services }, view)
  t.false(plan.empty)
  t.regex(plan.script('tbl'), /10\.77\.9\.99/)
  view = plan.commit()
  t.true(sameView(view, viewFromSpec({ ...spec, services })))
  t.true(model.plan({ ...spec, services }, view).empty)
})
