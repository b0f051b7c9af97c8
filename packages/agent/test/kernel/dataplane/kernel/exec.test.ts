import { createKernel, sysctlSet } from '../../../../src/dataplane/kernel/index.js'
import { rootTest } from '@scalelb/test-support'
import { createLab } from '../../../support/netns.js'

rootTest(`a kernel with a base netns runs everything there; nft -f reads stdin`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  await lab.kernel.run('nft', ['-f', '-'], { input: 'add table ip scalelbtest\n' })
  t.regex(await lab.kernel.run('nft', ['list', 'tables']), /table ip scalelbtest/)
  t.notRegex(await createKernel().run('nft', ['list', 'tables']), /scalelbtest/)
})

rootTest(`sysctlSet writes /proc/sys inside the netns and refuses anything but key.path=number`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  await sysctlSet(lab.kernel, ['net.ipv4.ip_forward=1'])
  t.is(await lab.kernel.run('cat', ['/proc/sys/net/ipv4/ip_forward']), '1')
  t.is((await t.throwsAsync(sysctlSet(lab.kernel, ['net.ipv4.ip_forward=1; reboot'])))?.name, 'KernelStateError')
})
