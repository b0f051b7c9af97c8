import test from 'ava'
import { computeIngress, ingressHoldNetworks } from '../../../src/state/ingress-desired.js'
import { createHostIngress, hostScript } from '../../../src/dataplane/ingress/host.js'
import type { Kernel, RunOptions } from '../../../src/dataplane/kernel/index.js'
import { emptyIngress } from '../../../src/dataplane/spec/ingress.js'
import { pickUplink, uplinkAddresses, uplinkIndexOf, UPLINK_PAIRS, gatewayScript } from '../../../src/dataplane/ingress/uplink.js'
import type { EndpointRecord } from '../../../src/state/desired.js'
import type { NetworkDesired } from '../../../src/dataplane/spec/types.js'
import type { NetworkValue, ServiceValue } from '../../../src/state/tables.js'

const net = (options: Record<string, string> = {}): NetworkValue => ({ name: 'n', subnets: ['10.1.0.0/24'], vni: 1, options })
const sandbox = (id: string, internal = false): NetworkDesired => ({
  sandbox: { networkId: id, lbAddresses: ['10.1.0.2/24'], lbMac: '02:00:00:00:00:01', services: [], ...(internal ? { internal: true } : {}) },
  overlay: { networkId: id, vni: 1, subnets: ['10.1.0.0/24'], localUnderlay: '', remotes: [] },
  localTaskNetns: []
})
const ep = (ip: string, node: string, service: string, state: 'ready' | 'draining' = 'ready'): EndpointRecord =>
  ({ key: `${node}/${ip}`, status: 'live', value: { kind: 'task', service, ip, mac: '02:00:00:00:00:02', node, state, originMs: 0 } })

test('uplink pairs: link-local /31s in 169.254.1.0-169.254.127.255, hash first, next free on a collision', (t) => {
  t.deepEqual(uplinkAddresses(0), { host: '169.254.1.0', sandbox: '169.254.1.1' })
  t.deepEqual(uplinkAddresses(UPLINK_PAIRS - 1), { host: '169.254.127.254', sandbox: '169.254.127.255' })
  t.is(uplinkIndexOf('169.254.1.1'), 0)
  t.is(uplinkIndexOf('169.254.1.0'), undefined)
  t.is(uplinkIndexOf('169.254.128.1'), undefined)
  const a = pickUplink('net-a', new Set())
  t.is(pickUplink('net-a', new Set()), a)
  t.is(pickUplink('net-a', new Set([a])), (a + 1) % UPLINK_PAIRS)
  t.throws(() => pickUplink('x', new Set(Array.from({ length: UPLINK_PAIRS }, (_, i) => i))), { instanceOf: RangeError })
  t.regex(gatewayScript(), /oifname "up0" masquerade/)
})

test('ingress spec: mode=ingress goes to the VIP through the network\'s uplink, mode=host to ready local tasks only', (t) => {
  const services = new Map<string, ServiceValue>([
    ['s1', { name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], vips: { n1: '10.1.0.10' }, publish: [{ proto: 'tcp', published: 9000, target: 8080, mode: 'ingress' }] }],
    ['s2', { name: 'api', ports: [{ proto: 'tcp', port: 81, targetPort: 81 }], vips: { n1: '10.1.0.11' }, publish: [{ proto: 'tcp', published: 9001, target: 81, mode: 'host' }] }],
    ['s3', { name: 'late', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], vips: { n1: '10.1.0.12' }, publish: [{ proto: 'tcp', published: 9000, target: 80, mode: 'ingress' }] }]
  ])
  const eps = [ep('10.1.0.21', 'me', 's2'), ep('10.1.0.20', 'me', 's2'), ep('10.1.0.22', 'me', 's2', 'draining'), ep('10.1.0.23', 'other', 's2')]
  const spec = computeIngress({ self: 'me', networks: new Map([['n1', net()]]), services, endpoints: () => eps, sandboxes: new Map([['n1', sandbox('n1')]]) })
  t.deepEqual(spec.uplinks, ['n1'])
  t.deepEqual(spec.rules, [
    { proto: 'tcp', port: 9000, networkId: 'n1', mode: 'ingress', to: [{ ip: '10.1.0.10', port: 80 }] },
    { proto: 'tcp', port: 9001, networkId: 'n1', mode: 'host', to: [{ ip: '10.1.0.20', port: 81 }, { ip: '10.1.0.21', port: 81 }] }
  ])
  t.deepEqual(spec.routes.map((r) => [r.ip, r.mac]), [['10.1.0.10', undefined], ['10.1.0.20', '02:00:00:00:00:02'], ['10.1.0.21', '02:00:00:00:00:02']], 'a VIP goes into the uplink, a mode=host task onto the bridge')
  t.deepEqual(spec.hostPorts.get('n1'), ['10.1.0.20 . tcp . 81', '10.1.0.21 . tcp . 81'])
  t.deepEqual([...spec.losers], [['s3', ['9000/tcp']]])
  const script = hostScript('scalelb_ingress_x', spec)
  t.regex(script, /fib daddr type local tcp dport 9000 dnat ip to 10\.1\.0\.10:80/)
  t.regex(script, /tcp dport 9001 dnat ip to numgen random mod 2 map \{ 0 : 10\.1\.0\.20 \. 81, 1 : 10\.1\.0\.21 \. 81 \}/)
  t.regex(script, /ip saddr 169\.254\.0\.0\/17 oifname != "su\*" masquerade/)
  t.regex(script, /elements = \{ 10\.1\.0\.20 \. tcp \. 81, 10\.1\.0\.21 \. tcp \. 81 \}/)
  t.regex(script, /iifname != "su\*" ip saddr \. meta l4proto \. th sport @hostports notrack/)
  t.regex(script, /iifname != "sb\*" oifname "sb\*" drop/)
})

