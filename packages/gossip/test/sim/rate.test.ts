import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { convergence } from '../../src/sim/scenarios.js'

const CLI = fileURLToPath(new URL('../../src/sim/cli.ts', import.meta.url))

test('convergence at 20 writes/s: every write reaches every node, the run ends sooner than at 1 write/s, same seed same figures', t => {
  const fast = convergence({ nodes: 50, seed: 21, countBytes: false }, 20, false, 20)
  const slow = convergence({ nodes: 50, seed: 21, countBytes: false }, 20, false, 1)
  t.is(fast.events_complete, 20)
  t.is(slow.events_complete, 20)
  // 20 writes in 1 s instead of 20 s: the run ends sooner, with fewer probes and acks (start-up traffic is common to both)
  t.true((fast.messages_total as number) < (slow.messages_total as number), `${fast.messages_total} vs ${slow.messages_total} messages`)
  t.deepEqual(convergence({ nodes: 50, seed: 21, countBytes: false }, 20, false, 20), fast)
})

function cli (...args: string[]): { status: number | null, stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=scalelb-source', CLI, ...args], { encoding: 'utf8' })
  return { status: r.status, stderr: r.stderr }
}

test('sim cli: a bad --rate exits 2 naming the flag', t => {
  for (const args of [['--rate', '0'], ['--rate', 'fast'], ['--scenario', 'failure', '--rate', '5']]) {
    const r = cli('--nodes', '10', ...args)
    t.is(r.status, 2, args.join(' '))
    t.regex(r.stderr, /--rate/, args.join(' '))
  }
})

test('convergence bytes: measured until the last node holds the last write, and the write window splits by message kind', t => {
  const r = convergence({ nodes: 40, seed: 5 }, 30, false, 10)
  t.is(r.events_complete, 30)
  // the run stops at the last receipt: first write to last write, then that write's spread, not a fixed idle tail
  t.true((r.measured_s as number) <= (r.write_window_s as number) + (r.seconds_100_max as number) + 0.001, JSON.stringify(r))
  const kinds = Object.entries(r).filter(([k]) => k.startsWith('write_window_') && k !== 'write_window_s' && k !== 'write_window_bytes_per_node_per_s')
  t.true(kinds.some(([k]) => k === 'write_window_gossip_bytes_per_node_per_s'))
  const sum = kinds.reduce((a, [, v]) => a + v, 0)
  t.true(Math.abs(sum - (r.write_window_bytes_per_node_per_s as number)) < 0.1 * kinds.length, `${sum} vs ${r.write_window_bytes_per_node_per_s}`)
})
