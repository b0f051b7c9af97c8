import test from 'ava'
import { parseCniArgs, parseEnv, parseNetConf } from '../../src/config.js'
import { CNI_ERR } from '../../src/constants.js'

/** The code and message of the CniError `fn` throws. */
function cniError (fn: () => unknown): { code: number, msg: string } {
  try {
    fn()
  } catch (err) {
    const e = err as Error & { code?: number }
    if (e.name !== 'CniError') throw err
    return { code: e.code as number, msg: e.message }
  }
  throw new Error('expected a CniError')
}

const ADD_ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'f'.repeat(64), CNI_IFNAME: 'eth0', CNI_NETNS: '/run/netns/cni-1' }
const CONF = { cniVersion: '1.0.0', name: 'front-web', type: 'scalelb-cni', network: 'front', service: 'web' }
const DEFAULTS = { defaultSocket: '/run/scalelb/api.sock' }

function conf (c: Record<string, unknown>, env: Record<string, string> = ADD_ENV): ReturnType<typeof parseNetConf> {
  return parseNetConf(JSON.stringify(c), parseEnv(env), env, DEFAULTS)
}

test('CNI_ARGS: K=V pairs separated by ;, unknown keys kept (the plugin ignores them), a pair without = is code 4 naming CNI_ARGS', (t) => {
  t.deepEqual(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=web-0;SCALELB_SERVICE=api'), { IgnoreUnknown: '1', K8S_POD_NAME: 'web-0', SCALELB_SERVICE: 'api' })
  t.deepEqual(parseCniArgs(''), {})
  t.deepEqual(parseCniArgs('A=b=c;'), { A: 'b=c' }, 'the value runs to the next ;')
  t.deepEqual(cniError(() => parseCniArgs('A=1;oops')), { code: CNI_ERR.INVALID_ENV, msg: 'CNI_ARGS: "oops" is not KEY=VALUE' })
  t.is(cniError(() => parseCniArgs('=1')).code, CNI_ERR.INVALID_ENV)
})

test('the environment: each missing or bad CNI_* variable is code 4 naming it; DEL may come without CNI_NETNS', (t) => {
  const env = parseEnv(ADD_ENV)
  t.deepEqual(env, { command: 'ADD', containerId: 'f'.repeat(64), ifname: 'eth0', netns: '/run/netns/cni-1', args: {} })
  const cases: Array<[Record<string, string | undefined>, RegExp]> = [
    [{ ...ADD_ENV, CNI_COMMAND: undefined }, /^CNI_COMMAND: not set; expected one of ADD, DEL, CHECK, VERSION, STATUS$/],
    [{ ...ADD_ENV, CNI_COMMAND: 'add' }, /^CNI_COMMAND: "add"/],
    [{ ...ADD_ENV, CNI_COMMAND: 'GC' }, /^CNI_COMMAND: GC \(spec 1\.1\) is not supported/],
    [{ ...ADD_ENV, CNI_CONTAINERID: undefined }, /^CNI_CONTAINERID: not set$/],
    [{ ...ADD_ENV, CNI_CONTAINERID: '-x' }, /^CNI_CONTAINERID: "-x" is not a container ID/],
    [{ ...ADD_ENV, CNI_IFNAME: '' }, /^CNI_IFNAME: not set$/],
    [{ ...ADD_ENV, CNI_IFNAME: 'much-too-long-name' }, /^CNI_IFNAME: "much-too-long-name" is not an interface name/],
    [{ ...ADD_ENV, CNI_NETNS: undefined }, /^CNI_NETNS: not set \(ADD needs the container's network namespace\)$/],
    [{ ...ADD_ENV, CNI_COMMAND: 'CHECK', CNI_NETNS: '' }, /^CNI_NETNS: not set \(CHECK needs/],
    [{ ...ADD_ENV, CNI_NETNS: 'cni-1' }, /^CNI_NETNS: "cni-1" is not an absolute path$/]
  ]
  for (const [e, msg] of cases) {
    const r = cniError(() => parseEnv(e))
    t.is(r.code, CNI_ERR.INVALID_ENV, msg.source)
    t.regex(r.msg, msg)
  }
  t.false('netns' in parseEnv({ ...ADD_ENV, CNI_COMMAND: 'DEL', CNI_NETNS: '' }), 'DEL after the namespace is gone')
  t.deepEqual(parseEnv({ CNI_COMMAND: 'VERSION' }), { command: 'VERSION', args: {} }, 'VERSION needs nothing else')
})

test('the network configuration: bad JSON is 6, an unsupported cniVersion 1, a bad key 7 naming it', (t) => {
  const env = parseEnv(ADD_ENV)
  const parse = (text: string): ReturnType<typeof cniError> => cniError(() => parseNetConf(text, env, ADD_ENV, DEFAULTS))
  t.like(parse('{"cniVersion":'), { code: CNI_ERR.DECODE })
  t.regex(parse('{"cniVersion":').msg, /^network configuration \(stdin\): not JSON: /)
  t.deepEqual(parse('[1]'), { code: CNI_ERR.DECODE, msg: 'network configuration (stdin): must be a JSON object' })
  const bad: Array<[Record<string, unknown>, number, RegExp]> = [
    [{ ...CONF, cniVersion: undefined }, CNI_ERR.INVALID_CONFIG, /^cniVersion: required/],
    [{ ...CONF, cniVersion: '0.2.0' }, CNI_ERR.INCOMPATIBLE_VERSION, /^cniVersion: "0\.2\.0" is not supported; supported: 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0$/],
    [{ ...CONF, name: undefined }, CNI_ERR.INVALID_CONFIG, /^name: required/],
    [{ ...CONF, network: undefined }, CNI_ERR.INVALID_CONFIG, /^network: required/],
    [{ ...CONF, network: 7 }, CNI_ERR.INVALID_CONFIG, /^network: must be a non-empty string, got 7$/],
    [{ ...CONF, service: '' }, CNI_ERR.INVALID_CONFIG, /^service: must be a non-empty string/],
    [{ ...CONF, socket: 'api.sock' }, CNI_ERR.INVALID_CONFIG, /^socket: must be an absolute path/],
    [{ ...CONF, dns: { nameservers: '10.0.0.2' } }, CNI_ERR.INVALID_CONFIG, /^dns\.nameservers: must be an array of strings$/],
    [{ ...CONF, dns: [] }, CNI_ERR.INVALID_CONFIG, /^dns: must be an object$/],
    [{ ...CONF, prevResult: 'x' }, CNI_ERR.INVALID_CONFIG, /^prevResult: must be an object$/],
    [{ ...CONF, prevResult: { ips: [{ gateway: '10.0.0.1' }] } }, CNI_ERR.INVALID_CONFIG, /^prevResult\.ips\[0\]\.address: must be a string$/]
  ]
  for (const [c, code, msg] of bad) {
    const r = parse(JSON.stringify(c))
    t.is(r.code, code, msg.source)
    t.regex(r.msg, msg)
  }
  const del = { ...ADD_ENV, CNI_COMMAND: 'DEL' }
  t.is(conf({ ...CONF, network: undefined }, del).network, undefined, 'DEL needs no network')
})

test('the service: the configuration\'s, overridden by CNI_ARGS SCALELB_SERVICE (empty: an endpoint only); unknown CNI_ARGS are ignored', (t) => {
  t.like(conf(CONF), { network: 'front', service: 'web', serviceFrom: 'service' })
  const over = conf(CONF, { ...ADD_ENV, CNI_ARGS: 'IgnoreUnknown=1;SCALELB_SERVICE=api;K8S_POD_NAMESPACE=x' })
  t.like(over, { service: 'api', serviceFrom: 'CNI_ARGS SCALELB_SERVICE' })
  t.false('service' in conf(CONF, { ...ADD_ENV, CNI_ARGS: 'SCALELB_SERVICE=' }))
  const { service: _s, ...noService } = CONF
  t.false('service' in conf(noService), 'no service: an endpoint only')
})

test('the socket: the configuration\'s socket key, else SCALELB_API_SOCKET, else the agent\'s default', (t) => {
  const withEnv = { ...ADD_ENV, SCALELB_API_SOCKET: '/var/lib/scalelb/api.sock' }
  t.is(conf({ ...CONF, socket: '/run/a.sock' }, withEnv).socket, '/run/a.sock')
  t.is(conf(CONF, withEnv).socket, '/var/lib/scalelb/api.sock')
  t.is(conf(CONF).socket, '/run/scalelb/api.sock')
})

test('dns and prevResult are kept as given when well-formed', (t) => {
  const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/x' }], ips: [{ address: '10.9.0.2/24', interface: 0 }], dns: { nameservers: ['10.9.0.1'] } }
  const c = conf({ ...CONF, dns: { nameservers: ['10.20.0.2'], search: ['svc'], options: ['ndots:2'], domain: 'cluster' }, prevResult })
  t.deepEqual(c.dns, { nameservers: ['10.20.0.2'], domain: 'cluster', search: ['svc'], options: ['ndots:2'] })
  t.deepEqual(c.prevResult, prevResult)
})
