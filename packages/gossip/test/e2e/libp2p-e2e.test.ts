import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import test, { type ExecutionContext } from 'ava'
import { waitFor } from '@scalelb/test-support'
import { createGossip, createSeededRng, createSystemClock, type EntryStatus, type Gossip, type MemberState } from '../../src/index.js'
import { createLibp2pTransport, generateClusterKey, generateNodeKey, parseClusterKey } from '../../src/transport/libp2p.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const FIXTURE = join(HERE, '..', 'support', 'libp2p-node.ts')
const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
/** Every wait in this file gives up after this long (ms). */
const WAIT_MS = 45_000

interface ViewMember { id: string, state: MemberState, incarnation: number }
interface ViewEntry { table: string, key: string, value: unknown, origin: string, status: EntryStatus, lamport: number, seq: number }
/** What one node (in-process or child) currently sees. */
interface View { id: string, members: ViewMember[], entries: ViewEntry[] }

/** A gossip node in a child process, driven over stdin/stdout JSON lines. */
class ChildNode {
  id = ''
  addrs: string[] = []
  /** Incarnation it started with (a restart starts above the last one it persisted). */
  incarnation = -1
  view: View | undefined
  exited = false
  readonly errors: string[] = []
  private readonly proc: ChildProcess
  readonly ready: Promise<void>

  constructor (dataDir: string, clusterKeyFile: string, join: string[]) {
    const args = ['--import', 'tsx', '--conditions=scalelb-source', FIXTURE,
      '--data-dir', dataDir, '--cluster-key-file', clusterKeyFile, '--profile', 'local', ...join.flatMap(a => ['--join', a])]
    this.proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let onReady: () => void = () => {}
    let onFail: (e: Error) => void = () => {}
    this.ready = new Promise<void>((resolve, reject) => { onReady = resolve; onFail = reject })
    this.proc.on('exit', (code, signal) => {
      this.exited = true
      onFail(new Error(`child exited before ready (code ${String(code)}, signal ${String(signal)}): ${this.errors.join(' | ')}`))
    })
    this.proc.stderr?.on('data', (d: Buffer) => { this.errors.push(d.toString().slice(0, 2000)) })
    createInterface({ input: this.proc.stdout! }).on('line', line => {
      let msg: Record<string, unknown>
      try { msg = JSON.parse(line) as Record<string, unknown> } catch { this.errors.push(`bad line: ${line}`); return }
      if (msg.event === 'ready') {
        this.id = String(msg.id)
        this.addrs = msg.addrs as string[]
        this.incarnation = Number(msg.incarnation)
        onReady()
      } else if (msg.event === 'state') {
        this.view = { id: String(msg.id), members: msg.members as ViewMember[], entries: msg.entries as ViewEntry[] }
      } else {
        this.errors.push(line)
      }
    })
  }

  get pid (): number | undefined { return this.proc.pid }

  command (cmd: Record<string, unknown>): void {
    this.proc.stdin?.write(JSON.stringify(cmd) + '\n')
  }

  /** Kill with SIGKILL (our own child, by PID) and wait for it to be gone. */
  async kill (): Promise<void> {
    if (this.exited) return
    const gone = new Promise<void>(resolve => { this.proc.once('exit', () => { resolve() }) })
    this.proc.kill('SIGKILL')
    await gone
  }
}

function viewOf (g: Gossip): View {
  return {
    id: g.id,
    members: g.members().map(m => ({ id: m.id, state: m.state, incarnation: m.incarnation })),
    entries: g.entries('cluster').map(e => ({ table: e.table, key: e.key, value: e.value, origin: e.origin, status: e.status, lamport: e.lamport, seq: e.seq }))
  }
}

const stateOf = (v: View | undefined, id: string): MemberState | undefined => v?.members.find(m => m.id === id)?.state
const entryOf = (v: View | undefined, key: string): ViewEntry | undefined => v?.entries.find(e => e.table === 'e2e' && e.key === key)

async function startInProcess (t: ExecutionContext, clusterKey: Uint8Array, i: number): Promise<{ g: Gossip, addrs: string[] }> {
  const transport = createLibp2pTransport({ privateKey: await generateNodeKey(), listen: [LOOPBACK], clusterKey })
  const g = createGossip({ transport, clock: createSystemClock(), rng: createSeededRng(i + 1), profile: 'local' })
  t.teardown(async () => { await g.stop() })
  await g.start()
  return { g, addrs: transport.addrs() }
}

