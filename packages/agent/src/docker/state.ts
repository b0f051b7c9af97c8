import { join } from 'node:path'
import { readJsonFile, writeFileAtomic } from '../persistence/files.js'
import { PLUGIN_STATE_FILE } from './constants.js'
import { DockerPluginError } from './errors.js'

/** A Docker network created through the scalelb driver on this node. */
export interface NetworkRecord {
  /** Its subnet (the IPAM pool). */
  subnet: string
  /** The scalelb network name given with `-o scalelb.network=NAME`. */
  name?: string
  /** The scalelb network it is bound to (unset until bound). */
  networkId?: string
}

/** A Docker endpoint on a scalelb network (its task ID is the endpoint ID). */
export interface EndpointRecord {
  dockerNetworkId: string
  networkId: string
  ip: string
  mac: string
  /** Joined to a container (its task and link exist). */
  joined?: boolean
}

/** What the plugin remembers across agent restarts (dockerd does not repeat CreateNetwork or CreateEndpoint). */
export interface DockerPluginState {
  networks: Record<string, NetworkRecord>
  endpoints: Record<string, EndpointRecord>
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** Validate a state file's content (it is input too). */
export function parsePluginState (v: unknown, file: string): DockerPluginState {
  const bad = (what: string): DockerPluginError => new DockerPluginError(`${file}: ${what}`)
  if (!isRecord(v) || !isRecord(v.networks) || !isRecord(v.endpoints)) throw bad('expected {"networks": {...}, "endpoints": {...}}')
  for (const [k, n] of Object.entries(v.networks)) {
    if (!isRecord(n) || typeof n.subnet !== 'string' || (n.name !== undefined && typeof n.name !== 'string') || (n.networkId !== undefined && typeof n.networkId !== 'string')) throw bad(`networks.${k}: bad record`)
  }
  for (const [k, e] of Object.entries(v.endpoints)) {
    if (!isRecord(e) || typeof e.dockerNetworkId !== 'string' || typeof e.networkId !== 'string' || typeof e.ip !== 'string' || typeof e.mac !== 'string') throw bad(`endpoints.${k}: bad record`)
  }
  return v as unknown as DockerPluginState
}

/** The plugin's records in `<dataDir>/docker-plugin.json`. */
export interface PluginStateFile {
  load(): Promise<DockerPluginState | undefined>
  save(state: DockerPluginState): Promise<void>
}

export function pluginStateFile (dataDir: string): PluginStateFile {
  const path = join(dataDir, PLUGIN_STATE_FILE)
  return {
    async load () {
      const v = await readJsonFile(path, (reason) => new DockerPluginError(`${path}: ${reason}`))
      return v === undefined ? undefined : parsePluginState(v, path)
    },
    async save (state) {
      await writeFileAtomic(path, JSON.stringify(state) + '\n', { mode: 0o600 })
    }
  }
}
