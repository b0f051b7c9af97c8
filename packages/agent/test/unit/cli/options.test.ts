/**
 * Client options in any position, as `scalelb --help` says: before the
 * command, between its words, after it.
 */
import test from 'ava'
import { runCli } from '../../../src/cli/main.js'
import { createTestCluster } from '../../support/agents.js'

interface Run { code: number, out: string, err: string }

/** Run the CLI with no API environment: the socket comes only from the arguments. */
async function cli (...argv: string[]): Promise<Run> {
  let out = ''
  let err = ''
  const code = await runCli(argv, { io: { out: (s) => { out += s + '\n' }, err: (s) => { err += s + '\n' } }, env: {} })
  return { code, out, err }
}

test('--socket and --json work before the command, between its words and after it', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const created = await cli('--socket', a.socket, 'network', 'create', 'front', '--subnet', '10.40.0.0/24')
  t.is(created.code, 0, created.err)

  for (const argv of [
    ['--socket', a.socket, '--json', 'network', 'inspect', 'front'],
    [`--socket=${a.socket}`, 'network', '--json', 'inspect', 'front'],
    ['network', 'inspect', 'front', '--json', '--socket', a.socket]
  ]) {
    const r = await cli(...argv)
    t.is(r.code, 0, `${argv.join(' ')}: ${r.err}`)
    t.is((JSON.parse(r.out) as { name: string }).name, 'front', argv.join(' '))
  }
  const ls = await cli('--json', '--socket', a.socket, 'network', 'ls')
  t.is(ls.code, 0, ls.err)
  t.deepEqual((JSON.parse(ls.out) as Array<{ name: string }>).map((n) => n.name), ['front'], 'a leading --json gives JSON')
})

test('--help and --version after client options; process commands take their options after the word', async (t) => {
  const help = await cli('--socket', '/nonexistent/x.sock', '--help')
  t.is(help.code, 0, help.err)
  t.regex(help.out, /Client options \(any position\)/)
  const cmdHelp = await cli('--socket', '/nonexistent/x.sock', '--help', 'network', 'inspect')
  t.is(cmdHelp.code, 0, cmdHelp.err)
  t.regex(cmdHelp.out, /^Usage: scalelb network inspect/)
  const version = await cli('--socket', '/nonexistent/x.sock', '--version')
  t.is(version.code, 0)
  t.regex(version.out, /^\d+\.\d+\.\d+/)
  t.regex((await cli('--help', 'keygen')).out, /keygen/, '--help before agent/keygen/lab is that command\'s help')
  t.is((await cli('--socket', '/x.sock')).code, 2, 'options without a command are a usage error')
  t.is((await cli('--bogus', 'network', 'ls')).code, 2)
  t.is((await cli('--socket', '/x.sock', 'keygen')).code, 2, 'keygen has no client options')
  const down = await cli('--socket', '/nonexistent/x.sock', 'network', 'ls')
  t.is(down.code, 1)
  t.regex(down.err, /\/nonexistent\/x\.sock/)
})
