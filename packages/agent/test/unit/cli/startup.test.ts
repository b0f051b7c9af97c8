/**
 * The client commands start light: `scalelb --version` and a command that
 * only talks to the control API load the CLI's own modules and Node's
 * built-ins, never libp2p, winston, execa or the agent's kernel code. A
 * module-resolution hook in the spawned CLI records every module it loads.
 */
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTestCluster } from '../../support/agents.js'

const REPO = fileURLToPath(new URL('../../../../../', import.meta.url))
const BIN = join(REPO, 'packages', 'agent', 'src', 'cli', 'bin.ts')

// Runs in the loader thread: appends each resolved URL to $SCALELB_TRACE_FILE.
const HOOKS = `import { appendFileSync } from 'node:fs'
export async function resolve (specifier, context, next) {
  const r = await next(specifier, context)
  appendFileSync(process.env.SCALELB_TRACE_FILE, r.url + '\\n')
  return r
}`
const TRACER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)})`

/** Agent modules the client path may load: the CLI itself and the dependency-free leaves. */
const CLIENT_MODULE = /\/packages\/agent\/src\/(cli\/[a-z-]+|api\/(client|contract|token-file)|config\/values|constants|errors|types)\.ts$/

async function loadedModules (t: { teardown: (fn: () => Promise<void>) => void }, args: string[]): Promise<{ code: number, out: string, modules: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'slb-trace-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const traceFile = join(dir, 'trace')
  const argv = ['--import', 'tsx', '--conditions=scalelb-source', '--import', `data:text/javascript,${encodeURIComponent(TRACER)}`, BIN, ...args]
  const { code, out } = await new Promise<{ code: number, out: string }>((resolve) => {
    execFile(process.execPath, argv, { cwd: REPO, env: { ...process.env, SCALELB_TRACE_FILE: traceFile } }, (err, stdout) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out: stdout })
    })
  })
  const text = await readFile(traceFile, 'utf8').catch(() => '')
  return { code, out, modules: [...new Set(text.split('\n').filter((l) => l !== ''))] }
}

function heavy (modules: string[]): string[] {
  return modules.filter((m) => !m.startsWith('node:') && !CLIENT_MODULE.test(m))
}

test('scalelb --version loads no dependency and no agent code', async (t) => {
  const r = await loadedModules(t, ['--version'])
  t.is(r.code, 0)
  t.regex(r.out, /^\d+\.\d+\.\d+/)
  t.true(r.modules.some((m) => m.endsWith('/cli/main.ts')), 'the trace saw the CLI load')
  t.deepEqual(heavy(r.modules), [])
})

test('scalelb status against a running agent loads no libp2p, winston, execa or kernel code', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const r = await loadedModules(t, ['status', '--json', '--socket', a.socket])
  t.is(r.code, 0)
  t.is((JSON.parse(r.out) as { node: string }).node, a.agent.id)
  t.deepEqual(heavy(r.modules), [])
  t.false(r.modules.some((m) => /libp2p|winston|execa/.test(m)))
})