test('libp2p end to end: 5 in-process + 3 child-process nodes converge, detect a SIGKILL, and take the restarted node back', async t => {
  t.timeout(180_000)
  const dir = await mkdtemp(join(tmpdir(), `scalelb-e2e-${Math.random().toString(36).slice(2, 8)}-`))
  const children: ChildNode[] = []
  t.teardown(async () => {
    await Promise.all(children.map(async c => { await c.kill() }))
    await rm(dir, { recursive: true, force: true })
  })
  const keyText = generateClusterKey()
  const keyFile = join(dir, 'cluster.key')
  await writeFile(keyFile, keyText, { mode: 0o600 })
  const clusterKey = parseClusterKey(keyText)

  // 1. five nodes in this process join through the first one and converge
  const local: Gossip[] = []
  const first = await startInProcess(t, clusterKey, 0)
  local.push(first.g)
  const seeds = first.addrs
  for (let i = 1; i < 5; i++) {
    const n = await startInProcess(t, clusterKey, i)
    t.is(await n.g.join(seeds), 1)
    local.push(n.g)
  }
  const views = (): View[] => [...local.map(viewOf), ...children.filter(c => !c.exited).map(c => c.view ?? { id: c.id, members: [], entries: [] })]
  const aliveCount = (v: View): number => v.members.filter(m => m.state === 'alive').length
  await waitFor('all 5 in-process nodes to see 5 alive', () => local.every(g => aliveCount(viewOf(g)) === 5), { timeoutMs: WAIT_MS, detail: () => local.map(g => aliveCount(viewOf(g))) })
  local[2]?.set('cluster', 'e2e', 'from-local', { n: 1 })
  await waitFor('the entry set on one node to reach the other 4', () => local.every(g => entryOf(viewOf(g), 'from-local')?.status === 'live'), { timeoutMs: WAIT_MS })
  t.deepEqual(entryOf(viewOf(local[4] as Gossip), 'from-local')?.value, { n: 1 })

  // a node with another cluster key cannot join, and never shows up as a member
  const strangerTransport = createLibp2pTransport({ privateKey: await generateNodeKey(), listen: [LOOPBACK], clusterKey: parseClusterKey(generateClusterKey()), dialTimeoutMs: 1000 })
  const stranger = createGossip({ transport: strangerTransport, clock: createSystemClock(), rng: createSeededRng(99), profile: 'local' })
  t.teardown(async () => { await stranger.stop() })
  await stranger.start()
  t.is((await t.throwsAsync(stranger.join(seeds)))?.name, 'JoinFailedError')
  t.true(local.every(g => g.members().every(m => m.id !== stranger.id)))
  t.deepEqual(stranger.members().map(m => m.id), [stranger.id])

  // 2. three child processes join and everyone converges on 8 alive members
  const dataDirs = [0, 1, 2].map(i => join(dir, `child-${i}`))
  for (const d of dataDirs) await mkdir(d)
  for (const d of dataDirs) children.push(new ChildNode(d, keyFile, [seeds[0] as string]))
  await Promise.all(children.map(async c => { await c.ready }))
  await waitFor('all 8 nodes to see 8 alive', () => views().every(v => aliveCount(v) === 8), { timeoutMs: WAIT_MS, detail: () => views().map(aliveCount) })
  children[1]?.command({ cmd: 'set', scope: 'cluster', table: 'e2e', key: 'from-child', value: 'hello' })
  children[0]?.command({ cmd: 'set', scope: 'cluster', table: 'e2e', key: 'victim', value: 'v0' })
  await waitFor('entries from a child and from this process to reach all 8 nodes', () => views().every(v => entryOf(v, 'from-child')?.status === 'live' && entryOf(v, 'victim')?.status === 'live' && entryOf(v, 'from-local')?.status === 'live'), { timeoutMs: WAIT_MS })

  // 3. SIGKILL one child: every other node marks it dead and suspends its entries
  const victim = children[0] as ChildNode
  const victimId = victim.id
  const victimIncarnation = victim.view?.members.find(m => m.id === victimId)?.incarnation ?? -1
  t.true(victimIncarnation >= 0)
  await victim.kill()
  const killedAt = Date.now()
  await waitFor('every live node to mark the killed node dead', () => views().every(v => stateOf(v, victimId) === 'dead'), { timeoutMs: WAIT_MS, detail: () => views().map(v => stateOf(v, victimId)) })
  t.log(`SIGKILL detected by all 7 live nodes after ${Date.now() - killedAt} ms (profile local)`)
  await waitFor('the killed node\'s entry to be suspended everywhere', () => views().every(v => entryOf(v, 'victim')?.status === 'suspended'), { timeoutMs: WAIT_MS, detail: () => views().map(v => entryOf(v, 'victim')?.status) })
  t.true(views().every(v => entryOf(v, 'from-child')?.status === 'live'), 'entries of live nodes stay live')

  // 4. restart it with the same data dir (same key, so same ID): alive again, its entry live again
  const again = new ChildNode(dataDirs[0] as string, keyFile, [seeds[0] as string])
  children[0] = again
  const restartedAt = Date.now()
  await again.ready
  t.is(again.id, victimId)
  t.true(again.incarnation > victimIncarnation, `restarted with incarnation ${again.incarnation}, was ${victimIncarnation}`)
  await waitFor('every node to see the restarted node alive', () => views().every(v => stateOf(v, victimId) === 'alive' && aliveCount(v) === 8), { timeoutMs: WAIT_MS, detail: () => views().map(v => stateOf(v, victimId)) })
  await waitFor('the restarted node\'s entry to be live again on every other node', () => local.every(g => entryOf(viewOf(g), 'victim')?.status === 'live') && children.slice(1).every(c => entryOf(c.view, 'victim')?.status === 'live'), { timeoutMs: WAIT_MS, detail: () => views().map(v => entryOf(v, 'victim')?.status) })
  t.log(`restarted node alive with live entries everywhere ${Date.now() - restartedAt} ms after its start`)
  // once it has synced its earlier life's entry back, a new write of it supersedes that one everywhere
  await waitFor('the restarted node to get its own entry back through sync', () => entryOf(again.view, 'victim')?.value === 'v0', { timeoutMs: WAIT_MS, detail: () => entryOf(again.view, 'victim') })
  again.command({ cmd: 'set', scope: 'cluster', table: 'e2e', key: 'victim', value: 'v1' })
  await waitFor('the restarted node\'s new write to replace its old one everywhere', () => views().every(v => entryOf(v, 'victim')?.value === 'v1' && entryOf(v, 'victim')?.status === 'live'), { timeoutMs: WAIT_MS, detail: () => views().map(v => entryOf(v, 'victim')) })
  t.true(views().every(v => v.members.every(m => m.id !== stranger.id)), 'the stranger never became a member anywhere')
  for (const c of children) t.deepEqual(c.errors.filter(e => !e.includes('ExperimentalWarning')), [], `child ${c.id} reported errors`)
})
