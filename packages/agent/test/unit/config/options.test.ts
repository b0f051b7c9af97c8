import test from 'ava'
import { resolveAgentConfig } from '../../../src/config/options.js'
import { parseDurationMs, parseHostPort } from '../../../src/config/values.js'

const files = (content: Record<string, string>) => (path: string): string => {
  const c = content[path]
  if (c === undefined) throw new Error(`ENOENT: ${path}`)
  return c
}

test('defaults: nft, per-network, lan, 30 s grace, metrics on 0.0.0.0:9470, socket under /run', (t) => {
  const c = resolveAgentConfig({ flags: { insecure: true }, env: {} })
  t.is(c.listen, '/ip4/0.0.0.0/tcp/7946')
  t.deepEqual(c.metricsAddr, { host: '0.0.0.0', port: 9470 })
  t.is(c.apiSocket, '/run/scalelb/api.sock')
  t.is(c.programmer, 'nft')
  t.is(c.lbMode, 'per-network')
  t.is(c.profile, 'lan')
  t.is(c.restartGraceMs, 30_000)
  t.is(c.lbReleaseGraceMs, 30_000)
  t.false(c.leaveOnStop)
  t.deepEqual(c.join, [])
})

test('precedence: flag > env > config file > default', (t) => {
  const readFile = files({ '/etc/slb.json': JSON.stringify({ programmer: 'memory', profile: 'wan', logLevel: 'debug', restartGrace: '10s', insecure: true, join: ['/ip4/10.0.0.9/tcp/7946'] }) })
  const env = { SCALELB_CONFIG: '/etc/slb.json', SCALELB_PROFILE: 'local', SCALELB_LOG_LEVEL: 'warn' }
  const c = resolveAgentConfig({ flags: { 'log-level': 'error' }, env, readFile })
  t.is(c.logLevel, 'error', 'flag wins over env and file')
  t.is(c.profile, 'local', 'env wins over file')
  t.is(c.programmer, 'memory', 'file wins over default')
  t.is(c.restartGraceMs, 10_000)
  t.true(c.insecure)
  t.deepEqual(c.join, ['/ip4/10.0.0.9/tcp/7946'])
})

test('LB release grace: --lb-release-grace, SCALELB_LB_RELEASE_GRACE, config lbReleaseGrace (text or ms); 0 releases at once', (t) => {
  const readFile = files({ '/g.json': JSON.stringify({ insecure: true, lbReleaseGrace: '2m' }), '/n.json': JSON.stringify({ insecure: true, lbReleaseGrace: 1500 }), '/b.json': JSON.stringify({ insecure: true, lbReleaseGrace: true }) })
  t.is(resolveAgentConfig({ flags: { config: '/g.json' }, env: {}, readFile }).lbReleaseGraceMs, 120_000)
  t.is(resolveAgentConfig({ flags: { config: '/n.json' }, env: {}, readFile }).lbReleaseGraceMs, 1_500)
  t.is(resolveAgentConfig({ flags: { config: '/g.json' }, env: { SCALELB_LB_RELEASE_GRACE: '5s' }, readFile }).lbReleaseGraceMs, 5_000)
  t.is(resolveAgentConfig({ flags: { config: '/g.json', 'lb-release-grace': '0' }, env: { SCALELB_LB_RELEASE_GRACE: '5s' }, readFile }).lbReleaseGraceMs, 0)
  t.is((t.throws(() => resolveAgentConfig({ flags: { config: '/b.json' }, env: {}, readFile })) as Error & { field: string }).field, 'config.lbReleaseGrace')
})

test('overlay MTU: --mtu, SCALELB_MTU, config mtu (number or text); unset = derived at start; out of bounds names the setting', (t) => {
  t.is(resolveAgentConfig({ flags: { insecure: true }, env: {} }).mtu, undefined)
  t.is(resolveAgentConfig({ flags: { insecure: true, mtu: '1400' }, env: { SCALELB_MTU: '1300' } }).mtu, 1400)
  t.is(resolveAgentConfig({ flags: { insecure: true }, env: { SCALELB_MTU: '1300' } }).mtu, 1300)
  const readFile = files({ '/c.json': JSON.stringify({ mtu: 8950 }), '/t.json': JSON.stringify({ mtu: '1350' }), '/b.json': JSON.stringify({ mtu: true }) })
  t.is(resolveAgentConfig({ flags: { insecure: true, config: '/c.json' }, env: {}, readFile }).mtu, 8950)
  t.is(resolveAgentConfig({ flags: { insecure: true, config: '/t.json' }, env: {}, readFile }).mtu, 1350)
  const err = (flags: Record<string, string | boolean>, env: Record<string, string> = {}): string | undefined => {
    try {
      resolveAgentConfig({ flags: { insecure: true, ...flags }, env, readFile })
    } catch (e) {
      return `${(e as Error).name} ${(e as { field?: string }).field ?? ''}`
    }
    return undefined
  }
  t.is(err({ mtu: '576' }), 'ConfigError --mtu', 'below IPv6\'s 1280')
  t.is(err({ mtu: '70000' }), 'ConfigError --mtu')
  t.is(err({ mtu: 'jumbo' }), 'ConfigError --mtu')
  t.is(err({}, { SCALELB_MTU: '1000' }), 'ConfigError SCALELB_MTU')
  t.is(err({ config: '/b.json' }), 'ConfigError config.mtu')
})

