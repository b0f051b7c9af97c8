import type { L4Proto } from '../spec/types.js'
import { KernelCommandError, runCommand } from '../kernel/index.js'

/**
 * Ports a socket of this host's network namespace listens on (TCP) or is
 * bound to (UDP), from `ss -Hltn` / `ss -Hlun`: a published port there would
 * hide that socket from the underlay (the DNAT comes first).
 */
export async function listeningPorts (proto: L4Proto): Promise<Set<number>> {
  const r = await runCommand('ss', [proto === 'tcp' ? '-Hltn' : '-Hlun'], { timeoutMs: 10_000 })
  if (!r.ok) throw new KernelCommandError(r.command, r.stderr === '' ? r.reason : r.stderr, r.exitCode)
  return parseSsPorts(r.stdout)
}

/** The local ports of `ss -H -l -n` output (4th column, `addr:port`, `[v6]:port`, `*:port`, `addr%dev:port`). */
export function parseSsPorts (out: string): Set<number> {
  const ports = new Set<number>()
  for (const line of out.split('\n')) {
    const local = line.trim().split(/\s+/)[3]
    if (local === undefined) continue
    const m = /:(\d{1,5})$/.exec(local)
    if (m !== null) ports.add(Number(m[1]))
  }
  return ports
}
