import type { Clock } from '@scalelb/gossip'
import type { Component } from '../lifecycle.js'
import type { Logger } from '../logging/logger.js'
import type { DockerEngine } from './engine.js'
import { createEventFollower, type DockerEvent } from './events.js'
import { createMembership, type MembershipHost } from './membership.js'
import { createDockerPlugin, type DockerLinks, type DockerPluginHost } from './plugin.js'
import { createPluginServer } from './server.js'
import { pluginStateFile } from './state.js'

/** Options of {@link createDockerComponent}. */
export interface DockerComponentInit {
  /** The agent's side of the plugin and of label membership (host.ts). */
  host: DockerPluginHost & Omit<MembershipHost, 'boundNetwork'>
  /** dockerd's Engine API (events, containers, network names). */
  engine: DockerEngine
  links: DockerLinks
  clock: Clock
  logger: Logger
  dataDir: string
  /** Where the plugin listens (dockerd's plugin directory). */
  pluginSocket: string
}

/**
 * `--docker-plugin`: the Docker network + IPAM plugin on its socket and the
 * follower of dockerd's events (container labels, network creation). Starts
 * after the API (the controller is running), stops before it.
 */
export function createDockerComponent (init: DockerComponentInit): Component {
  const { host, logger } = init
  const file = pluginStateFile(init.dataDir)
  let saving = Promise.resolve()
  let server: ReturnType<typeof createPluginServer> | undefined
  let follower: ReturnType<typeof createEventFollower> | undefined

  return {
    name: 'docker',
    async start () {
      const plugin = createDockerPlugin({
        host,
        links: init.links,
        logger,
        state: await file.load(),
        // one write at a time, each of the records as they are when it starts
        onChange: async (st) => {
          const snapshot = structuredClone(st)
          const write = saving.then(async () => { await file.save(snapshot) })
          saving = write.catch((err: unknown) => { logger.error('cannot write the Docker plugin\'s records', { error: (err as Error).message }) })
          await write
        }
      })
      const engine = init.engine
      const membership = createMembership({
        engine,
        logger,
        host: {
          setMembership: async (taskId, m) => { await host.setMembership(taskId, m) },
          boundNetwork: (id) => plugin.boundNetwork(id),
          // backends of this plugin's endpoints only: a CNI task's service is not the labels' business
          backends: () => new Map([...host.backends()].filter(([t]) => plugin.state().endpoints[t] !== undefined))
        }
      })
      follower = createEventFollower({
        engine,
        clock: init.clock,
        logger,
        filters: { type: ['container', 'network'], event: ['start', 'die', 'destroy', 'create'] },
        resync: async (signal) => { await membership.resync(signal) },
        onEvent: async (e: DockerEvent) => {
          if (e.Type === 'network' && e.Action === 'create' && e.Actor.Attributes.type === 'scalelb') await plugin.networkCreated(e.Actor.ID)
          else await membership.onEvent(e)
        }
      })
      server = createPluginServer({ plugin, socketPath: init.pluginSocket, logger })
      await server.start()
      follower.start()
    },
    async stop () {
      await follower?.stop()
      await server?.stop()
      await saving
    }
  }
}