test('--join is repeatable; SCALELB_JOIN is comma separated', (t) => {
  const f = resolveAgentConfig({ flags: { insecure: true, join: ['/ip4/10.0.0.1/tcp/7946', '/dns4/node2/tcp/7946'] }, env: {} })
  t.deepEqual(f.join, ['/ip4/10.0.0.1/tcp/7946', '/dns4/node2/tcp/7946'])
  const e = resolveAgentConfig({ flags: { insecure: true }, env: { SCALELB_JOIN: '/ip4/10.0.0.1/tcp/7946, /ip4/10.0.0.2/tcp/7946' } })
  t.deepEqual(e.join, ['/ip4/10.0.0.1/tcp/7946', '/ip4/10.0.0.2/tcp/7946'])
})

test('a non-default data dir puts the API socket inside it', (t) => {
  const c = resolveAgentConfig({ flags: { insecure: true, 'data-dir': '/srv/slb' }, env: {} })
  t.is(c.apiSocket, '/srv/slb/api.sock')
})

test('manager key file: --manager-key-file, SCALELB_MANAGER_KEY_FILE, config managerKeyFile; absent = a worker', (t) => {
  const readFile = files({ '/m.json': JSON.stringify({ clusterKeyFile: '/k', managerKeyFile: '/from-file' }) })
  t.is(resolveAgentConfig({ flags: { 'cluster-key-file': '/k' }, env: {} }).managerKeyFile, undefined)
  t.is(resolveAgentConfig({ flags: { config: '/m.json' }, env: {}, readFile }).managerKeyFile, '/from-file')
  t.is(resolveAgentConfig({ flags: { config: '/m.json' }, env: { SCALELB_MANAGER_KEY_FILE: '/from-env' }, readFile }).managerKeyFile, '/from-env')
  t.is(resolveAgentConfig({ flags: { config: '/m.json', 'manager-key-file': '/from-flag' }, env: { SCALELB_MANAGER_KEY_FILE: '/from-env' }, readFile }).managerKeyFile, '/from-flag')
})

const bad: Array<[string, Record<string, string | boolean | string[]>, Record<string, string>, string]> = [
  ['no cluster key and no --insecure', {}, {}, '--cluster-key-file'],
  ['non-loopback --api-addr', { insecure: true, 'api-addr': '0.0.0.0:8080' }, {}, '--api-addr'],
  ['bad metrics port', { insecure: true, 'metrics-addr': '127.0.0.1:99999' }, {}, '--metrics-addr'],
  ['metrics host is not an IP', { insecure: true, 'metrics-addr': 'example.com:80' }, {}, '--metrics-addr'],
  ['unknown programmer', { insecure: true, programmer: 'iptables' }, {}, '--programmer'],
  ['unknown lb mode (env)', { insecure: true }, { SCALELB_LB_MODE: 'per-host' }, 'SCALELB_LB_MODE'],
  ['bad listen multiaddr', { insecure: true, listen: '0.0.0.0:7946' }, {}, '--listen'],
  ['listen with a peer id', { insecure: true, listen: '/ip4/0.0.0.0/tcp/7946/p2p/12D3KooWLRWMhRg6arrRFyhaPyLCy7mfcAYZLNFPMoJKUa9517Ln' }, {}, '--listen'],
  ['bad join IP', { insecure: true, join: ['/ip4/300.1.1.1/tcp/1'] }, {}, '--join'],
  ['relative data dir', { insecure: true, 'data-dir': 'data' }, {}, '--data-dir'],
  ['netns prefix too long', { insecure: true, 'netns-prefix': 'averyveryverylongprefix' }, {}, '--netns-prefix'],
  ['underlay not an IP', { insecure: true, 'underlay-ip': 'eth0' }, {}, '--underlay-ip'],
  ['bad log level', { insecure: true, 'log-level': 'verbose' }, {}, '--log-level'],
  ['bad restart grace', { insecure: true, 'restart-grace': 'soon' }, {}, '--restart-grace'],
  ['bad LB release grace', { insecure: true, 'lb-release-grace': '-1s' }, {}, '--lb-release-grace'],
  ['LB release grace over a day (env)', { insecure: true }, { SCALELB_LB_RELEASE_GRACE: '25h' }, 'SCALELB_LB_RELEASE_GRACE'],
  ['bad boolean env', {}, { SCALELB_INSECURE: 'maybe' }, 'SCALELB_INSECURE'],
  ['a manager key without a cluster key (its public half lives there)', { insecure: true, 'manager-key-file': '/etc/scalelb/manager.key' }, {}, '--manager-key-file'],
  ['a manager key (env) without a cluster key', { insecure: true }, { SCALELB_MANAGER_KEY_FILE: '/m.key' }, 'SCALELB_MANAGER_KEY_FILE']
]
for (const [title, flags, env, field] of bad) {
  test(`refused: ${title} (names ${field})`, (t) => {
    const err = t.throws(() => resolveAgentConfig({ flags, env }))
    t.is(err?.name, 'ConfigError')
    t.is((err as Error & { field: string }).field, field)
    t.true(err?.message.startsWith(field))
  })
}

