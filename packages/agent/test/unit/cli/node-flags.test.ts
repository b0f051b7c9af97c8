import test from 'ava'
import { readFile } from 'node:fs/promises'
import { AGENT_NODE_FLAGS } from '../../../src/constants.js'

/** The node flags on the line of `file` that starts node (its first line matching `re`). */
async function flagsIn (file: URL, re: RegExp): Promise<string[]> {
  const text = await readFile(file, 'utf8')
  const line = text.split('\n').find((l) => re.test(l))
  if (line === undefined) throw new Error(`${file.pathname}: no line matches ${String(re)}`)
  return (re.exec(line)?.[1] ?? '').split(' ').filter((a) => a.startsWith('--'))
}

test('every way the agent is started uses AGENT_NODE_FLAGS', async (t) => {
  t.true(AGENT_NODE_FLAGS.length > 0)
  t.deepEqual(await flagsIn(new URL('../../../bin/scalelb.js', import.meta.url), /^#!\/usr\/bin\/env -S node (.*)$/), [...AGENT_NODE_FLAGS], 'bin/scalelb.js shebang')
  for (const f of ['entrypoint.sh', 'scalelb']) {
    t.deepEqual(await flagsIn(new URL(`../../../../../docker/${f}`, import.meta.url), /^exec node (.*) \/opt\/scalelb\//), [...AGENT_NODE_FLAGS], `docker/${f}`)
  }
})
