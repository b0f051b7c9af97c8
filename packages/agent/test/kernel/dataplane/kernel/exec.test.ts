import { createKernel, netnsDelete, runCommand, sysctlSet } from '../../../../src/dataplane/kernel/index.js'
import { loadNftLibrary } from '../../../../src/dataplane/kernel/nft-lib.js'
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

rootTest('in-process nft keeps one context per named netns: dropped when the kernel deletes the netns, never used in a netns made again under the name, never kept for a netns given as a path', async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const lib = await loadNftLibrary()
  if (lib === undefined) { t.pass('libnftables not loadable here: nothing kept'); return }
  const k = lab.kernel
  const ns = await lab.netns('keep')
  const path = `/run/netns/${ns}`
  await k.run('nft', ['-f', '-'], { netns: ns, input: 'add table ip kept1\n' })
  await k.run('nft', ['-f', '-'], { netns: ns, input: 'add chain ip kept1 c\n' })
  t.true(lib.keeps(path), 'a context for the netns, kept across transactions')
  // changed behind the kept context's back (an `nft` process, as large scripts go): its cache follows the generation
  t.true((await runCommand('ip', ['netns', 'exec', ns, 'nft', 'delete table ip kept1; add table ip kept1; add chain ip kept1 d'])).ok)
  await k.run('nft', ['-f', '-'], { netns: ns, input: 'add rule ip kept1 d counter\n' })
  t.regex(await k.run('nft', ['list', 'chain', 'ip', 'kept1', 'd'], { netns: ns }), /counter/)
  await t.throwsAsync(k.run('nft', ['-f', '-'], { netns: ns, input: 'add rule ip kept1 c counter\n' }), { name: 'KernelCommandError' }, 'chain c went with the old table')
  await k.run('nft', ['-f', '-'], { netns: ns, input: 'add chain ip kept1 c\n' })
  // deleted behind the kernel's back and made again: the kept context belongs to the old netns
  t.true((await runCommand('ip', ['netns', 'delete', ns])).ok)
  t.is(await lab.netns('keep'), ns)
  await k.run('nft', ['-f', '-'], { netns: ns, input: 'add table ip kept2\n' })
  const tables = await k.run('nft', ['list', 'tables'], { netns: ns })
  t.regex(tables, /table ip kept2/, 'the transaction went to the netns the name stands for now')
  t.notRegex(tables, /kept1/)
  t.true(lib.keeps(path))
  // deleted through the kernel: its context goes first
  await netnsDelete(k, ns)
  t.false(lib.keeps(path))
  // given as a path (a task's netns, deleted by its owner at any time): a fresh context each time, as before
  const task = await lab.netns('task')
  await k.run('nft', ['-f', '-'], { netns: `/run/netns/${task}`, input: 'add table ip bypath\n' })
  t.false(lib.keeps(`/run/netns/${task}`))
  // a refused transaction drops the context (its cache may be half-made)
  const other = await lab.netns('other')
  await k.run('nft', ['-f', '-'], { netns: other, input: 'add table ip t1\n' })
  t.true(lib.keeps(`/run/netns/${other}`))
  await t.throwsAsync(k.run('nft', ['-f', '-'], { netns: other, input: 'add chain ip nosuchtable c\n' }), { name: 'KernelCommandError' })
  t.false(lib.keeps(`/run/netns/${other}`))
})
