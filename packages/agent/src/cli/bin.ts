// Process entry of the `scalelb` command. It imports only the light client
// modules; `agent`, `keygen` and `lab` load the agent (libp2p, winston, the
// kernel code) on demand, so `scalelb status` starts in a few tens of ms.
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
