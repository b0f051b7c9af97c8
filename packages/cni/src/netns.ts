import type { FoundInterface } from './plugin.js'

/** One interface of `ip -j addr show`. */
interface IpAddrJson {
  ifname?: string
  address?: string
  addr_info?: Array<{ local?: string, prefixlen?: number }>
}

/**
 * `ifname` inside the namespace at `netns` (`nsenter --net=PATH ip -j addr
 * show dev IFNAME`): its MAC and addresses, or undefined when the namespace
 * or the interface is not there. node:child_process is loaded here only
 * (CHECK), not on every ADD/DEL.
 */
export async function inspectInterface (netns: string, ifname: string): Promise<FoundInterface | undefined> {
  const { execFile } = process.getBuiltinModule('node:child_process')
  const out = await new Promise<string | undefined>((resolve) => {
    execFile('nsenter', [`--net=${netns}`, 'ip', '-j', 'addr', 'show', 'dev', ifname], { timeout: 10_000 }, (err, stdout) => { resolve(err === null ? stdout : undefined) })
  })
  if (out === undefined) return undefined
  let parsed: IpAddrJson[]
  try {
    parsed = JSON.parse(out) as IpAddrJson[]
  } catch {
    return undefined
  }
  const link = parsed.find((l) => l.ifname === ifname)
  if (link === undefined) return undefined
  return { mac: link.address ?? '', addresses: (link.addr_info ?? []).map((a) => `${a.local ?? ''}/${a.prefixlen ?? ''}`) }
}