test('ingress spec: no sandbox here, or an internal network: nothing published; no local task: no mode=host rule', (t) => {
  const services = new Map<string, ServiceValue>([
    ['s1', { name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], vips: { n1: '10.1.0.10' }, publish: [{ proto: 'tcp', published: 9000, target: 80, mode: 'host' }] }]
  ])
  const none = computeIngress({ self: 'me', networks: new Map([['n1', net()]]), services, endpoints: () => [], sandboxes: new Map([['n1', sandbox('n1')]]) })
  t.deepEqual(none.rules, [])
  const internal = computeIngress({ self: 'me', networks: new Map([['n1', net({ internal: 'true' })]]), services, endpoints: () => [ep('10.1.0.20', 'me', 's1')], sandboxes: new Map([['n1', sandbox('n1', true)]]) })
  t.deepEqual(internal.uplinks, [])
  t.deepEqual(internal.rules, [])
  t.deepEqual(ingressHoldNetworks(new Map([['n1', net()]]), services), [], 'mode=host needs no hold')
  const ing = new Map<string, ServiceValue>([['s1', { ...services.get('s1') as ServiceValue, publish: [{ proto: 'tcp', published: 9000, target: 80, mode: 'ingress' }] }]])
  t.deepEqual(ingressHoldNetworks(new Map([['n1', net()]]), ing), ['n1'])
  t.deepEqual(ingressHoldNetworks(new Map([['n1', net({ internal: 'true' })]]), ing), [])
})

test('host ingress: a sandbox\'s host-mode ports are written when they change or its uplink was made again, not on every pass', async (t) => {
  const calls: Array<{ cmd: string, netns: string | undefined, input: string }> = []
  const kernel: Kernel = {
    baseNetns: undefined,
    spawns: () => 0,
    run: async (cmd: string, args: readonly string[], opts: RunOptions = {}) => {
      calls.push({ cmd: `${cmd} ${args.join(' ')}`, netns: typeof opts.netns === 'string' ? opts.netns : undefined, input: opts.input ?? '' })
      return cmd === 'ip' && args.includes('route') ? '[]' : ''
    }
  }
  const host = createHostIngress({ netnsPrefix: 't', kernel })
  let stale = 0
  host.onStale(() => { stale++ })
  const spec = (ports: string[]): ReturnType<typeof emptyIngress> => ({ ...emptyIngress(), uplinks: ['n1', 'n2'], hostPorts: new Map([['n1', ports]]) })
  const gatewayWrites = (): string[] => calls.filter((c) => c.cmd === 'nft -f -' && c.netns !== undefined).map((c) => `${c.netns ?? ''}:${/elements|add element/.test(c.input) ? 'ports' : 'empty'}`)
  await host.apply(spec(['10.1.0.20 . tcp . 81']))
  t.is(gatewayWrites().length, 2, 'the first pass after a start writes every uplink\'s gateway table (an older agent\'s sandbox gets this version\'s chains)')
  t.true(gatewayWrites().some((w) => w.endsWith(':ports')))
  await host.apply(spec(['10.1.0.20 . tcp . 81']))
  await host.apply(spec(['10.1.0.20 . tcp . 81']))
  t.is(gatewayWrites().length, 2, 'an unchanged pass writes nothing into the sandboxes')
  await host.apply(spec(['10.1.0.20 . tcp . 81', '10.1.0.21 . tcp . 81']))
  t.is(gatewayWrites().length, 3, 'a change is written')
  host.sandboxMade('n1')
  t.is(stale, 1, 'a sandbox made again asks for a pass')
  await host.apply(spec(['10.1.0.20 . tcp . 81', '10.1.0.21 . tcp . 81']))
  t.is(gatewayWrites().length, 4, 'and its ports are written again')
  host.sandboxMade('n2')
  await host.apply(spec(['10.1.0.20 . tcp . 81', '10.1.0.21 . tcp . 81']))
  t.is(gatewayWrites().length, 4, 'a new sandbox without host-mode ports already has its empty set')
})

test('host ingress: a route the kernel holds for one address on two devices is read as two, and the stale one is deleted', async (t) => {
  const batches: string[] = []
  const kernel: Kernel = {
    baseNetns: undefined,
    spawns: () => 0,
    run: async (cmd: string, args: readonly string[], opts: RunOptions = {}) => {
      if (cmd === 'ip' && args.includes('route') && args.includes('show')) {
        return JSON.stringify([{ dst: '10.1.0.20', dev: 'suaaaa' }, { dst: '10.1.0.20', dev: 'sbbbbb' }])
      }
      if (cmd === 'ip' && args.includes('-batch')) batches.push(opts.input ?? '')
      return ''
    }
  }
  const host = createHostIngress({ netnsPrefix: 't', kernel })
  // the kernel's two routes: one kept (a VIP route into n1's uplink, whatever its name), one not wanted any more
  const spec = { ...emptyIngress(), routes: [{ ip: '10.1.0.21', networkId: 'n1' }] }
  await host.apply(spec)
  const text = batches.join('')
  t.regex(text, /route del 10\.1\.0\.20\/32 dev suaaaa/)
  t.regex(text, /route del 10\.1\.0\.20\/32 dev sbbbbb/)
})
