import type { Kernel, NetnsRef } from './exec.js'
import { KernelStateError } from './errors.js'
import { KernelCommandError } from './errors.js'
import type { KOpts } from './ip.js'
import { LB_NFT_FAMILY } from '../spec/family.js'

/** Load an nft script with `nft -f -` (stdin): one atomic kernel transaction, one spawn. */
export async function nftApply (k: Kernel, script: string, netns?: NetnsRef, opts: KOpts = {}): Promise<void> {
  if (script.trim() === '') return
  await k.run('nft', ['-f', '-'], { netns, input: script, signal: opts.signal })
}

/** The `nftables` array of `nft -j list ...` output. */
export type NftJson = Array<Record<string, unknown>>

/**
 * `nft -j list table <family> <table>`; undefined when the table does not exist.
 */
export async function nftListTable (k: Kernel, table: string, netns?: NetnsRef, opts: KOpts = {}, nftFamily: string = LB_NFT_FAMILY): Promise<NftJson | undefined> {
  let out: string
  try {
    out = await k.run('nft', ['-j', 'list', 'table', nftFamily, table], { netns, signal: opts.signal })
  } catch (err) {
    if (err instanceof KernelCommandError && /No such file or directory/.test(err.stderr)) return undefined
    throw err
  }
  return parseNftJson(out)
}

/** `nft -j list tables` in a netns: table names of an nft family (`inet`), or of every family (undefined). */
export async function nftListTables (k: Kernel, netns?: NetnsRef, opts: KOpts = {}, nftFamily?: string): Promise<string[]> {
  const out = await k.run('nft', ['-j', 'list', 'tables'], { netns, signal: opts.signal })
  const res: string[] = []
  for (const e of parseNftJson(out)) {
    const t = e.table as { family?: string, name?: string } | undefined
    if ((nftFamily === undefined || t?.family === nftFamily) && typeof t?.name === 'string') res.push(t.name)
  }
  return res
}

/** Parse `nft -j` output into its `nftables` array. */
export function parseNftJson (out: string): NftJson {
  let parsed: unknown
  try {
    parsed = JSON.parse(out)
  } catch {
    throw new KernelStateError('nft -j: output is not JSON')
  }
  const arr = (parsed as { nftables?: unknown }).nftables
  if (!Array.isArray(arr)) throw new KernelStateError('nft -j: missing "nftables" array')
  return arr as NftJson
}
