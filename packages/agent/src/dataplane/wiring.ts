import { access } from 'node:fs/promises'
import { createProgrammer } from './programmer/index.js'
import { ValidationError } from '../errors.js'
import { attachTaskNetns, detachTaskNetns, type TaskDsr } from './plumber/index.js'
import { createReconciler } from './reconciler/index.js'
import { createHostIngress } from './ingress/host.js'
import { createKernel, overlayNetnsName } from './kernel/index.js'
import type { AgentConfig } from '../config/options.js'
import type { DataPlane } from './dataplane.js'
import { componentLogger, type Logger } from '../logging/logger.js'
import type { TaskPlumber } from '../state/controller.js'

/** What the memory plumber records of one attach. */
export interface MemoryAttach { networkId: string, netnsPath: string, address: string, mac: string, mtu: number, dsr?: TaskDsr }

/**
 * Plumbing for `--programmer memory` (non-root, tests): records which task
 * netns would be attached where, without touching the kernel.
 */
export function createMemoryPlumber (): TaskPlumber & { attached: Map<string, MemoryAttach> } {
  const attached = new Map<string, MemoryAttach>()
  return {
    attached,
    async attach (a) {
      const hostIfName = `mem-${attached.size}`
      attached.set(`${a.networkId}|${a.netnsPath}`, { networkId: a.networkId, netnsPath: a.netnsPath, address: a.address, ...(a.address6 === undefined ? {} : { address6: a.address6 }), mac: a.mac, mtu: a.mtu, ...(a.dsr === undefined ? {} : { dsr: a.dsr }) })
      return { hostIfName, dsr: a.dsr !== undefined }
    },
    async detach (d) {
      attached.delete(`${d.networkId}|${d.netnsPath}`)
    }
  }
}

/** The real data plane for the agent's settings: programmer + reconciler + task plumbing. */
export function createDataPlane (init: { cfg: Pick<AgentConfig, 'programmer' | 'lbMode' | 'netnsPrefix'> & Partial<Pick<AgentConfig, 'overlayNetns'>>, logger: Logger }): DataPlane {
  const { cfg } = init
  const kernelIngress = cfg.programmer !== 'memory' && (cfg.lbMode ?? 'per-network') === 'per-network'
  const hostIngress = kernelIngress ? createHostIngress({ netnsPrefix: cfg.netnsPrefix, kernel: createKernel({ logger: init.logger }), logger: componentLogger(init.logger, 'ingress') }) : undefined
  const programmer = createProgrammer(cfg.programmer, {
    netnsPrefix: cfg.netnsPrefix,
    lbMode: cfg.lbMode,
    overlayNetns: cfg.overlayNetns ?? false,
    logger: componentLogger(init.logger, 'programmer'),
    ...(hostIngress === undefined ? {} : { uplinkMade: (id: string) => { hostIngress.sandboxMade(id) } })
  })
  const plumber: TaskPlumber = cfg.programmer === 'memory'
    ? createMemoryPlumber()
    : {
        attach: async (a) => {
          if (a.netnsPath.includes('/')) {
            await access(a.netnsPath).catch(() => { throw new ValidationError('netns', `${a.netnsPath} does not exist (create it with ip netns add, or pass /proc/<pid>/ns/net)`) })
          }
          try {
            return await attachTaskNetns({ netnsPrefix: cfg.netnsPrefix, networkId: a.networkId, netnsPath: a.netnsPath, address: a.address, ...(a.address6 === undefined ? {} : { address6: a.address6 }), mac: a.mac, ifName: a.ifName, mtu: a.mtu, ...(a.gateway === undefined ? {} : { gateway: a.gateway }), ...(a.dsr === undefined ? {} : { dsr: a.dsr }) })
          } catch (err) {
            if ((err as Error).name === 'KernelCommandError') throw new ValidationError('netns', `cannot plug ${a.netnsPath} in: ${(err as Error).message}`)
            throw err
          }
        },
        detach: async (d) => { await detachTaskNetns({ netnsPrefix: cfg.netnsPrefix, networkId: d.networkId, netnsPath: d.netnsPath, ...(d.dsrVip === undefined ? {} : { dsr: { vip: d.dsrVip, ifName: d.ifName } }) }) },
        // the bridge end of a task's veth is in the network's overlay netns (the one the programmer makes)
        ...(cfg.overlayNetns === true ? { hostNetns: (networkId: string) => `/run/netns/${overlayNetnsName(cfg.netnsPrefix, networkId)}` } : {})
      }
  return {
    plumber,
    ...(hostIngress === undefined ? {} : { hostIngress }),
    createReconciler: (r) => createReconciler({ programmer, clock: r.clock, logger: r.logger, onApplied: r.onApplied })
  }
}
