import test from 'ava'
import { compareIp } from '../../../../src/dataplane/lb/slots.js'

test('address order: numeric, IPv4 before IPv6, every IPv6 text form (compressed, upper case, embedded IPv4) by its value', (t) => {
  const sorted = ['10.0.0.2', '10.0.0.10', '9.0.0.1', 'fd00::10', 'FD00::9', '::ffff:10.0.0.1', '::ffff:9.0.0.1', '::1', 'fd00:0:0:0:0:0:0:a']
    .sort(compareIp)
  t.deepEqual(sorted, ['9.0.0.1', '10.0.0.2', '10.0.0.10', '::1', '::ffff:9.0.0.1', '::ffff:10.0.0.1', 'FD00::9', 'fd00:0:0:0:0:0:0:a', 'fd00::10'])
  t.is(compareIp('fd00::a', 'FD00:0::A'), 0)
})
