/**
 * Address exhaustion on a real kernel: a 3-host `scalelb lab` (agent
 * processes, libp2p gossip, nft sandboxes), a /28 filled by `task add
 * --netns` round-robin over the hosts. No address twice, every call
 * answered, then every host refuses at once with "network full". Needs root.
 */
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPlainNetns, isRoot, labApi, labDown, labUp, taskNetnsName, type LabHost, type LabState } from '../packages/lab/src/index.js'
import { fillRoundRobin, fullCounts } from '../packages/agent/test/support/fill.js'
import { waitFor } from '@scalelb/test-support'

const NODES = 3
const SUBNET = '10.93.0.0/28'
const USABLE = 14

;(isRoot() ? test.serial : test.skip)(`a /28 shared by ${NODES} agents fills round-robin, then task add fails at once with "network full"${isRoot() ? '' : ' (skipped: needs root for network namespaces and nftables)'}`, async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'slb-ipam-e2e-'))
  const up: { state?: LabState } = {}
  t.teardown(async () => {
    if (up.state !== undefined) await labDown(up.state)
    await rm(parent, { recursive: true, force: true })
  })
  const lab = up.state = await labUp({ nodes: NODES, stateDir: join(parent, 'lab'), mode: 'netns', agentArgs: ['--profile', 'local'] })
  const hosts = lab.hosts
  const h1 = hosts[0] as LabHost
  const net = await labApi.createNetwork(h1, 'small', [SUBNET])
  const svc = await labApi.createService(h1, 'web', ['small'], ['80:8080/tcp'])
  await waitFor('every agent knows the network and the service', async () => {
    try {
      for (const h of hosts) { await labApi.inspectNetwork(h, 'small'); await labApi.inspectService(h, 'web') }
      return true
    } catch {
      return false
    }
  }, { timeoutMs: 60_000 })
  const calls = await fillRoundRobin(NODES, async (node, id) => {
    const h = hosts[node] as LabHost
    const ns = taskNetnsName(lab, h, id)
    await createPlainNetns(lab, ns)
    const info = await labApi.addTaskNetns(h, { service: 'web', id, netnsPath: `/run/netns/${ns}` })
    return info.endpoints[0]?.ip as string
  })
  t.log(calls.map((c) => `${c.id}@h${c.node + 1}: ${c.ip ?? c.error?.name ?? ''} ${Math.round(c.ms)} ms`).join('\n'))
  for (const c of calls) if (c.error !== undefined) t.is(c.error.name, 'NetworkFullError', `${c.id}: ${c.error.message}`)
  for (const c of calls.slice(-NODES)) t.deepEqual(fullCounts(c.error?.message ?? ''), [USABLE, USABLE], `${c.id} refused as full`)
  // no address twice: task IPs, each host's LB IP, the VIP
  const ok = calls.flatMap((c) => c.ip === undefined ? [] : [c.ip])
  const lbs = (await Promise.all(hosts.map(async (h) => (await labApi.inspectNetwork(h, 'small')).lbIp))).filter((x) => x !== undefined)
  const all = [...ok, ...lbs, labApi.vipOn(svc, 'small') as string]
  t.is(new Set(all).size, all.length, `no address twice: ${all.join(' ')}`)
  t.is(all.length, USABLE, 'every usable address is in use')
  t.truthy(net.id)
})
