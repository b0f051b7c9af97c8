import { createProgrammer } from './programmer/index.js'
import { attachTaskNetns, createReconciler, detachTaskNetns } from './reconciler/index.js'
import type { AgentConfig } from './config/options.js'
import type { DataPlane } from './dataplane.js'
import { componentLogger, type Logger } from './logging/logger.js'
import type { TaskPlumber } from './state/controller.js'

/**
 * Plumbing for `--programmer memory` (non-root, tests): records which task
 * netns would be attached where, without touching the kernel.
 */
export function createMemoryPlumber (): TaskPlumber & { attached: Map<string, { networkId: string, netnsPath: string, address: string, mac: string }> } {
  const attached = new Map<string, { networkId: string, netnsPath: string, address: string, mac: string }>()
  return {
    attached,
    async attach (a) {
      const hostIfName = `mem-${attached.size}`
      attached.set(`${a.networkId}|${a.netnsPath}`, { networkId: a.networkId, netnsPath: a.netnsPath, address: a.address, mac: a.mac })
      return { hostIfName }
    },
    async detach (d) {
      attached.delete(`${d.networkId}|${d.netnsPath}`)
    }
  }
}

/** The real data plane for the agent's settings: programmer + reconciler + task plumbing. */
export function createDataPlane (init: { cfg: Pick<AgentConfig, 'programmer' | 'lbMode' | 'netnsPrefix'>, logger: Logger }): DataPlane {
  const { cfg } = init
  const programmer = createProgrammer(cfg.programmer, { netnsPrefix: cfg.netnsPrefix, lbMode: cfg.lbMode, logger: componentLogger(init.logger, 'programmer') })
  const plumber: TaskPlumber = cfg.programmer === 'memory'
    ? createMemoryPlumber()
    : {
        attach: async (a) => await attachTaskNetns({ netnsPrefix: cfg.netnsPrefix, networkId: a.networkId, netnsPath: a.netnsPath, address: a.address, mac: a.mac, ifName: a.ifName }),
        detach: async (d) => { await detachTaskNetns({ netnsPrefix: cfg.netnsPrefix, networkId: d.networkId, netnsPath: d.netnsPath }) }
      }
  return {
    plumber,
    createReconciler: (r) => createReconciler({ programmer, clock: r.clock, logger: r.logger, onApplied: r.onApplied })
  }
}
