import test from 'ava'
import { resolveAgentConfig } from '../../../src/config/options.js'

test('--docker-plugin is off by default; its sockets default to dockerd\'s plugin directory and API socket', (t) => {
  const c = resolveAgentConfig({ flags: { insecure: true }, env: {} })
  t.false(c.dockerPlugin)
  t.is(c.dockerPluginSocket, '/run/docker/plugins/scalelb.sock')
  t.is(c.dockerSocket, '/var/run/docker.sock')
})

test('--docker-plugin from flag, env or config file; socket paths must be absolute and fit a unix socket', (t) => {
  t.true(resolveAgentConfig({ flags: { insecure: true, 'docker-plugin': true }, env: {} }).dockerPlugin)
  t.true(resolveAgentConfig({ flags: { insecure: true }, env: { SCALELB_DOCKER_PLUGIN: 'true' } }).dockerPlugin)
  const file = resolveAgentConfig({ flags: { config: '/c.json' }, env: {}, readFile: () => JSON.stringify({ insecure: true, dockerPlugin: true, dockerSocket: '/srv/docker.sock' }) })
  t.true(file.dockerPlugin)
  t.is(file.dockerSocket, '/srv/docker.sock')
  t.throws(() => resolveAgentConfig({ flags: { insecure: true, 'docker-plugin-socket': 'scalelb.sock' }, env: {} }), { name: 'ConfigError', message: '--docker-plugin-socket: must be an absolute path, got "scalelb.sock"' })
  t.throws(() => resolveAgentConfig({ flags: { insecure: true }, env: { SCALELB_DOCKER_SOCKET: `/${'x'.repeat(120)}` } }), { name: 'ConfigError', message: /^SCALELB_DOCKER_SOCKET: path longer than 107 bytes/ })
  t.throws(() => resolveAgentConfig({ flags: { config: '/c.json' }, env: {}, readFile: () => JSON.stringify({ insecure: true, dockerPlugin: 'yes' }) }), { name: 'ConfigError', message: 'config.dockerPlugin: must be true or false' })
})
