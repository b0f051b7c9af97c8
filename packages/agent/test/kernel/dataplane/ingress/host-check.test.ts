import test from 'ava'
import { rootTest } from '@scalelb/test-support'
import { createHostIngress } from '../../../../src/dataplane/ingress/host.js'
import { emptyIngress, type IngressSpec } from '../../../../src/dataplane/spec/ingress.js'
import { createLab } from '../../../support/netns.js'

const spec: IngressSpec = {
  ...emptyIngress(),
  rules: [{ proto: 'tcp', port: 9000, networkId: 'n1', mode: 'ingress', to: [{ ip: '10.1.0.10', port: 80 }] }]
}

rootTest('host ingress: the periodic check finds the host table flushed or deleted behind the agent\'s back, and the next apply writes it again', async (t) => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const host = createHostIngress({ netnsPrefix: lab.prefix, kernel: lab.kernel })
  await host.apply(spec)
  const listing = async (): Promise<string> => await lab.kernel.run('nft', ['list', 'table', 'ip', host.table])
  const written = await listing()
  t.regex(written, /dport 9000 dnat (ip )?to 10\.1\.0\.10:80/)
  t.deepEqual(await host.check(), [], 'nothing drifted')
  t.is((await host.apply(spec)).transactions, 0, 'an unchanged apply writes nothing')
  for (const tamper of [['flush', 'chain', 'ip', host.table, 'prerouting'], ['delete', 'table', 'ip', host.table]]) {
    await lab.kernel.run('nft', tamper)
    t.deepEqual(await host.check(), [`table ip ${host.table}`], tamper.join(' '))
    t.is((await host.apply(spec)).transactions, 1)
    t.is(await listing(), written, `written again after: nft ${tamper.join(' ')}`)
    t.deepEqual(await host.check(), [])
  }
  await host.teardown()
})

test('host ingress check: nothing written, nothing to check', async (t) => {
  const calls: string[] = []
  const host = createHostIngress({ netnsPrefix: 't', kernel: { baseNetns: undefined, spawns: () => 0, run: async (cmd, args) => { calls.push(`${cmd} ${args.join(' ')}`); return '' } } })
  t.deepEqual(await host.check(), [])
  t.deepEqual(calls, [], 'no kernel read before the first apply')
})
