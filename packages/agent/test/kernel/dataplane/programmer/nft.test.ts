import { spawn } from 'node:child_process'
import test from 'ava'
import { createKernel, lbNetnsName, nftTableName, uplinkHostName, type Kernel } from '../../../../src/dataplane/kernel/index.js'
import { createProgrammer } from '../../../../src/dataplane/programmer/index.js'
import { readSandbox } from '../../../../src/dataplane/lb/nft-backend.js'
import { rootTest, isRoot } from '@scalelb/test-support'
import { createLab, netnsWithPrefix } from '../../../support/netns.js'
import { backends, desired, observeLbView, runCompliance } from '../../../support/programmer-compliance.js'

runCompliance(test, 'nft', async () => {
  const lab = await createLab()
  return {
    programmer: () => createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel }),
    observe: async id => {
      const r = await readSandbox(lab.kernel, lbNetnsName(lab.prefix, id), nftTableName, {})
      return r.view === undefined ? undefined : observeLbView(r.view)
    },
    cleanup: async () => { await lab.cleanup() }
  }
}, isRoot ? undefined : 'needs root')


rootTest(`nft: a sandbox that cannot be adopted (its table was deleted) is rebuilt`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const id = 'brokennet0123456'
  const d = desired(id, [{ backends: backends(3) }])
  await createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel }).apply(d)
  await lab.kernel.run('nft', ['delete', 'table', 'inet', nftTableName(id)], { netns: lbNetnsName(lab.prefix, id) })
  const p = createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel })
  await p.adopt(new Map([[id, d]]))
  // the unreadable sandbox is removed at adoption (its bridge stays, adopted)
  t.false((await netnsWithPrefix(lab.prefix)).includes(lbNetnsName(lab.prefix, id)))
  t.true((await p.apply(d)).transactions > 0)
  t.true(await p.verify(id))
  const r = await readSandbox(lab.kernel, lbNetnsName(lab.prefix, id), nftTableName, {})
  t.is(r.view?.services.get('10.77.255.1 . tcp . 80')?.ips.length, 3)
})

rootTest('nft: a backend change runs in-process (no nft process), the same state as `nft -f -` gives', async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const spawned = createKernel({ baseNetns: lab.kernel.baseNetns, nftInProcess: false })
  const viaLib = createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel })
  const viaNft = createProgrammer('nft', { netnsPrefix: `${lab.prefix}s`, kernel: spawned })
  const a = 'inprocnet0123456'
  const b = 'spawnnet01234567'
  await viaLib.apply(desired(a, [{ backends: backends(3) }]))
  await viaNft.apply(desired(b, [{ backends: backends(3) }]))
  t.teardown(async () => { await viaNft.remove(b) })
  const libUpdate = await viaLib.apply(desired(a, [{ backends: backends(4) }]))
  const nftUpdate = await viaNft.apply(desired(b, [{ backends: backends(4) }]))
  t.is(libUpdate.transactions, 1)
  t.is(libUpdate.spawns, 0, 'no process for a one-backend change')
  t.is(nftUpdate.transactions, 1)
  t.is(nftUpdate.spawns, 1)
  const ra = await readSandbox(lab.kernel, lbNetnsName(lab.prefix, a), nftTableName, {})
  const rb = await readSandbox(lab.kernel, lbNetnsName(`${lab.prefix}s`, b), nftTableName, {})
  t.deepEqual(ra.view === undefined ? undefined : observeLbView(ra.view), rb.view === undefined ? undefined : observeLbView(rb.view))
  t.is(ra.view?.services.get('10.77.255.1 . tcp . 80')?.ips.length, 4)
  // a script the kernel refuses: a KernelCommandError with nft's message, nothing applied
  const err = await t.throwsAsync(lab.kernel.run('nft', ['-f', '-'], { netns: lbNetnsName(lab.prefix, a), input: `add element ip ${nftTableName(a)} nosuchmap { 1.2.3.4 }\n` }))
  t.is(err?.name, 'KernelCommandError')
  t.regex(err?.message ?? '', /nosuchmap|No such file/)
})

rootTest('nft: in-process transactions hold up under a storm of signals (SIGCHLD from child processes ends a wait in libnftables)', async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const id = 'signalnet0123456'
  const ns = lbNetnsName(lab.prefix, id)
  await createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel }).apply(desired(id, [{ backends: backends(1) }]))
  await lab.kernel.run('nft', ['-f', '-'], { netns: ns, input: 'add table ip signaltest\nadd set ip signaltest seen { type ipv4_addr ; }\n' })
  // SIGCHLD as the agent's own children send it: libuv's handler (installed with the first child) only wakes the loop
  const storm = spawn('sh', ['-c', `while kill -s CHLD ${process.pid}; do :; done`], { stdio: 'ignore' })
  t.teardown(() => { storm.kill('SIGKILL') })
  const failures: string[] = []
  const spawnsBefore = lab.kernel.spawns()
  for (let i = 0; i < 500; i++) {
    const op = i % 2 === 0 ? 'add' : 'delete'
    try {
      await lab.kernel.run('nft', ['-f', '-'], { netns: ns, input: `${op} element ip signaltest seen { 10.99.${i >> 9}.${(i >> 1) & 255} }\n` })
    } catch (err) {
      failures.push((err as Error).message)
    }
  }
  t.is(lab.kernel.spawns(), spawnsBefore, 'every transaction ran in-process')
  t.deepEqual(failures, [])
})

