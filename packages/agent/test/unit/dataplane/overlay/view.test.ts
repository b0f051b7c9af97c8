import test from 'ava'
import { overlayDiff, overlayViewFromSpec } from '../../../../src/dataplane/overlay/index.js'
import type { OverlaySpec } from '../../../../src/dataplane/programmer/index.js'

const names = { bridge: 'sbX', vxlan: 'sxX' }
const spec = (remotes: OverlaySpec['remotes']): OverlaySpec => ({ networkId: 'n1', vni: 42, subnets: ['10.1.0.0/24'], localUnderlay: '192.168.1.1', remotes })
const R1 = { ip: '10.1.0.7', mac: '02:00:00:00:00:07', underlay: '192.168.1.2' }
const R2 = { ip: '10.1.0.8', mac: '02:00:00:00:00:08', underlay: '192.168.1.3' }

test('first apply creates bridge and VXLAN (VNI, local, 4789, nolearning, proxy) and every remote in two batches', t => {
  const b = overlayDiff(names, undefined, overlayViewFromSpec(spec([R1, R2])))
  t.deepEqual(b.ip.slice(0, 6), [
    'link add sbX mtu 1450 type bridge', 'link set sbX alias n1', 'link set sbX up',
    'link add sxX mtu 1450 type vxlan id 42 local 192.168.1.1 dstport 4789 nolearning proxy', 'link set sxX master sbX', 'link set sxX up'
  ])
  t.true(b.ip.includes('neigh replace 10.1.0.7 lladdr 02:00:00:00:00:07 dev sxX nud permanent'))
  t.true(b.bridge.includes('fdb append 00:00:00:00:00:00 dev sxX dst 192.168.1.2 self permanent'))
  t.true(b.bridge.includes('fdb replace 02:00:00:00:00:08 dev sxX dst 192.168.1.3 self permanent'))
})

test('a remote leaving removes exactly its neighbour, FDB and flooding entries; local endpoints are skipped', t => {
  const v1 = overlayViewFromSpec(spec([R1, R2, { ip: '10.1.0.9', mac: '02:00:00:00:00:09', underlay: '192.168.1.1' }]))
  t.false(v1.neigh.has('10.1.0.9'))
  const b = overlayDiff(names, v1, overlayViewFromSpec(spec([R1])))
  t.deepEqual(b.ip, ['neigh del 10.1.0.8 dev sxX'])
  t.deepEqual(b.bridge, ['fdb del 02:00:00:00:00:08 dev sxX dst 192.168.1.3 self', 'fdb del 00:00:00:00:00:00 dev sxX dst 192.168.1.3 self'])
})

test('the overlay MTU: bridge and VXLAN device are created with it, and a changed MTU sets both in place', t => {
  const b = overlayDiff(names, undefined, overlayViewFromSpec({ ...spec([R1]), mtu: 8950 }))
  t.true(b.ip.includes('link add sbX mtu 8950 type bridge'))
  t.true(b.ip.includes('link add sxX mtu 8950 type vxlan id 42 local 192.168.1.1 dstport 4789 nolearning proxy'))
  // an adopted overlay at the wrong MTU (read back from the kernel)
  const adopted = { ...overlayViewFromSpec(spec([R1])), mtu: 1500 }
  const fix = overlayDiff(names, adopted, overlayViewFromSpec(spec([R1])))
  t.deepEqual(fix.ip, ['link set sbX mtu 1450', 'link set sxX mtu 1450'])
  t.deepEqual(fix.bridge, [])
  t.is(t.throws(() => overlayViewFromSpec({ ...spec([]), mtu: 70000 }))?.message.includes('overlay.mtu'), true)
})

test('with an overlay netns: the bridge there first, the VXLAN device made on the host (its socket on the underlay) and moved, a host veth named as the bridge, the MTU', t => {
  const ns = { ...names, netns: 'pov-n1' }
  const b = overlayDiff(ns, undefined, overlayViewFromSpec(spec([R1])))
  t.deepEqual(b.pre, ['link add sbX mtu 1450 type bridge', 'link set sbX alias n1', 'link set sbX up'])
  t.deepEqual(b.host, [
    'link add sbX mtu 1450 type veth peer name host0 mtu 1450 netns pov-n1', 'link set sbX up',
    'link add sxX mtu 1450 type vxlan id 42 local 192.168.1.1 dstport 4789 nolearning proxy', 'link set sxX netns pov-n1'
  ])
  t.deepEqual(b.ip.slice(0, 4), ['link set host0 master sbX', 'link set host0 up', 'link set sxX master sbX', 'link set sxX up'])
  t.true(b.ip.includes('neigh replace 10.1.0.7 lladdr 02:00:00:00:00:07 dev sxX nud permanent'))
  // a changed VNI: the old device goes in the netns, the new one is made on the host and moved
  const vni = overlayDiff(ns, overlayViewFromSpec(spec([R1])), overlayViewFromSpec({ ...spec([R1]), vni: 43 }))
  t.deepEqual(vni.pre, ['link del sxX'])
  t.deepEqual(vni.host, ['link add sxX mtu 1450 type vxlan id 43 local 192.168.1.1 dstport 4789 nolearning proxy', 'link set sxX netns pov-n1'])
  // the same change without one: every link line in `ip`, none elsewhere
  const plain = overlayDiff(names, undefined, overlayViewFromSpec(spec([R1])))
  t.deepEqual([plain.pre, plain.host], [[], []])
})

test('bad overlay input names the field', t => {
  t.regex(t.throws(() => overlayViewFromSpec({ ...spec([]), vni: 1 << 24 }))!.message, /overlay\.vni/)
  t.regex(t.throws(() => overlayViewFromSpec(spec([{ ...R1, mac: 'zz' }])))!.message, /overlay\.remotes\[0\]\.mac/)
  t.is(t.throws(() => overlayViewFromSpec({ ...spec([]), localUnderlay: '1.2.3' }))?.name, 'ProgrammerInputError')
})
