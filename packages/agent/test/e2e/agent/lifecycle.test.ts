import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '@scalelb/test-support'
import { cli, startAgentProcess, type AgentProcess } from './process.js'

test('the agent process: SIGKILL loses nothing, SIGTERM exits 0, `scalelb leave` withdraws and exits 0', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'slb-life-'))
  const socket = join(dataDir, 'api.sock')
  const procs: AgentProcess[] = []
  t.teardown(async () => {
    for (const p of procs) await p.stop('SIGKILL')
    await rm(dataDir, { recursive: true, force: true })
  })
  const args = ['--insecure', '--programmer', 'memory', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--metrics-addr', '127.0.0.1:0', '--profile', 'local']
  const start = async (): Promise<AgentProcess> => {
    const p = startAgentProcess(args)
    procs.push(p)
    await waitFor('agent answers', async () => {
      if (p.child.exitCode !== null) throw new Error(`agent exited: ${p.output()}`)
      return (await cli(socket, 'status')).code === 0
    }, { timeoutMs: 60_000 })
    return p
  }
  const ok = async (...argv: string[]): Promise<string> => {
    const r = await cli(socket, ...argv)
    t.is(r.code, 0, `${argv.join(' ')}: ${r.err}`)
    return r.out
  }

  let p = await start()
  const node = (JSON.parse(await ok('status', '--json')) as { node: string }).node
  await ok('network', 'create', 'front', '--subnet', '10.90.0.0/24')
  await ok('service', 'create', 'web', '--port', '80:8080/tcp', '--network', 'front')
  await ok('task', 'add', 'web', '--ip', '10.90.0.50', '--id', 'w1')
  await ok('task', 'drain', 'w1')
  await p.stop('SIGKILL')

  p = await start()
  const st = JSON.parse(await ok('status', '--json')) as { node: string, localTasks: number }
  t.is(st.node, node, 'same node ID after a restart (key in the data dir)')
  t.is(st.localTasks, 1)
  const tasks = JSON.parse(await ok('task', 'ls', '--json')) as Array<{ id: string, state: string, endpoints: Array<{ ip: string }> }>
  t.deepEqual(tasks.map((x) => [x.id, x.state, x.endpoints[0]?.ip]), [['w1', 'draining', '10.90.0.50']])
  t.is((JSON.parse(await ok('network', 'ls', '--json')) as unknown[]).length, 1)
  // the allocator state survived too: the same address cannot be taken twice
  t.is((await cli(socket, 'task', 'add', 'web', '--ip', '10.90.0.50', '--id', 'w2')).code, 1)
  t.is(await p.stop('SIGTERM'), 0, 'SIGTERM exits 0')

  p = await start()
  t.is((JSON.parse(await ok('task', 'ls', '--json')) as unknown[]).length, 1, 'SIGTERM kept the tasks')
  await ok('leave')
  t.is(await p.exited, 0, 'leave stops the agent with exit 0')
  p = await start()
  t.is((JSON.parse(await ok('status', '--json')) as { localTasks: number }).localTasks, 0, 'after leave the node has no tasks left')
  t.is(await p.stop('SIGTERM'), 0)
})