test('config file problems name the file setting', (t) => {
  const readFile = files({ '/a.json': '{"programer": "nft"}', '/b.json': 'not json', '/c.json': '{"insecure": "yes"}' })
  t.is((t.throws(() => resolveAgentConfig({ flags: { config: '/a.json' }, env: {}, readFile })) as Error & { field: string }).field, 'config.programer')
  t.is((t.throws(() => resolveAgentConfig({ flags: { config: '/b.json' }, env: {}, readFile })) as Error & { field: string }).field, '--config')
  t.is((t.throws(() => resolveAgentConfig({ flags: { config: '/missing.json' }, env: {}, readFile })) as Error & { field: string }).field, '--config')
  t.is((t.throws(() => resolveAgentConfig({ flags: { config: '/c.json' }, env: {}, readFile })) as Error & { field: string }).field, 'config.insecure')
})

test('value parsers', (t) => {
  t.is(parseDurationMs('x', '1.5s'), 1500)
  t.is(parseDurationMs('x', '2m'), 120_000)
  t.is(parseDurationMs('x', 250), 250)
  t.deepEqual(parseHostPort('x', '[::1]:9470'), { host: '::1', port: 9470 })
  t.throws(() => parseHostPort('x', '9470'), { name: 'ConfigError' })
})

test('--overlay-netns / SCALELB_OVERLAY_NETNS: on by default, off by --no-overlay-netns, env or config file, a bad value or both flags named', (t) => {
  const base = { flags: { insecure: true }, env: {} }
  t.true(resolveAgentConfig(base).overlayNetns)
  t.true(resolveAgentConfig({ ...base, flags: { ...base.flags, 'overlay-netns': true } }).overlayNetns)
  t.true(resolveAgentConfig({ ...base, env: { SCALELB_OVERLAY_NETNS: 'true' } }).overlayNetns)
  t.false(resolveAgentConfig({ ...base, flags: { ...base.flags, 'no-overlay-netns': true } }).overlayNetns)
  t.false(resolveAgentConfig({ ...base, flags: { ...base.flags, 'no-overlay-netns': true }, env: { SCALELB_OVERLAY_NETNS: '1' } }).overlayNetns, 'the flag wins over the environment')
  t.false(resolveAgentConfig({ ...base, env: { SCALELB_OVERLAY_NETNS: '0' } }).overlayNetns)
  t.false(resolveAgentConfig({ ...base, flags: { ...base.flags, config: '/c.json' }, readFile: () => '{"overlayNetns": false}' }).overlayNetns)
  t.throws(() => resolveAgentConfig({ ...base, flags: { ...base.flags, 'overlay-netns': true, 'no-overlay-netns': true } }), { name: 'ConfigError', message: /no-overlay-netns/ })
  t.throws(() => resolveAgentConfig({ ...base, env: { SCALELB_OVERLAY_NETNS: 'maybe' } }), { name: 'ConfigError', message: /OVERLAY_NETNS/ })
})
