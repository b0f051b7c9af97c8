import test from 'ava'
import { createMemoryKernel, createMemoryProgrammer, createProgrammer, MemoryProgrammer } from '../../../../src/dataplane/programmer/index.js'
import { MEMORY_OPS_KEPT } from '../../../../src/dataplane/programmer/memory.js'
import { backends, desired, observeLbView, runCompliance } from '../../../support/programmer-compliance.js'

runCompliance(test, 'memory', async () => {
  const kernel = createMemoryKernel()
  return {
    programmer: () => createMemoryProgrammer({ netnsPrefix: 'm', kernel }),
    observe: async id => {
      const lb = kernel.networks.get(id)?.lb
      return lb === undefined ? undefined : observeLbView(lb)
    },
    cleanup: async () => {}
  }
})

test('memory: records each operation with the nft script it stands for', async t => {
  const p = createMemoryProgrammer({ netnsPrefix: 'm' })
  await p.apply(desired('netA', [{ backends: backends(2) }]))
  await p.apply(desired('netA', [{ backends: backends(3) }]))
  await p.apply(desired('netA', [{ backends: backends(2, 1) }]))
  await p.remove('netA')
  const ops = p.operations()
  t.deepEqual(ops.map(o => o.op), ['apply', 'apply', 'apply', 'remove'])
  t.regex(ops[0].nft[0], /add table inet scalelb_/)
  t.regex(ops[0].ip.join('\n'), /addr add 10\.77\.255\.1\/32 dev lb0/)
  // 3 slots: the m3 chain appears once, in the same transaction
  t.regex(ops[1].nft[0], /add chain inet scalelb_\w+ m3\n/)
  t.regex(ops[1].nft[0], /add element inet scalelb_\w+ backends_tcp \{ 10\.77\.255\.1 \. 80 \. 2 : 10\.77\.1\.4 \. 8080 \}/)
  // back to 2 slots (other backends): element-only, a changed element is delete + add
  t.notRegex(ops[2].nft[0], /table|chain|rule/)
  t.regex(ops[2].nft[0], /delete element inet scalelb_\w+ backends_tcp \{ 10\.77\.255\.1 \. 80 \. 0, 10\.77\.255\.1 \. 80 \. 1, 10\.77\.255\.1 \. 80 \. 2 \}\nadd element/)
  t.deepEqual(p.networks(), [])
})

test('memory: per-container mode programs every task netns (a task add costs C transactions)', async t => {
  const perNet = createProgrammer('memory', { netnsPrefix: 'm' })
  const perCtr = createProgrammer('memory', { netnsPrefix: 'm', lbMode: 'per-container' })
  const tasks = ['/run/netns/a', '/run/netns/b', '/run/netns/c', '/run/netns/d']
  const d = { ...desired('netB', [{ backends: backends(4) }]), localTaskNetns: tasks }
  await perNet.apply(d)
  await perCtr.apply(d)
  const d2 = { ...desired('netB', [{ backends: backends(5) }]), localTaskNetns: tasks }
  t.is((await perNet.apply(d2)).transactions, 1)
  t.is((await perCtr.apply(d2)).transactions, tasks.length)
  t.true(perCtr.kernelObjects() > perNet.kernelObjects() * 2)
})

test('memory: failNext makes the next apply fail with a typed error', async t => {
  const p = createMemoryProgrammer({ netnsPrefix: 'm' })
  t.true(p instanceof MemoryProgrammer)
  p.failNext()
  const err = await t.throwsAsync(p.apply(desired('netC', [{ backends: backends(1) }])))
  t.is(err?.name, 'InjectedFailureError')
  // bridge, addresses, nft table: 3 transactions
  t.is((await p.apply(desired('netC', [{ backends: backends(1) }]))).transactions, 3)
})

test('createProgrammer refuses an unknown kind or LB mode', t => {
  t.is(t.throws(() => createProgrammer('bpf' as 'nft', { netnsPrefix: 'x' }))?.name, 'UnknownProgrammerError')
  t.is(t.throws(() => createProgrammer('memory', { netnsPrefix: 'x', lbMode: 'per-node' as 'per-network' }))?.name, 'UnknownProgrammerError')
})

test('memory: keeps the newest MEMORY_OPS_KEPT operations, not every script since start', async t => {
  const p = createMemoryProgrammer({ netnsPrefix: 'm' })
  const rounds = 2 * MEMORY_OPS_KEPT + 3
  for (let i = 0; i < rounds; i++) await p.apply(desired('netA', [{ backends: backends(1 + (i % 2)) }]))
  await p.remove('netA')
  const ops = p.operations()
  t.is(ops.length, MEMORY_OPS_KEPT)
  t.is(ops.at(-1)?.op, 'remove')
  // the counters still count every transaction
  t.true(p.counters().transactions > ops.reduce((n, o) => n + o.transactions, 0))
})
