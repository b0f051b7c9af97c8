import test from 'ava'
import { lbNetnsName, nftTableName } from '../../../../src/dataplane/kernel/index.js'
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
  await lab.kernel.run('nft', ['delete', 'table', 'ip', nftTableName(id)], { netns: lbNetnsName(lab.prefix, id) })
  const p = createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel })
  await p.adopt(new Map([[id, d]]))
  // the unreadable sandbox is removed at adoption (its bridge stays, adopted)
  t.false((await netnsWithPrefix(lab.prefix)).includes(lbNetnsName(lab.prefix, id)))
  t.true((await p.apply(d)).transactions > 0)
  t.true(await p.verify(id))
  const r = await readSandbox(lab.kernel, lbNetnsName(lab.prefix, id), nftTableName, {})
  t.is(r.view?.services.get('10.77.255.1 . tcp . 80')?.length, 3)
})
