import test from 'ava'
import { bridgeName, createKernel, IFNAME_MAX_CHARS, lbNetnsName, lbVethName, taskVethName, vxlanName, wrapNetns } from '../../../../src/dataplane/kernel/index.js'

test('wrapNetns enters a named netns with ip netns exec and a path with nsenter', t => {
  t.deepEqual(wrapNetns(undefined, 'nft', ['-f', '-']), ['nft', ['-f', '-']])
  t.deepEqual(wrapNetns('lb1', 'nft', ['-f', '-']), ['ip', ['netns', 'exec', 'lb1', 'nft', '-f', '-']])
  t.deepEqual(wrapNetns('/proc/7/ns/net', 'ip', ['link']), ['nsenter', ['--net=/proc/7/ns/net', '--', 'ip', 'link']])
})

test('derived interface names fit IFNAMSIZ and differ per prefix and network', t => {
  const id = 'f'.repeat(64)
  for (const n of [bridgeName('p', id), vxlanName('p', id), lbVethName('p', id), taskVethName('p', id, '/proc/1/ns/net')]) t.true(n.length <= IFNAME_MAX_CHARS, n)
  t.not(bridgeName('p', id), bridgeName('q', id))
  t.not(bridgeName('p', id), bridgeName('p', `${id}0`))
  t.is(lbNetnsName('agent1-', 'abcdef0123456789'), 'agent1-lb-abcdef012345')
})

test('a failing command rejects with KernelCommandError naming the command and its stderr; spawns are counted', async t => {
  const k = createKernel()
  const err = await t.throwsAsync(k.run('ip', ['link', 'show', 'dev', 'scalelb-none0']))
  t.is(err?.name, 'KernelCommandError')
  t.regex(err!.message, /ip link show dev scalelb-none0: .*(does not exist|Cannot find)/)
  t.is(k.spawns(), 1)
  t.regex(await k.run('ip', ['-j', 'link', 'show', 'dev', 'lo']), /"ifname":"lo"/)
  t.is(k.spawns(), 2)
})
