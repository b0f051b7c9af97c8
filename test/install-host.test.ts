/**
 * `npm run install-host` (scripts/install-host.sh) into a scratch root: the
 * installed tree runs on its own (its own production node_modules, no dev
 * dependency, no link out of it), the unit's ExecStart names the installed
 * command with a config the agent accepts, whose data dir and control
 * socket are the unit's StateDirectory and RuntimeDirectory; the unit keeps
 * the host's mount namespace (the agent's network namespaces must be seen
 * by everyone); a re-run upgrades and keeps the operator's config.
 */
import test from 'ava'
import { execFile } from 'node:child_process'
import { access, constants, mkdtemp, readFile, readdir, readlink, realpath, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { resolveAgentConfig } from '../packages/agent/src/index.js'
import { AGENT_NODE_FLAGS } from '../packages/agent/src/constants.js'

const run = promisify(execFile)
const repo = resolve(import.meta.dirname, '..')
const script = join(repo, 'scripts', 'install-host.sh')
const exampleConfig = await readFile(join(repo, 'packaging', 'systemd', 'agent.json'), 'utf8')

/** The `Key=value` lines of a unit file (comments and sections left out), in order. */
function directives (unit: string): Array<[string, string]> {
  return unit.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('[')).map((l) => {
    const i = l.indexOf('=')
    return [l.slice(0, i), l.slice(i + 1)]
  })
}

test('install-host puts a self-contained agent, its command, unit and config under --root; the unit runs it as the agent expects', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'slb-install-'))
  t.teardown(async () => { await rm(root, { recursive: true, force: true }) })
  const first = await run('bash', [script, '--root', root], { cwd: tmpdir() })
  t.regex(first.stdout, /installed scalelb \d+\.\d+\.\d+: .*agent\.json \(new\)/)
  t.regex(first.stdout, /systemctl daemon-reload && systemctl enable --now scalelb/)

  const opt = join(root, 'opt', 'scalelb')
  const version = JSON.parse(await readFile(join(repo, 'packages', 'agent', 'package.json'), 'utf8')).version as string
  const cli = async (...argv: string[]): Promise<string> => (await run(process.execPath, [join(opt, 'packages', 'agent', 'bin', 'scalelb.js'), ...argv], { cwd: tmpdir() })).stdout.trim()
  t.is(await cli('--version'), version, 'the installed tree runs')
  t.regex(await cli('node-id', '--data-dir', join(root, 'var')), /^12D3KooW/)
  // every workspace link resolves inside the installed tree; no dev dependency came along
  for (const name of await readdir(join(opt, 'node_modules', '@scalelb'))) {
    const target = await realpath(join(opt, 'node_modules', '@scalelb', name))
    t.true(target.startsWith(await realpath(opt)), `@scalelb/${name} -> ${await readlink(join(opt, 'node_modules', '@scalelb', name))}`)
  }
  await t.throwsAsync(access(join(opt, 'node_modules', 'ava')), undefined, 'ava (a dev dependency) is not installed')

  // the command: node with the agent's flags, on the installed tree
  const wrapper = await readFile(join(root, 'usr', 'local', 'bin', 'scalelb'), 'utf8')
  t.regex(wrapper, new RegExp(`^exec /\\S+/node ${AGENT_NODE_FLAGS.join(' ')} /opt/scalelb/packages/agent/bin/scalelb\\.js "\\$@"$`, 'm'))
  await access(join(root, 'usr', 'local', 'bin', 'scalelb'), constants.X_OK)

  // the unit: ExecStart is the installed command with a config the agent takes, and the agent's defaults are the unit's directories
  const unit = directives(await readFile(join(root, 'etc', 'systemd', 'system', 'scalelb.service'), 'utf8'))
  const get = (k: string): string | undefined => unit.find(([key]) => key === k)?.[1]
  const [cmd, ...args] = (get('ExecStart') ?? '').split(' ')
  t.is(cmd, '/usr/local/bin/scalelb')
  t.deepEqual(args, ['agent', '--config', '/etc/scalelb/agent.json'])
  const cfg = resolveAgentConfig({ flags: { config: '/etc/scalelb/agent.json' }, env: {}, readFile: (p) => p === '/etc/scalelb/agent.json' ? exampleConfig : '' })
  t.is(cfg.dataDir, `/var/lib/${get('StateDirectory') ?? ''}`, 'data dir = StateDirectory')
  t.is(cfg.apiSocket, `/run/${get('RuntimeDirectory') ?? ''}/api.sock`, 'control socket in RuntimeDirectory')
  t.is(cfg.clusterKeyFile, '/etc/scalelb/cluster.key')
  for (const [k] of unit) t.false(/^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateMounts|ReadOnlyPaths|ReadWritePaths|InaccessiblePaths|TemporaryFileSystem|BindPaths|BindReadOnlyPaths|MountFlags|RootDirectory|RootImage|PrivateNetwork|NetworkNamespacePath|User|DynamicUser)$/.test(k), `${k}: the agent must run as root in the host's mount and network namespaces`)
  t.is(get('KillSignal'), 'SIGTERM')
  t.is(get('Restart'), 'on-failure', '`scalelb leave` exits 0 and stays stopped')

  // a re-run upgrades /opt/scalelb and keeps the operator's config
  const edited = exampleConfig.replace('"join": []', '"join": ["/ip4/192.0.2.1/tcp/7946"]')
  await writeFile(join(root, 'etc', 'scalelb', 'agent.json'), edited)
  const second = await run('bash', [script, '--root', root], { cwd: tmpdir() })
  t.regex(second.stdout, /agent\.json \(kept\)/)
  t.is(await readFile(join(root, 'etc', 'scalelb', 'agent.json'), 'utf8'), edited)
  t.is(await cli('--version'), version)
  t.deepEqual((await readdir(join(root, 'opt'))).sort(), ['scalelb'], 'no staging directory left')

  const bad = await t.throwsAsync(run('bash', [script, '--bogus']))
  t.is((bad as { code?: number }).code, 2)
  t.regex((bad as { stderr?: string }).stderr ?? '', /unknown option --bogus/)
})

