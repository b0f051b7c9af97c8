import {
  KernelCommandError, KernelStateError, LB_IFNAME, ipBatch, lbVethName, netnsAdd, netnsDelete, nftApply, nftListTable, sysctlSet,
  type Kernel, type KOpts, type NetnsRef
} from '../kernel/index.js'
import { DEFAULT_OVERLAY_MTU_BYTES, LB_SANDBOX_SYSCTLS } from '../spec/constants.js'
import { diffScript, withChains, type LbView } from './lb-view.js'
import { viewFromNftJson } from './lb-parse.js'

/** Where one LB sandbox lives. */
export interface SandboxNames {
  netns: string
  bridge: string
  prefix: string
  table: string
}

/** Create the sandbox netns, its veth into the bridge (both ends at the overlay MTU), MAC, alias (= network ID), sysctls. */
export async function createSandbox (k: Kernel, n: SandboxNames, networkId: string, lbMac: string, opts: KOpts, sysctls: readonly string[] = LB_SANDBOX_SYSCTLS, mtu = DEFAULT_OVERLAY_MTU_BYTES): Promise<number> {
  const veth = lbVethName(n.prefix, networkId)
  await netnsAdd(k, n.netns, opts)
  await ipBatch(k, [
    `link add ${veth} mtu ${mtu} type veth peer name ${LB_IFNAME} mtu ${mtu} netns ${n.netns}`,
    `link set ${veth} master ${n.bridge}`,
    `link set ${veth} up`
  ], undefined, opts)
  await ipBatch(k, [
    `link set ${LB_IFNAME} address ${lbMac}`,
    `link set ${LB_IFNAME} alias ${networkId}`
  ], n.netns, opts)
  await sysctlSet(k, sysctls, n.netns, opts)
  return 2
}

/**
 * Delete an LB sandbox: its host-side veth first, then the netns. Deleting a
 * netns frees its veth pair asynchronously, so a sandbox created again right
 * after could find the veth name still taken; deleting the veth is
 * synchronous. `networkId` undefined (unknown sandbox): the netns only.
 * Returns whether the netns existed.
 */
export async function deleteSandbox (k: Kernel, n: Pick<SandboxNames, 'netns' | 'prefix'>, networkId: string | undefined, opts: KOpts): Promise<boolean> {
  if (networkId !== undefined) {
    try {
      await k.run('ip', ['link', 'del', lbVethName(n.prefix, networkId)], { signal: opts.signal })
    } catch (err) {
      if (!(err instanceof KernelCommandError && /Cannot find device/.test(err.stderr))) throw err
    }
  }
  return await netnsDelete(k, n.netns, opts)
}

/**
 * `ip -batch` lines of an address change: VIPs removed (in the order given),
 * the LB IP, VIPs added. `create`: `lb0` comes up after its addresses
 * (adding 10k aliases to a down link is 2x faster).
 */
export function renderAddressLines (lbFrom: string, lbTo: string, vipsDel: readonly string[], vipsAdd: readonly string[], create: boolean): string[] {
  const lines: string[] = []
  for (const v of vipsDel) lines.push(`addr del ${v}/32 dev ${LB_IFNAME}`)
  if (lbFrom !== lbTo) {
    if (lbFrom !== '') lines.push(`addr del ${lbFrom} dev ${LB_IFNAME}`)
    if (lbTo !== '') lines.push(`addr add ${lbTo} dev ${LB_IFNAME}`)
  }
  for (const v of vipsAdd) lines.push(`addr add ${v}/32 dev ${LB_IFNAME}`)
  if (create) lines.push(`link set ${LB_IFNAME} up`)
  return lines
}

/**
 * `ip -batch` lines moving the sandbox's addresses from `old` to `next` (LB IP
 * first, so VIP aliases are secondary). On creation (`old` undefined) `lb0`
 * comes up after its addresses.
 */
export function addressLines (old: Pick<LbView, 'lbAddress' | 'vips'> | undefined, next: Pick<LbView, 'lbAddress' | 'vips'>): string[] {
  const oldVips = new Set(old?.vips ?? [])
  const newVips = new Set(next.vips)
  return renderAddressLines(old?.lbAddress ?? '', next.lbAddress, [...oldVips].filter(v => !newVips.has(v)), [...newVips].filter(v => !oldVips.has(v)), old === undefined)
}

/** Run an LB change in `netns`: address lines (one `ip -batch`), then the script (one `nft -f`). Returns transactions. */
export async function runLbChange (k: Kernel, netns: NetnsRef, lines: readonly string[], script: string, opts: KOpts): Promise<number> {
  let tx = 0
  if (lines.length > 0) {
    await ipBatch(k, [...lines], netns, opts)
    tx++
  }
  if (script !== '') {
    await nftApply(k, script, netns, opts)
    tx++
  }
  return tx
}

/** Apply an LB view change in `netns`: addresses (one `ip -batch`) then one `nft -f` transaction. Returns transactions and the view now programmed. */
export async function applyLb (k: Kernel, netns: NetnsRef, table: string, old: LbView | undefined, next: LbView, withAddresses: boolean, opts: KOpts): Promise<{ tx: number, view: LbView }> {
  const tx = await runLbChange(k, netns, withAddresses ? addressLines(old, next) : [], diffScript(table, old, next), opts)
  return { tx, view: withChains(old, next) }
}

/** What a sandbox holds, read back from the kernel. */
export interface SandboxRead {
  networkId: string | undefined
  mac: string | undefined
  view: LbView | undefined
}

/** Read an LB sandbox back: interface alias (network ID), MAC, addresses, nft table. */
export async function readSandbox (k: Kernel, netns: string, table: (networkId: string) => string, opts: KOpts): Promise<SandboxRead> {
  let out: string
  try {
    out = await k.run('ip', ['-d', '-j', 'addr', 'show', 'dev', LB_IFNAME], { netns, signal: opts.signal })
  } catch (err) {
    if (err instanceof KernelCommandError) return { networkId: undefined, mac: undefined, view: undefined }
    throw err
  }
  const parsed = JSON.parse(out === '' ? '[]' : out) as Array<{ ifalias?: string, address?: string, addr_info?: Array<{ family?: string, local?: string, prefixlen?: number }> }>
  const link = parsed[0]
  const networkId = link?.ifalias
  if (link === undefined || networkId === undefined || networkId === '') return { networkId: undefined, mac: link?.address, view: undefined }
  const json = await nftListTable(k, table(networkId), netns, opts)
  if (json === undefined) return { networkId, mac: link.address, view: undefined }
  let read: ReturnType<typeof viewFromNftJson>
  try {
    read = viewFromNftJson(networkId, json)
  } catch (err) {
    // not our layout: report no table, so the next apply recreates it in one transaction
    if (err instanceof KernelStateError) return { networkId, mac: link.address, view: undefined }
    throw err
  }
  const { view, snatIp } = read
  const vips: string[] = []
  for (const a of link.addr_info ?? []) {
    if (a.family !== 'inet' || a.local === undefined) continue
    if (a.local === snatIp) view.lbAddress = `${a.local}/${String(a.prefixlen)}`
    else if (a.prefixlen === 32) vips.push(a.local)
    else if (a.local !== snatIp) return { networkId, mac: link.address, view: undefined } // a stray address: reprogram
  }
  view.vips = vips.sort()
  return { networkId, mac: link.address, view }
}
