import test from 'ava'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TASK_SERVER_JS, writeLabScripts } from '../../src/scripts.js'

test('lab scripts: a second write leaves unchanged files alone (a starting task server never reads a truncated file); a changed file is replaced whole', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slb-scripts-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const first = await writeLabScripts(dir)
  const before = await stat(first.taskServer)
  const again = await writeLabScripts(dir)
  t.deepEqual(again, first)
  const after = await stat(first.taskServer)
  t.is(after.ino, before.ino, 'same file, not rewritten')
  t.is(after.mtimeMs, before.mtimeMs)

  await writeFile(first.taskServer, 'stale')
  await writeLabScripts(dir)
  t.is(await readFile(first.taskServer, 'utf8'), TASK_SERVER_JS)
  t.not((await stat(first.taskServer)).ino, before.ino, 'replaced by rename, not truncated in place')
})
