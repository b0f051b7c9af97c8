import test from 'ava'
import { checkPublishValue, parsePublish, parsePublishList, parsePublishRef, portsForPublish, publishOwners } from '../../../src/state/publish.js'
import { checkService } from '../../../src/state/tables.js'
import { parseServiceCreate, parseServicePublish } from '../../../src/api/validate.js'
import { parseSsPorts } from '../../../src/dataplane/ingress/listening.js'

test('--publish short form: PUBLISHED[:TARGET][/proto], mode ingress', (t) => {
  t.deepEqual(parsePublish('8080:80/tcp', 'p'), { proto: 'tcp', published: 8080, target: 80, mode: 'ingress' })
  t.deepEqual(parsePublish('53:5353/udp', 'p'), { proto: 'udp', published: 53, target: 5353, mode: 'ingress' })
  t.deepEqual(parsePublish('9000', 'p'), { proto: 'tcp', published: 9000, target: 9000, mode: 'ingress' })
})

test('--publish long form as Docker: published, target, protocol, mode', (t) => {
  t.deepEqual(parsePublish('published=8080,target=80,protocol=udp,mode=host', 'p'), { proto: 'udp', published: 8080, target: 80, mode: 'host' })
  t.deepEqual(parsePublish('published=81', 'p'), { proto: 'tcp', published: 81, target: 81, mode: 'ingress' })
  t.deepEqual(parsePublish({ published: 82, target: 8, mode: 'host' }, 'p'), { proto: 'tcp', published: 82, target: 8, mode: 'host' })
})

test('bad --publish values name the field', (t) => {
  const bad: Array<[unknown, string]> = [
    ['0:80', 'publish[0]'], ['65536:80', 'publish[0]'], ['80:70000', 'publish[0]'], ['80/sctp', 'publish[0]'], ['x', 'publish[0]'],
    ['published=80,mode=both', 'publish[0].mode'], ['published=80,protocol=icmp', 'publish[0].protocol'], ['target=80', 'publish[0].published'],
    ['published=80,color=red', 'publish[0]'], [{ published: 0 }, 'publish[0].published'], [{ published: 80, extra: 1 }, 'publish[0].extra'], [7, 'publish[0]']
  ]
  for (const [v, field] of bad) {
    const e = t.throws(() => parsePublishList([v], 'publish'), undefined, JSON.stringify(v))
    t.is(e?.name, 'ValidationError', JSON.stringify(v))
    t.is((e as unknown as { field: string }).field, field, JSON.stringify(v))
  }
  const twice = t.throws(() => parsePublishList(['80:1', '80:2/tcp'], 'publish'))
  t.is((twice as unknown as { field: string }).field, 'publish[1]')
  t.notThrows(() => parsePublishList(['80:1', '80:2/udp'], 'publish'))
})

test('publish-rm refs and the publish body', (t) => {
  t.deepEqual(parsePublishRef('8080', 'rm[0]'), { published: 8080 })
  t.deepEqual(parsePublishRef('53/udp', 'rm[0]'), { published: 53, proto: 'udp' })
  t.throws(() => parsePublishRef('99999', 'rm[0]'), { name: 'ValidationError' })
  t.deepEqual(parseServicePublish({ add: ['8080:80'], rm: ['9000'] }), { add: [{ proto: 'tcp', published: 8080, target: 80, mode: 'ingress' }], rm: [{ published: 9000 }] })
  t.throws(() => parseServicePublish({}), { name: 'ValidationError' })
  t.throws(() => parseServicePublish({ add: 'x' }), { name: 'ValidationError' })
  const req = parseServiceCreate({ name: 'web', ports: ['80'], networks: ['n'], publish: ['8080:80'] })
  t.deepEqual(req.publish, [{ proto: 'tcp', published: 8080, target: 80, mode: 'ingress' }])
})

test('a service entry from another node: publish is validated on receipt', (t) => {
  const base = { name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], vips: { n1: '10.0.0.2' } }
  const ok = checkService({ ...base, publish: [{ proto: 'tcp', published: 8080, target: 80, mode: 'ingress' }] })
  t.true(ok.ok)
  t.deepEqual(ok.ok ? ok.value.publish : undefined, [{ proto: 'tcp', published: 8080, target: 80, mode: 'ingress' }])
  for (const publish of [[{ proto: 'tcp', published: 0, target: 80, mode: 'ingress' }], [{ proto: 'tcp', published: 1, target: 80, mode: 'x' }], 'x', [{ proto: 'tcp', published: 1, target: 1, mode: 'host' }, { proto: 'tcp', published: 1, target: 2, mode: 'host' }]]) {
    const r = checkService({ ...base, publish })
    t.false(r.ok, JSON.stringify(publish))
  }
  t.false(checkPublishValue(new Array(65).fill({ proto: 'tcp', published: 1, target: 1, mode: 'host' })).ok)
})

test('a published target without a VIP port gets one; a VIP port going elsewhere is refused', (t) => {
  t.deepEqual(portsForPublish([{ proto: 'tcp', port: 80, targetPort: 8080 }], [{ proto: 'tcp', published: 9000, target: 8080, mode: 'ingress' }], 'publish'), [{ proto: 'tcp', port: 80, targetPort: 8080 }])
  t.deepEqual(portsForPublish([], [{ proto: 'udp', published: 53, target: 5353, mode: 'ingress' }], 'publish'), [{ proto: 'udp', port: 5353, targetPort: 5353 }])
  const e = t.throws(() => portsForPublish([{ proto: 'tcp', port: 80, targetPort: 8080 }], [{ proto: 'tcp', published: 9000, target: 80, mode: 'ingress' }], 'publish'))
  t.is((e as unknown as { field: string }).field, 'publish[0].target')
})

test('two services publishing one port: the smallest service id owns it, the other is reported', (t) => {
  const p = { proto: 'tcp' as const, published: 8080, target: 80, mode: 'ingress' as const }
  for (const order of [[['b', { publish: [p] }], ['a', { publish: [p] }]], [['a', { publish: [p] }], ['b', { publish: [p] }]]] as const) {
    const r = publishOwners(order as unknown as Array<[string, { publish: typeof p[] }]>)
    t.is(r.owners.get('8080/tcp')?.serviceId, 'a')
    t.deepEqual([...r.losers], [['b', ['8080/tcp']]])
  }
  // a service losing several ports lists them sorted, in any order of the services
  const q = (published: number): typeof p => ({ ...p, published })
  for (const order of [[['c', [q(2), q(1)]], ['b', [q(1)]], ['a', [q(2)]]], [['a', [q(2)]], ['c', [q(1), q(2)]], ['b', [q(1)]]]] as const) {
    const r = publishOwners(order.map(([id, publish]) => [id, { publish: [...publish] }]))
    t.deepEqual([...r.losers].sort(), [['c', ['1/tcp', '2/tcp']]])
  }
})

test('ss output: the local ports', (t) => {
  const out = 'LISTEN 0 4096 0.0.0.0:9470 0.0.0.0:*\nLISTEN 0 511 [::]:80 [::]:*\nLISTEN 0 5 127.0.0.1%lo:53 0.0.0.0:*\nUNCONN 0 0 *:7946 *:*\n'
  t.deepEqual([...parseSsPorts(out)].sort((a, b) => a - b), [53, 80, 7946, 9470])
})
