// Process entry of `scalelb-cni`, exec'd by a container runtime once per
// container and command. It loads the agent's API client alone
// (@scalelb/agent/client), not the agent.
import { DEFAULT_API_SOCKET, createApiClient } from '@scalelb/agent/client'
import type { CniError } from './errors.js'
import { inspectInterface } from './netns.js'
import { spawnBandwidth } from './bandwidth.js'
import { readAll, runPlugin } from './run.js'
import { CNI_SPEC_VERSION } from './constants.js'

let stdin: string
try {
  stdin = await readAll(process.stdin)
} catch (err) {
  const e = err as CniError
  process.stdout.write(JSON.stringify(e.toResult(CNI_SPEC_VERSION)))
  process.exit(1)
}
const outcome = await runPlugin({
  env: process.env,
  stdin,
  defaults: { defaultSocket: DEFAULT_API_SOCKET },
  deps: (conf) => ({
    client: createApiClient({ socketPath: conf.socket }),
    inspectInterface,
    bandwidth: spawnBandwidth,
    warn: (message) => { process.stderr.write(`${message}\n`) }
  })
})
process.stdout.write(outcome.stdout, () => process.exit(outcome.exitCode))
