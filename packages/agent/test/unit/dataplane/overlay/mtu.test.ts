import test from 'ava'
import { DEFAULT_MTU_POLICY, deriveOverlayMtu, mtuProblem, networkMtu, parseMtuText, resolveMtuPolicy } from '../../../../src/dataplane/overlay/index.js'

test('derived overlay MTU = underlay MTU - 50 (VXLAN over IPv4)', (t) => {
  t.is(deriveOverlayMtu(1500), 1450)
  t.is(deriveOverlayMtu(9000), 8950)
  t.deepEqual(resolveMtuPolicy(undefined, 1500), { policy: { mtu: 1450, max: 1450 } })
  t.deepEqual(resolveMtuPolicy(undefined, 9000), { policy: { mtu: 8950, max: 8950 } })
  t.deepEqual(resolveMtuPolicy(undefined, undefined), { policy: DEFAULT_MTU_POLICY }, 'no underlay interface: 1450, unchecked')
})

test('over an IPv6 underlay the overhead is 70: 1430 for 1500, and the refusal names 70 bytes over IPv6', (t) => {
  t.is(deriveOverlayMtu(1500, 6), 1430)
  t.deepEqual(resolveMtuPolicy(undefined, 1500, 6), { policy: { mtu: 1430, max: 1430, overhead: 70 } })
  t.deepEqual(resolveMtuPolicy(undefined, undefined, 6), { policy: { mtu: 1430, max: undefined, overhead: 70 } }, 'unknown interface: 1500 - 70')
  t.regex(resolveMtuPolicy(1431, 1500, 6).problem ?? '', /does not fit the underlay: its MTU 1500 minus 70 bytes of VXLAN over IPv6 leaves at most 1430/)
  t.regex(mtuProblem(1451, 1430, 70) ?? '', /its MTU 1500 minus 70 bytes of VXLAN over IPv6/)
})

test('a configured MTU wins when it fits the underlay, and is refused with the reason when it does not', (t) => {
  t.deepEqual(resolveMtuPolicy(1400, 1500), { policy: { mtu: 1400, max: 1450 } })
  t.deepEqual(resolveMtuPolicy(1450, 1500).problem, undefined)
  t.regex(resolveMtuPolicy(1451, 1500).problem ?? '', /does not fit the underlay: its MTU 1500 minus 50 bytes of VXLAN over IPv4 leaves at most 1450/)
  t.regex(resolveMtuPolicy(1279, undefined).problem ?? '', /at least 1280/)
  t.regex(resolveMtuPolicy(undefined, 1300).problem ?? '', /at least 1280/, 'an underlay too small for the minimum is named too')
})

test('MTU bounds: 1280 (IPv6 minimum) .. 65535, integers only', (t) => {
  t.is(mtuProblem(1280, undefined), undefined)
  t.is(mtuProblem(65535, undefined), undefined)
  t.truthy(mtuProblem(576, undefined))
  t.truthy(mtuProblem(65536, undefined))
  t.truthy(mtuProblem(1400.5, undefined))
  t.is(parseMtuText('1400'), 1400)
  t.is(parseMtuText(' 1400 '), 1400)
  for (const bad of ['', '14OO', '-1', '1e3', '0x500', '1400.0']) t.is(parseMtuText(bad), undefined, bad)
})

test('precedence: the network\'s own mtu > the agent\'s; too large for this underlay is clamped; invalid is ignored', (t) => {
  const policy = { mtu: 1400, max: 1450 }
  t.deepEqual(networkMtu({}, policy), { mtu: 1400 })
  t.deepEqual(networkMtu(undefined, policy), { mtu: 1400 })
  t.deepEqual(networkMtu({ mtu: '1300' }, policy), { mtu: 1300, requested: '1300' })
  t.deepEqual(networkMtu({ mtu: '8950' }, policy), { mtu: 1450, issue: 'too-large', requested: '8950' })
  t.deepEqual(networkMtu({ mtu: '8950' }, { mtu: 1450, max: undefined }), { mtu: 8950, requested: '8950' }, 'unknown underlay: taken as is')
  t.deepEqual(networkMtu({ mtu: 'big' }, policy), { mtu: 1400, issue: 'invalid', requested: 'big' })
  t.deepEqual(networkMtu({ mtu: '100' }, policy), { mtu: 1400, issue: 'invalid', requested: '100' })
  t.deepEqual(networkMtu(Object.create({ mtu: '1300' }) as Record<string, string>, policy), { mtu: 1400 }, 'own keys only')
})
