import test from 'ava'
import { loadLab } from '../../../src/cli/lab-loader.js'

test('loadLab: a lab package that is not installed is a LabNotInstalledError naming the package and how to get it', async (t) => {
  const err = await t.throwsAsync(loadLab('@scalelb/no-such-lab'))
  t.is(err?.name, 'LabNotInstalledError')
  t.regex(err?.message ?? '', /@scalelb\/no-such-lab package, but it is not installed: install it beside @scalelb\/agent \(npm install @scalelb\/no-such-lab\)/)
})

test('loadLab: a package without runLab is refused, not called', async (t) => {
  const err = await t.throwsAsync(loadLab('@scalelb/allocator'))
  t.is(err?.name, 'LabNotInstalledError')
  t.regex(err?.message ?? '', /it has no runLab export/)
})
