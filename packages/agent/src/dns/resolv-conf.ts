import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import type { Logger } from '../logging/logger.js'
import { mkdir, rm, rmdir } from 'node:fs/promises'
import { writeFileAtomic } from '../persistence/files.js'
import { basename, dirname, join } from 'node:path'
import { DNS_PORT, HOST_RESOLV_CONF, NETNS_ETC_DIR } from './constants.js'
import type { Upstream } from './forward.js'

/** What a task's resolver configuration says (the `dns` of a task add answer, the CNI result's `dns`). */
export interface TaskDns {
  nameservers: string[]
  search?: string[]
  options?: string[]
}

/**
 * The upstreams of a resolv.conf text: its `nameserver` lines with an IP
 * (a scoped IPv6 `fe80::1%eth0` keeps no scope: skipped). Loopback stubs
 * (systemd-resolved's 127.0.0.53) are kept: the agent forwards from the
 * host namespace, where they answer, not from the task's.
 */
export function parseResolvConfUpstreams (text: string): Upstream[] {
  const out: Upstream[] = []
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim()
    const m = /^nameserver\s+(\S+)$/.exec(line)
    if (m === null) continue
    const host = m[1] as string
    if (isIP(host) !== 0 && !host.includes('%')) out.push({ host, port: DNS_PORT })
  }
  return out
}

/** The host's upstreams (read once at start; `--dns-upstream` overrides). */
export function hostUpstreams (log: Logger, file = HOST_RESOLV_CONF): Upstream[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    log.warn('cannot read the host\'s resolv.conf: the resolver forwards nowhere (set --dns-upstream)', { file, error: (err as Error).message })
    return []
  }
  const ups = parseResolvConfUpstreams(text)
  log.info('resolver upstreams from the host', { file, upstreams: ups.map((u) => u.host) })
  return ups
}

/** Text of a task's resolv.conf. */
export function resolvConfText (dns: TaskDns): string {
  const lines = ['# written by the scalelb agent (task add --dns none to opt out)']
  for (const ns of dns.nameservers) lines.push(`nameserver ${ns}`)
  if (dns.search !== undefined && dns.search.length > 0) lines.push(`search ${dns.search.join(' ')}`)
  if (dns.options !== undefined && dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`)
  return lines.join('\n') + '\n'
}

/**
 * The `ip netns` name of a netns path `/run/netns/NAME` (or `/var/run/netns/NAME`):
 * `ip netns exec NAME` reads `/etc/netns/NAME/resolv.conf`. Undefined for
 * other paths (`/proc/PID/ns/net`): their runtime configures DNS itself.
 */
export function netnsNameOf (netnsPath: string): string | undefined {
  const dir = dirname(netnsPath)
  if (dir !== '/run/netns' && dir !== '/var/run/netns') return undefined
  const name = basename(netnsPath)
  return name === '' || name === '.' || name === '..' ? undefined : name
}

/** Write `/etc/netns/NAME/resolv.conf` atomically; returns the file written. */
export async function writeTaskResolvConf (name: string, dns: TaskDns, etcDir = NETNS_ETC_DIR): Promise<string> {
  const dir = join(etcDir, name)
  // readable by the task's processes, whatever user they run as
  await mkdir(dir, { recursive: true, mode: 0o755 })
  const file = join(dir, 'resolv.conf')
  await writeFileAtomic(file, resolvConfText(dns), { mode: 0o644 })
  return file
}

/** Remove what {@link writeTaskResolvConf} wrote (the directory too when it is left empty). */
export async function removeTaskResolvConf (name: string, etcDir = NETNS_ETC_DIR): Promise<void> {
  const dir = join(etcDir, name)
  await rm(join(dir, 'resolv.conf'), { force: true })
  await rmdir(dir).catch(() => { /* absent, or not empty: other files of the namespace stay */ })
}
