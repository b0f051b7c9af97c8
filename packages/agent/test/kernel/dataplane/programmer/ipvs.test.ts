import { existsSync } from 'node:fs'
import test from 'ava'
import { createKernel } from '../../../../src/dataplane/kernel/index.js'
import { createIpvsProgrammer } from '../../../../src/dataplane/programmer/index.js'
import { rootTest, isRoot } from '@scalelb/test-support'
import { createLab } from '../../../support/netns.js'
import { backends, desired, runCompliance, type Observed } from '../../../support/programmer-compliance.js'
import { recorder } from '../../../support/recorder.js'

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
      const o: Observed = { lbAddresses: v.lbAddresses, vips: v.vips, services: new Map(), rejected: new Set([...v.noback].map(k => k.split(' . ').join(' '))) }
      for (const [key, mark] of v.marks) {
        const reals = new Map([...v.reals.get(mark) ?? []].filter(([, w]) => w > 0))
        if (reals.size > 0) o.services.set(key.split(' . ').join(' '), reals)
      }
      return o
    },
    cleanup: async () => { await lab.cleanup() }
  }
}, !isRoot ? 'needs root' : hasIpvs ? undefined : 'no IPVS in this kernel: /proc/net/ip_vs is missing')

rootTest(`ipvs: the generated nft mark/SNAT/reject table loads into a real kernel`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const k = recorder()
  const p = createIpvsProgrammer({ netnsPrefix: 'x', kernel: k })
  await p.apply(desired('netJ', [{ backends: backends(3) }, { vip: '10.77.255.2', backends: [] }]))
  await p.apply(desired('netJ', [{ backends: [] }, { vip: '10.77.255.2', backends: backends(1) }]))
  // the sandbox's gateway table (its uplink) is loaded once at creation, beside the LB table's two transactions
  const scripts = k.calls.filter(c => c.cmd === 'nft' && !(c.input ?? '').includes('scalelb_gw')).map(c => c.input ?? '')
  t.is(scripts.length, 2)
  const real = createKernel()
  for (const s of scripts) await real.run('nft', ['-f', '-'], { netns: lab.host, input: s })
  const listed = await real.run('nft', ['list', 'ruleset'], { netns: lab.host })
  t.regex(listed, /10\.77\.255\.2 \. tcp \. 80 : 0x00000100/)
  t.regex(listed, /elements = \{ 10\.77\.255\.1 \. tcp \. 80 \}/)
})
