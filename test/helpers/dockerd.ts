/**
 * A dockerd of the test's own, per lab host: started in the host's netns,
 * in a private mount namespace where a per-host directory is bind-mounted
 * over /run/docker/plugins (dockerd's fixed plugin directory), with its own
 * data root, exec root, pidfile and socket, and no bridge, iptables or
 * masquerading. Only what the test started is stopped.
 */
import { access, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { labRun, spawnDetached, stopProcess, waitFor, type LabHost, type ProcRef } from '../../packages/lab/src/index.js'

/** Debian docker.io 20.10 binaries (not /usr/local/bin's docker). */
export const DOCKERD = '/usr/sbin/dockerd'
export const DOCKER = '/usr/bin/docker'

/** One test dockerd. */
export interface TestDockerd {
  host: LabHost
  dir: string
  /** Engine API socket. */
  socket: string
  /** The per-host plugin directory dockerd sees as /run/docker/plugins (the agent's plugin socket goes here). */
  pluginDir: string
  proc: ProcRef
}

/** Why the Docker test cannot run here, or undefined. */
export async function dockerMissing (): Promise<string | undefined> {
  for (const f of [DOCKERD, DOCKER, '/usr/bin/docker-compose', '/usr/bin/unshare', '/bin/busybox']) {
    try { await access(f) } catch { return `${f} is missing (install docker.io, docker-compose and busybox-static)` }
  }
  return undefined
}

/** Start a dockerd for `host` under `dir`; resolves once its API answers. */
export async function startDockerd (host: LabHost, dir: string): Promise<TestDockerd> {
  const pluginDir = join(dir, 'plugins')
  for (const d of [pluginDir, join(dir, 'data'), join(dir, 'exec')]) await mkdir(d, { recursive: true, mode: 0o700 })
  const socket = join(dir, 'docker.sock')
  const argv = [
    DOCKERD, '--iptables=false', '--ip6tables=false', '--bridge=none', '--ip-masq=false', '--userland-proxy=false',
    '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'docker.pid'),
    '-H', `unix://${socket}`
  ]
  // sh, unshare and nsenter exec one another: the PID is dockerd's
  const script = `mkdir -p /run/docker/plugins && mount --bind '${pluginDir}' /run/docker/plugins && exec ${argv.map((a) => `'${a}'`).join(' ')}`
  const proc = spawnDetached({ argv: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script], netns: host.netns, logFile: join(dir, 'dockerd.log') })
  const d: TestDockerd = { host, dir, socket, pluginDir, proc }
  try {
    await waitFor(`dockerd of ${host.name} answers`, async () => (await docker(d, ['version', '--format', '{{.Server.Version}}'], true)).ok, { timeoutMs: 60_000 })
  } catch (err) {
    await stopProcess(proc, { signal: 'SIGTERM', graceMs: 20_000 })
    throw err
  }
  return d
}

/** Run the docker CLI against `d` (through its socket). */
export async function docker (d: TestDockerd, args: string[], allowFail = false): Promise<{ ok: boolean, stdout: string, stderr: string }> {
  const r = await labRun(DOCKER, ['-H', `unix://${d.socket}`, ...args], { allowFail, timeoutMs: 120_000 })
  return { ok: r.ok, stdout: r.stdout.trim(), stderr: r.stderr }
}

/** Import a busybox root filesystem (built here from /bin/busybox) as image `tag`; no registry. */
export async function importBusybox (d: TestDockerd, tag: string): Promise<void> {
  const root = join(d.dir, 'rootfs')
  await mkdir(join(root, 'bin'), { recursive: true })
  await labRun('cp', ['/bin/busybox', join(root, 'bin', 'busybox')])
  for (const a of ['sh', 'httpd', 'nc', 'printf', 'hostname', 'mkdir', 'cat', 'ip', 'sleep']) await labRun('ln', ['-sf', 'busybox', join(root, 'bin', a)])
  await writeFile(join(d.dir, 'import.sh'), `set -e\ntar -C '${root}' -c . | '${DOCKER}' -H 'unix://${d.socket}' import - '${tag}'\n`)
  await labRun('sh', [join(d.dir, 'import.sh')], { timeoutMs: 120_000 })
}

/** Remove every container, the image `tag` and the network `network`, then stop dockerd (and the containerd it started). Best effort, reports what failed. */
export async function stopDockerd (d: TestDockerd, tag: string, network: string): Promise<string[]> {
  const problems: string[] = []
  const ids = await docker(d, ['ps', '-aq'], true)
  if (ids.ok && ids.stdout !== '') {
    const r = await docker(d, ['rm', '-f', ...ids.stdout.split('\n')], true)
    if (!r.ok) problems.push(`rm -f: ${r.stderr}`)
  }
  await docker(d, ['network', 'rm', network], true)
  await docker(d, ['rmi', '-f', tag], true)
  await stopProcess(d.proc, { signal: 'SIGTERM', graceMs: 20_000 })
  return problems
}
