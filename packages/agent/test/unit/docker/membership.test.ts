import test from 'ava'
import { readFileSync } from 'node:fs'
import { createSilentLogger } from '../../../src/logging/logger.js'
import { createMembership, membershipOf, parseContainers, type Membership } from '../../../src/docker/membership.js'
import type { DockerEngine } from '../../../src/docker/engine.js'
import { parseEvent, createLineSplitter, type DockerEvent } from '../../../src/docker/events.js'

const read = (f: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/${f}`, import.meta.url), 'utf8'))
/** `docker run -d --network front --label scalelb.service=web --label scalelb.port=80:8080 IMG httpd` as dockerd 20.10 lists and inspects it. */
const list = read('containers-list-20.10.json')
const inspect = read('container-inspect-20.10.json')
const events = createLineSplitter().push(readFileSync(new URL('./fixtures/events-20.10.ndjson', import.meta.url))).map((l) => (parseEvent(l) as { event: DockerEvent }).event)
const FRONT = 'a5b9073fdbbc7658ab0ded757ba551e1fa41e04087015bd00a216c829eae03c4'
const EP = '9c6a95285afe7db502f11686bff5cae446219749ff259356178eb29999eacc19'

test('labels: scalelb.service and scalelb.port read from list and inspect answers alike', (t) => {
  t.deepEqual(membershipOf({ 'scalelb.service': 'web', 'scalelb.port': '80:8080, 53/udp' }), { service: 'web', ports: ['80:8080', '53/udp'] })
  t.is(membershipOf({ 'scalelb.service': ' ' }), undefined)
  const [fromList] = parseContainers(list)
  const [fromInspect] = parseContainers(inspect)
  t.deepEqual(fromList, fromInspect)
  t.deepEqual(fromList?.Networks, { front: { NetworkID: FRONT, EndpointID: EP } })
  t.is(fromList?.Labels['scalelb.service'], 'web')
})

function setup (running: unknown): { m: ReturnType<typeof createMembership>, backends: Map<string, string>, calls: Array<[string, Membership | undefined]> } {
  const backends = new Map<string, string>()
  const calls: Array<[string, Membership | undefined]> = []
  const engine: DockerEngine = {
    async get (path) { return path.startsWith('/containers/json') ? running : inspect },
    async events () { throw new Error('not used') }
  }
  const m = createMembership({
    engine,
    logger: createSilentLogger(),
    host: {
      boundNetwork: (id) => id === FRONT ? 'net-front' : undefined,
      backends: () => backends,
      async setMembership (taskId, mm) {
        calls.push([taskId, mm])
        if (mm === undefined) backends.delete(taskId)
        else backends.set(taskId, mm.service)
      }
    }
  })
  return { m, backends, calls }
}

test('start makes the endpoint a backend, die withdraws it, destroy after die does nothing more', async (t) => {
  const { m, backends, calls } = setup([])
  for (const e of events) await m.onEvent(e)
  t.deepEqual(calls, [[EP, { service: 'web', ports: ['80:8080'] }], [EP, undefined]])
  t.is(backends.size, 0)
})

test('resync: running labelled containers become backends, backends whose container is gone are withdrawn', async (t) => {
  const { m, backends, calls } = setup(list)
  backends.set('stale-endpoint', 'web')
  await m.resync(new AbortController().signal)
  t.deepEqual([...backends], [[EP, 'web']])
  t.deepEqual(calls.map((c) => c[0]), ['stale-endpoint', EP])
  // a second resync with nothing changed does nothing
  await m.resync(new AbortController().signal)
  t.is(calls.length, 2)
})

test('a container on no scalelb network is left alone', async (t) => {
  const other = structuredClone(list) as Array<{ NetworkSettings: { Networks: Record<string, { NetworkID: string }> } }>
  for (const n of Object.values((other[0] as (typeof other)[number]).NetworkSettings.Networks)) n.NetworkID = 'bridge-network'
  const { m, calls } = setup(other)
  await m.resync(new AbortController().signal)
  t.deepEqual(calls, [])
})