rootTest('nft: verify sees a table or address changed behind the agent\'s back, and checks an untouched sandbox without reading its table', async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const id = 'tampernet0123456'
  const ns = lbNetnsName(lab.prefix, id)
  const calls: string[] = []
  const k: Kernel = {
    baseNetns: lab.kernel.baseNetns,
    spawns: () => lab.kernel.spawns(),
    run: async (cmd, args, opts) => { calls.push(`${cmd} ${args.join(' ')}`); return await lab.kernel.run(cmd, args, opts) },
    nftGeneration: async (netns) => await lab.kernel.nftGeneration?.(netns)
  }
  const tableReads = (): number => calls.filter((c) => c.includes('list table')).length
  const p = createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: k })
  const d = desired(id, [{ backends: backends(3) }])
  await p.apply(d)
  const g0 = await lab.kernel.nftGeneration?.(ns)
  t.not(g0, undefined, 'the nf_tables generation is readable')
  let reads = tableReads()
  const spawns = lab.kernel.spawns()
  t.true(await p.verify(id))
  t.is(tableReads(), reads, 'an untouched sandbox is verified without listing its table')
  t.is(lab.kernel.spawns(), spawns, "lb0's addresses are read in-process, without an `ip` process")
  // a map flushed by someone else: the generation moved, the full read finds it
  await lab.kernel.run('nft', ['flush', 'map', 'inet', nftTableName(id), 'backends_tcp'], { netns: ns })
  t.not(await lab.kernel.nftGeneration?.(ns), g0)
  reads = tableReads()
  t.false(await p.verify(id))
  t.is(tableReads(), reads + 1)
  // a VIP address removed: nf_tables untouched, the address read finds it
  await p.remove(id)
  await p.apply(d)
  t.true(await p.verify(id))
  await lab.kernel.run('ip', ['addr', 'del', '10.77.255.1/32', 'dev', 'lb0'], { netns: ns })
  t.false(await p.verify(id))
  // the way the reconciler resyncs (adopt reads the kernel back, apply repairs): the VIP is back, the check passes
  await p.adopt(new Map([[id, d]]))
  t.true((await p.apply(d)).transactions > 0)
  t.true(await p.verify(id))
  // a VIP changed to another address (same count), and a stray address beside the right ones: both found, both repaired
  for (const drift of [['addr del 10.77.255.1/32 dev lb0', 'addr add 10.77.255.99/32 dev lb0'], ['addr add 10.77.255.98/32 dev lb0']]) {
    await lab.kernel.run('ip', ['-batch', '-'], { netns: ns, input: drift.join('\n') + '\n' })
    t.false(await p.verify(id), drift.join('; '))
    await p.adopt(new Map([[id, d]]))
    await p.apply(d)
    t.true(await p.verify(id), `repaired: ${drift.join('; ')}`)
  }
  const addrs = await lab.kernel.run('ip', ['-j', 'addr', 'show', 'dev', 'lb0'], { netns: ns })
  t.true(addrs.includes('"10.77.255.1"'))
  t.false(addrs.includes('10.77.255.9'))
})

rootTest('nft: where the in-process read is off, the resync check reads lb0 with `ip` and finds the same drift', async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const id = 'ipreadnet0123456'
  const ns = lbNetnsName(lab.prefix, id)
  const k = createKernel({ baseNetns: lab.kernel.baseNetns, rtnlInProcess: false })
  const p = createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: k })
  const d = desired(id, [{ backends: backends(3) }])
  await p.apply(d)
  const spawns = k.spawns()
  t.true(await p.verify(id))
  t.true(k.spawns() > spawns)
  await lab.kernel.run('ip', ['addr', 'del', '10.77.255.1/32', 'dev', 'lb0'], { netns: ns })
  t.false(await p.verify(id))
})

rootTest('nft: an adopted sandbox without its uplink and with another MAC gets both mended by one apply', async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const id = 'mendnet012345678'
  const ns = lbNetnsName(lab.prefix, id)
  const d = desired(id, [{ backends: backends(2) }])
  await createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel }).apply(d)
  // as an older agent left it: no uplink, and lb0 with another MAC
  await lab.kernel.run('ip', ['link', 'del', uplinkHostName(lab.prefix, id)])
  await lab.kernel.run('ip', ['link', 'set', 'lb0', 'address', '02:00:00:00:00:99'], { netns: ns })
  const p = createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel })
  await p.adopt(new Map([[id, d]]))
  t.true((await p.apply(d)).transactions > 0)
  const links = JSON.parse(await lab.kernel.run('ip', ['-j', 'link', 'show'], { netns: ns })) as Array<{ ifname: string, address: string }>
  t.is(links.find((l) => l.ifname === 'lb0')?.address, d.sandbox.lbMac.toLowerCase(), 'the MAC is corrected')
  t.truthy(links.find((l) => l.ifname === 'up0'), 'the uplink is made again')
})
