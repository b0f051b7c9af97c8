import test from 'ava'
import { lbNetnsName, nftTableName } from '../../src/kernel/index.js'
import { createProgrammer } from '../../src/programmer/index.js'
import { readSandbox } from '../../src/programmer/sandbox.js'
import { createLab, isRoot } from '../support/netns.js'
import { observeLbView, runCompliance } from './compliance.js'

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
