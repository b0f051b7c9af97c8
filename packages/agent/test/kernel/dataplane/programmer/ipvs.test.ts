import { existsSync } from 'node:fs'
import test from 'ava'
import { createKernel, type Kernel, type RunOptions } from '../../../../src/dataplane/kernel/index.js'
import { createIpvsProgrammer } from '../../../../src/dataplane/programmer/index.js'
import { rootTest, isRoot } from '@scalelb/test-support'
import { createLab } from '../../../support/netns.js'
import { backends, desired, runCompliance, type Observed } from '../../../support/programmer-compliance.js'

const hasIpvs = existsSync('/proc/net/ip_vs')

runCompliance(test, 'ipvs', async () => {
  const lab = await createLab()
  const make = (): ReturnType<typeof createIpvsProgrammer> => createIpvsProgrammer({ netnsPrefix: lab.prefix, kernel: lab.kernel })
  return {
    programmer: make,
    observe: async id => {
      const q = make()
      await q.adopt()
      const v = q.backend.view(id)
      if (v === undefined) return undefined
      const o: Observed = { lbAddress: v.lbAddress, vips: v.vips, services: new Map(), rejected: new Set([...v.noback].map(k => k.split(' . ').join(' '))) }
      for (const [key, mark] of v.marks) {
        const reals = new Map([...v.reals.get(mark) ?? []].filter(([, w]) => w > 0))
        if (reals.size > 0) o.services.set(key.split(' . ').join(' '), reals)
      }
      return o
    },
    cleanup: async () => { await lab.cleanup() }
  }
}, !isRoot ? 'needs root' : hasIpvs ? undefined : 'no IPVS in this kernel: /proc/net/ip_vs is missing')

interface Call { cmd: string, args: readonly string[], netns: string | null | undefined, input: string | undefined }

/** A kernel that records commands instead of running them (IPVS text tests run anywhere). */
function recorder (): Kernel & { calls: Call[] } {
  const calls: Call[] = []
  return {
    calls,
    baseNetns: undefined,
    spawns: () => calls.length,
    async run (cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
      calls.push({ cmd, args, netns: opts.netns, input: opts.input })
      if (args.includes('-j')) return '[]'
      return ''
    }
  }
}

test('ipvs: generated commands are Docker\'s layout (fwmark services, masquerade, weight 0 drain, SNAT, vs sysctls)', async t => {
  const k = recorder()
  const p = createIpvsProgrammer({ netnsPrefix: 'x', kernel: k })
  const bs = backends(2)
  await p.apply(desired('netI', [{ backends: bs }, { vip: '10.77.255.2', backends: [] }]))
  const text = (c: Call): string => `${c.cmd} ${c.args.join(' ')}\n${c.input ?? ''}`
  const all = k.calls.map(text).join('\n')
  for (const s of ['echo 1 > /proc/sys/net/ipv4/vs/conntrack', 'echo 1 > /proc/sys/net/ipv4/vs/expire_nodest_conn', 'echo 1 > /proc/sys/net/ipv4/vs/expire_quiescent_template', 'echo 1 > /proc/sys/net/ipv4/ip_forward']) t.true(all.includes(s), s)
  const ipvsadm = k.calls.filter(c => c.cmd === 'ipvsadm')
  t.is(ipvsadm.length, 1)
  t.deepEqual(ipvsadm[0].args, ['-R'])
  t.is(ipvsadm[0].input, '-A -f 256 -s rr\n-a -f 256 -r 10.77.1.2:8080 -m -w 1\n-a -f 256 -r 10.77.1.3:8080 -m -w 1\n')
  const nft = k.calls.filter(c => c.cmd === 'nft').map(c => c.input ?? '').join('\n')
  t.regex(nft, /meta mark set ip daddr \. meta l4proto \. th dport map @marks/)
  t.regex(nft, /add element ip scalelb_\w+ marks \{ 10\.77\.255\.1 \. tcp \. 80 : 256 \}/)
  t.regex(nft, /postrouting meta mark >= 256 snat to 10\.77\.0\.2\n/)
  t.regex(nft, /add element ip scalelb_\w+ noback \{ 10\.77\.255\.2 \. tcp \. 80 \}/)

  // drain: weight 0, one ipvsadm transaction, no nft change
  k.calls.length = 0
  const res = await p.apply(desired('netI', [{ backends: bs.map((b, i) => ({ ...b, draining: i === 0 })) }, { vip: '10.77.255.2', backends: [] }]))
  t.is(res.transactions, 1)
  t.deepEqual(k.calls.map(c => [c.cmd, c.input]), [['ipvsadm', '-e -f 256 -r 10.77.1.2:8080 -m -w 0\n']])

  // last backend gone: the service is deleted and rejected instead
  k.calls.length = 0
  await p.apply(desired('netI', [{ backends: [] }, { vip: '10.77.255.2', backends: [] }]))
  t.deepEqual(k.calls.find(c => c.cmd === 'ipvsadm')?.input, '-D -f 256\n')
  t.regex(k.calls.find(c => c.cmd === 'nft')?.input ?? '', /delete element ip scalelb_\w+ marks \{ 10\.77\.255\.1 \. tcp \. 80 \}\nadd element ip scalelb_\w+ noback \{ 10\.77\.255\.1 \. tcp \. 80 \}/)
})


rootTest(`ipvs: the generated nft mark/SNAT/reject table loads into a real kernel`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const k = recorder()
  const p = createIpvsProgrammer({ netnsPrefix: 'x', kernel: k })
  await p.apply(desired('netJ', [{ backends: backends(3) }, { vip: '10.77.255.2', backends: [] }]))
  await p.apply(desired('netJ', [{ backends: [] }, { vip: '10.77.255.2', backends: backends(1) }]))
  const scripts = k.calls.filter(c => c.cmd === 'nft').map(c => c.input ?? '')
  t.is(scripts.length, 2)
  const real = createKernel()
  for (const s of scripts) await real.run('nft', ['-f', '-'], { netns: lab.host, input: s })
  const listed = await real.run('nft', ['list', 'ruleset'], { netns: lab.host })
  t.regex(listed, /10\.77\.255\.2 \. tcp \. 80 : 0x00000100/)
  t.regex(listed, /elements = \{ 10\.77\.255\.1 \. tcp \. 80 \}/)
})
