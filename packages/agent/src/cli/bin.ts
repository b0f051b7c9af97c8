// Process entry of the `scalelb` command: @scalelb/gossip loads first, and
// its first module installs the Promise.withResolvers polyfill (Node 20).
import '@scalelb/gossip'
import { runCli } from './main.js'

const code = await runCli(process.argv.slice(2), {
  io: {
    out: (text) => { process.stdout.write(`${text}\n`) },
    err: (text) => { process.stderr.write(`${text}\n`) }
  },
  env: process.env
})
// libp2p and timers may keep handles open after a clean stop: exit once stdout is flushed
process.stdout.write('', () => process.exit(code))
