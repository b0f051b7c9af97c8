/**
 * Podman (Debian 12: 4.3, CNI backend) for the kernel tests: one podman
 * setup per lab host, all under one temp dir (its own --root, --runroot,
 * --tmpdir, containers.conf with `network_backend = "cni"`, a CNI config
 * dir and a plugin dir holding `scalelb-cni`), run in the host's network
 * namespace so the containers' netns are made there and the plugin talks to
 * that host's agent. Images come from a root filesystem built here
 * (busybox-static), imported with `podman import`: no registry.
 */
import { access, constants as fsConstants, copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { labRun, type LabHost } from '@scalelb/lab'
import { PLUGIN_BIN, REFERENCE_PLUGINS, runInNetns, type PluginRun } from './cni-lab.js'

/** Where Debian's busybox-static puts its binary. */
export const BUSYBOX = '/usr/bin/busybox'

/**
 * runc here may lower rlimits but not raise them (no CAP_SYS_RESOURCE in
 * this VM), and podman asks for its defaults (nofile 1048576): containers
 * run with these instead.
 */
export const CONTAINER_ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024']

/**
 * What this machine lacks for the podman test (Debian packages podman,
 * containernetworking-plugins, busybox-static), [] when nothing: the test is
 * skipped naming them.
 */
export async function podmanMissing (): Promise<string[]> {
  const missing: string[] = []
  const exe = async (path: string): Promise<boolean> => await access(path, fsConstants.X_OK).then(() => true, () => false)
  if (!await exe('/usr/bin/podman')) missing.push('podman (Debian package podman)')
  if (!await exe(join(REFERENCE_PLUGINS, 'portmap'))) missing.push(`${REFERENCE_PLUGINS} (Debian package containernetworking-plugins)`)
  // a dynamically linked busybox (package busybox) would need the host's libraries inside the image
  const bb = await readFile(BUSYBOX).catch(() => undefined)
  if (bb === undefined || !isStaticElf64(bb)) missing.push(`a static ${BUSYBOX} (Debian package busybox-static)`)
  return missing
}

/** A 64-bit little-endian ELF file without a PT_INTERP program header (no dynamic loader: statically linked). */
function isStaticElf64 (b: Buffer): boolean {
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return false
  const phoff = Number(b.readBigUInt64LE(0x20))
  const size = b.readUInt16LE(0x36)
  const count = b.readUInt16LE(0x38)
  const PT_INTERP = 3
  for (let i = 0; i < count; i++) {
    const at = phoff + i * size
    if (at + 4 > b.length) return false
    if (b.readUInt32LE(at) === PT_INTERP) return false
  }
  return true
}

/**
 * Places rootful podman writes whatever its --root/--runroot say: the blob
 * info cache (/var/lib/containers/cache), libcni's result cache
 * (/var/lib/cni), its runtime dir (/run/containers). The test removes those
 * that did not exist before it ran.
 */
export const PODMAN_SYSTEM_DIRS = ['/var/lib/containers', '/var/lib/cni', '/run/containers']

/** Of `paths`, those that do not exist now. */
export async function absentPaths (paths: readonly string[]): Promise<string[]> {
  const absent: string[] = []
  for (const p of paths) if (!await access(p).then(() => true, () => false)) absent.push(p)
  return absent
}

/** A podman setup for one lab host. */
export interface PodmanHost {
  host: LabHost
  dir: string
  env: Record<string, string>
  /** `podman` and its global flags. */
  argv: string[]
}

/** Build the image's root filesystem (busybox and its applets) as a tar file in `dir`. */
export async function buildRootfsTar (dir: string): Promise<string> {
  const root = join(dir, 'rootfs')
  for (const d of ['bin', 'tmp', 'proc', 'sys', 'dev', 'etc']) await mkdir(join(root, d), { recursive: true })
  await copyFile(BUSYBOX, join(root, 'bin/busybox'))
  for (const applet of ['sh', 'httpd', 'nc', 'printf', 'tail', 'mkdir', 'echo', 'seq', 'sleep', 'cat', 'ip']) await symlink('busybox', join(root, 'bin', applet))
  const tar = join(dir, 'rootfs.tar')
  await labRun('tar', ['-C', root, '-cf', tar, '.'])
  return tar
}

/**
 * Podman for `host` under `dir`: containers.conf (CNI backend, our config
 * and plugin dirs), the conflists given by network name, `scalelb-cni`
 * linked into the plugin dir beside Debian's reference plugins.
 */
export async function setupPodman (host: LabHost, dir: string, conflists: Record<string, object>): Promise<PodmanHost> {
  const cniDir = join(dir, 'net.d')
  const pluginDir = join(dir, 'plugins')
  await mkdir(cniDir, { recursive: true })
  await mkdir(pluginDir, { recursive: true })
  await symlink(PLUGIN_BIN, join(pluginDir, 'scalelb-cni'))
  for (const [name, list] of Object.entries(conflists)) await writeFile(join(cniDir, `${name}.conflist`), JSON.stringify(list, null, 2))
  const conf = join(dir, 'containers.conf')
  await writeFile(conf, [
    '[network]',
    'network_backend = "cni"',
    `network_config_dir = "${cniDir}"`,
    `cni_plugin_dirs = ["${pluginDir}", "${REFERENCE_PLUGINS}"]`,
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    ''
  ].join('\n'))
  return {
    host,
    dir,
    // the plugin is a node script (#!/usr/bin/env node): podman passes its environment on to it
    env: { CONTAINERS_CONF: conf, PATH: `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` },
    argv: ['podman', '--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp'), '--storage-driver', 'vfs']
  }
}

/**
 * Run podman on its host: `nsenter --net` (not `ip netns exec`, whose own
 * mount namespace would hide the /run/netns mounts podman makes from the
 * agent).
 */
export async function podman (p: PodmanHost, args: readonly string[]): Promise<PluginRun> {
  const [file, ...rest] = p.argv
  return await runInNetns(undefined, 'nsenter', [`--net=/run/netns/${p.host.netns ?? ''}`, '--', file as string, ...rest, ...args], p.env, '')
}
