import { readFileSync } from 'node:fs'
import test from 'ava'
import { releasableMappings, releaseFilePages } from '../../../src/components/file-pages.js'
import { loadLibc } from '../../../src/dataplane/kernel/native.js'

const mapping = (range: string, perms: string, path: string, anonKb: number): string => [
  `${range} ${perms} 00000000 08:01 1234                       ${path}`,
  'Size:               1024 kB',
  'Rss:                 512 kB',
  `Anonymous:          ${anonKb} kB`,
  'VmFlags: rd ex mr mw me dw'
].join('\n')

test('only private, read-only mappings of a file with no page written are released', (t) => {
  const smaps = [
    mapping('00400000-00600000', 'r--p', '/usr/bin/node', 0),
    mapping('00600000-00a00000', 'r-xp', '/usr/bin/node', 0),
    // relocated data made read-only (RELRO): its written pages would be lost
    mapping('00a00000-00a01000', 'r--p', '/usr/bin/node', 4),
    mapping('00a01000-00a02000', 'rw-p', '/usr/bin/node', 0),
    mapping('7f0000000000-7f0000001000', 'r--s', '/dev/shm/x', 0),
    mapping('7f0000001000-7f0000002000', 'r--p', '/tmp/old lib.so (deleted)', 0),
    mapping('7f0000002000-7f0000003000', 'rw-p', '', 4),
    mapping('7ffd00000000-7ffd00001000', 'r-xp', '[vdso]', 0),
    mapping('7f0000003000-7f0000004000', 'r-xp', '/lib/with space.so', 0)
  ].join('\n')
  t.deepEqual(releasableMappings(smaps), [
    { start: 0x400000n, bytes: 0x200000, path: '/usr/bin/node' },
    { start: 0x600000n, bytes: 0x400000, path: '/usr/bin/node' },
    { start: 0x7f0000003000n, bytes: 0x1000, path: '/lib/with space.so' }
  ])
})

test('releasing this process\'s file pages lowers its file-backed RSS, and it goes on running', async (t) => {
  const libc = (await loadLibc())?.libc
  if (libc === undefined) {
    t.pass('koffi or libc not loadable here: nothing to release')
    return
  }
  const fileKb = (): number => Number(/RssFile:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1])
  const before = fileKb()
  const bytes = await releaseFilePages((addr, length, advice) => libc.madvise(addr, length, advice) as number)
  const after = fileKb()
  t.true(bytes > 0, 'some mapping was released')
  t.true(after < before, `file-backed RSS ${before} -> ${after} kB`)
  // code of the released pages runs again (mapped back on access)
  t.is(JSON.parse(JSON.stringify({ a: [1, 2] })).a[1], 2)
})
