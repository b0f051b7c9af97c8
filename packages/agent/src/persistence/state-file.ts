import { join } from 'node:path'
import { STATE_FILE, STATE_FORMAT_VERSION } from '../constants.js'
import { PersistenceError } from '../errors.js'
import { isLocalTask, type LocalTask } from '../state/local-tasks.js'
import type { NetworkDesired } from '../dataplane/spec/types.js'
import { readJsonFile, writeFileAtomic } from './files.js'

/** One own gossip entry, persisted so a restart (even after SIGKILL) republishes it. */
export interface OwnEntry {
  scope: string
  table: string
  key: string
  value: unknown
}

/** Contents of `<dataDir>/state.json`. */
export interface PersistedState {
  version: number
  /** Node ID the state belongs to (a copied data dir of another node is refused). */
  node: string
  /** Allocator snapshot (base64 of `serialize()`). */
  allocator: string | undefined
  tasks: LocalTask[]
  ownEntries: OwnEntry[]
  /** Last gossip incarnation used; the next start uses this + 1. */
  incarnation: number
  /** Desired kernel state last handed to the reconciler (kept during the warm-up after a restart). */
  desired?: Array<[string, NetworkDesired]>
}

/** Load the state file; undefined when absent. Corrupt content throws {@link PersistenceError}. */
export async function loadState (dataDir: string, node: string): Promise<PersistedState | undefined> {
  const path = join(dataDir, STATE_FILE)
  const v = await readJsonFile(path, (reason) => new PersistenceError(path, reason))
  if (v === undefined) return undefined
  const o = v as Record<string, unknown>
  if (o === null || typeof o !== 'object') throw new PersistenceError(path, 'not an object')
  if (o.version !== STATE_FORMAT_VERSION) throw new PersistenceError(path, `unknown format version ${String(o.version)}`)
  if (o.node !== node) throw new PersistenceError(path, `belongs to node ${String(o.node)}, not ${node}`)
  if (o.allocator !== undefined && typeof o.allocator !== 'string') throw new PersistenceError(path, 'allocator: not a string')
  if (!Array.isArray(o.tasks) || !o.tasks.every(isLocalTask)) throw new PersistenceError(path, 'tasks: invalid')
  if (!Array.isArray(o.ownEntries) || !o.ownEntries.every((e: unknown) => {
    const x = e as Record<string, unknown>
    return x !== null && typeof x === 'object' && typeof x.scope === 'string' && typeof x.table === 'string' && typeof x.key === 'string'
  })) throw new PersistenceError(path, 'ownEntries: invalid')
  if (!Number.isInteger(o.incarnation) || (o.incarnation as number) < 0) throw new PersistenceError(path, 'incarnation: invalid')
  const out: PersistedState = { version: STATE_FORMAT_VERSION, node, allocator: o.allocator as string | undefined, tasks: o.tasks as LocalTask[], ownEntries: o.ownEntries as OwnEntry[], incarnation: o.incarnation as number }
  if (Array.isArray(o.desired) && o.desired.every(isDesiredPair)) out.desired = o.desired as Array<[string, NetworkDesired]>
  return out
}

/** Write the state file atomically. */
export async function saveState (dataDir: string, state: PersistedState): Promise<void> {
  await writeFileAtomic(join(dataDir, STATE_FILE), JSON.stringify(state))
}

/**
 * Serialises saves: `schedule()` coalesces requests, `flush()` resolves once
 * everything requested so far is on disk.
 */
export interface StateWriter {
  schedule(): void
  flush(): Promise<void>
}

/** Create a coalescing writer for `snapshot()`. Errors go to `onError` and are retried on the next schedule. */
export function createStateWriter (dataDir: string, snapshot: () => PersistedState, onError: (err: Error) => void): StateWriter {
  let dirty = false
  let running: Promise<void> | undefined
  async function loop (): Promise<void> {
    while (dirty) {
      dirty = false
      try {
        await saveState(dataDir, snapshot())
      } catch (err) {
        onError(err as Error)
      }
    }
    running = undefined
  }
  const w: StateWriter = {
    schedule () {
      dirty = true
      running ??= loop()
    },
    async flush () {
      while (running !== undefined) await running
    }
  }
  return w
}

function isDesiredPair (v: unknown): boolean {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string') return false
  const d = v[1] as Record<string, unknown> | null
  if (d === null || typeof d !== 'object') return false
  const sb = d.sandbox as Record<string, unknown> | undefined
  const ov = d.overlay as Record<string, unknown> | undefined
  if (sb === undefined || ov === undefined) return false
  // a state file of an IPv4-only version holds one `lbAddress`: read as the one entry of `lbAddresses`
  if (typeof sb.lbAddress === 'string' && sb.lbAddresses === undefined) {
    sb.lbAddresses = [sb.lbAddress]
    delete sb.lbAddress
  }
  return Array.isArray(sb.services) && Array.isArray(sb.lbAddresses) && sb.lbAddresses.every((a) => typeof a === 'string') &&
    Array.isArray(ov.remotes) && Array.isArray(ov.subnets) && typeof ov.vni === 'number' && Array.isArray(d.localTaskNetns)
}
