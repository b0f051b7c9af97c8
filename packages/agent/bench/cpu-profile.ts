/**
 * Summarise V8 CPU profiles (`node --cpu-prof`, e.g. the agents of
 * `npm run bench:cluster -- --cpu-prof-dir DIR`): CPU time by function, self
 * and inclusive (a function counted once per sample however deep it recurs),
 * summed over every profile given, optionally only inside one phase of
 * DIR/phases.json (bench:cluster writes its phases on the profiles' clock).
 *
 * Run: node --import tsx packages/agent/bench/cpu-profile.ts DIR_OR_FILES... [--phase idle] [--top 30]
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { BenchUsageError, intFlag, printTable, round } from './common.js'

/** The parts of a .cpuprofile read here. */
interface Profile {
  nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }>
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** Pseudo-frames V8 puts at the root of a sample that ran no JavaScript. */
const NOT_CPU = new Set(['(idle)'])

/** A readable key of a frame: `name file:line` (file without its directories up to the package). */
function frameKey (f: Profile['nodes'][number]['callFrame']): string {
  const name = f.functionName === '' ? '(anonymous)' : f.functionName
  if (f.url === '') return name
  const m = /(?:node_modules\/|packages\/)(.*)$/.exec(f.url)
  const file = m === null ? f.url.replace(/^.*\//, '') : (m[1] as string)
  return `${name} ${file}:${f.lineNumber + 1}`
}

/** Add `v` to `m[k]`. */
function add (m: Map<string, number>, k: string, v: number): void {
  m.set(k, (m.get(k) ?? 0) + v)
}

/** Time per sample, self and inclusive per frame key, over samples in [from, to] (µs on the profile's clock). */
function accumulate (p: Profile, from: number, to: number, self: Map<string, number>, incl: Map<string, number>): { cpuUs: number, wallUs: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const keys = new Map<number, string>()
  const keyOf = (id: number): string => {
    let k = keys.get(id)
    if (k === undefined) {
      k = frameKey((byId.get(id) as Profile['nodes'][number]).callFrame)
      keys.set(id, k)
    }
    return k
  }
  let t = p.startTime
  let cpuUs = 0
  const lo = Math.max(from, p.startTime)
  const hi = Math.min(to, p.endTime)
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0
    if (t < lo || t > hi) continue
    // a sample stands for the time until the next one
    const dt = Math.max(0, (p.timeDeltas[i + 1] ?? 0))
    const leaf = p.samples[i] as number
    const leafKey = keyOf(leaf)
    if (NOT_CPU.has(leafKey)) continue
    cpuUs += dt
    add(self, leafKey, dt)
    const seen = new Set<string>()
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const k = keyOf(id)
      if (seen.has(k)) continue
      seen.add(k)
      add(incl, k, dt)
    }
  }
  return { cpuUs, wallUs: Math.max(0, hi - lo) }
}

async function profileFiles (args: readonly string[]): Promise<{ files: string[], phasesFile: string | undefined }> {
  const files: string[] = []
  let phasesFile: string | undefined
  for (const a of args) {
    if ((await stat(a)).isDirectory()) {
      for (const f of (await readdir(a)).sort()) {
        if (f.endsWith('.cpuprofile')) files.push(join(a, f))
        if (f === 'phases.json') phasesFile = join(a, f)
      }
    } else files.push(a)
  }
  return { files, phasesFile }
}

async function main (): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { phase: { type: 'string' }, top: { type: 'string' } } })
  const top = intFlag('top', values.top, 30, 1, 1000)
  if (positionals.length === 0) throw new BenchUsageError('give .cpuprofile files or a directory holding them')
  const { files, phasesFile } = await profileFiles(positionals)
  let window: [number, number] = [-Infinity, Infinity]
  if (values.phase !== undefined) {
    if (phasesFile === undefined) throw new BenchUsageError(`--phase ${values.phase}: no phases.json beside the profiles`)
    const phases = (JSON.parse(await readFile(phasesFile, 'utf8')) as { phases: Record<string, [number, number]> }).phases
    const w = phases[values.phase]
    if (w === undefined) throw new BenchUsageError(`--phase: expected one of ${Object.keys(phases).join(', ')}, got ${JSON.stringify(values.phase)}`)
    window = w
  }
  const self = new Map<string, number>()
  const incl = new Map<string, number>()
  let cpuUs = 0
  let wallUs = 0
  for (const f of files) {
    const r = accumulate(JSON.parse(await readFile(f, 'utf8')) as Profile, window[0], window[1], self, incl)
    cpuUs += r.cpuUs
    wallUs += r.wallUs
  }
  const ms = (us: number): number => round(us / 1000, 1)
  const pct = (us: number): number => round(100 * us / Math.max(1, cpuUs), 1)
  console.log(`${files.length} profiles${values.phase === undefined ? '' : `, phase ${values.phase}`}: ${ms(cpuUs)} ms on CPU in ${round(wallUs / 1e6, 1)} s of profiles (${round(100 * cpuUs / Math.max(1, wallUs), 2)} % of a core per process, as sampled)`)
  const rows = (m: Map<string, number>): Array<Array<string | number>> => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, ms(v), pct(v)])
  console.log('\nself time')
  printTable([['function', 'ms', '%'], ...rows(self)])
  console.log('\ninclusive time')
  printTable([['function', 'ms', '%'], ...rows(incl)])
}

main().catch((err: unknown) => {
  console.error(`cpu-profile: ${(err as Error).message}`)
  process.exit(err instanceof BenchUsageError ? 2 : 1)
})
