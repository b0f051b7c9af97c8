import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '@scalelb/agent'

/**
 * Programs the lab runs inside namespaces with plain `node` (no build, no
 * dependencies): written into the lab's state dir at `lab up --demo` time.
 */

/**
 * Task server: `node task-server.mjs <task name> <port>`. Answers every
 * request with its task name; `GET /stream?ms=N` holds the connection open
 * and writes one numbered line every 100 ms for N ms (for long-connection
 * tests). Exits on SIGTERM.
 */
export const TASK_SERVER_JS = `import { createServer } from 'node:http'
const [name, portText] = process.argv.slice(2)
const port = Number(portText)
if (!name || !Number.isInteger(port) || port < 1 || port > 65535) { console.error('usage: task-server.mjs <name> <port>'); process.exit(2) }
const srv = createServer((req, res) => {
  const u = new URL(req.url ?? '/', 'http://x')
  if (u.pathname === '/stream') {
    const ms = Math.min(Number(u.searchParams.get('ms') ?? '10000') || 10000, 600000)
    res.writeHead(200, { 'content-type': 'text/plain' })
    let i = 0
    const t = setInterval(() => { res.write(name + ' ' + (i++) + '\\n') }, 100)
    setTimeout(() => { clearInterval(t); res.end('end\\n') }, ms)
    req.on('close', () => clearInterval(t))
    return
  }
  res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' })
  res.end(name)
})
srv.listen(port, '::', () => console.log(JSON.stringify({ msg: 'listening', name, port })))
process.on('SIGTERM', () => { srv.close(); process.exit(0) })
`

/**
 * Probe: `node probe.mjs '<json [{vip,port}]>' <count> <timeoutMs>`. Sends
 * `count` requests (a new TCP connection each) to every target, one after the
 * other, and prints one JSON object `{ "<vip>:<port>": { "<answer>": n } }`;
 * failures count as `"error:<code>"`.
 */
export const PROBE_JS = `import { request } from 'node:http'
const targets = JSON.parse(process.argv[2])
const count = Number(process.argv[3])
const timeoutMs = Number(process.argv[4])
function once (host, port) {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => { body += c })
      res.on('end', () => resolve(body.trim()))
      res.on('error', (e) => resolve('error:' + (e.code ?? e.message)))
    })
    req.on('timeout', () => { req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })) })
    req.on('error', (e) => resolve('error:' + (e.code ?? e.message)))
    req.end()
  })
}
const out = {}
for (const t of targets) {
  const counts = {}
  for (let i = 0; i < count; i++) {
    const a = await once(t.vip, t.port)
    counts[a] = (counts[a] ?? 0) + 1
  }
  out[t.vip + ':' + t.port] = counts
}
process.stdout.write(JSON.stringify(out) + '\\n')
`

/**
 * Long connection: `node stream.mjs <vip> <port> <ms>`. Opens one
 * `GET /stream` and prints a JSON line per received line (with the gap since
 * the previous one), then `{"done":true,"lines":n}` or `{"error":...}`.
 */
export const STREAM_JS = `import { request } from 'node:http'
const [host, port, ms] = process.argv.slice(2)
let last = Date.now()
let lines = 0
let buf = ''
const req = request({ host, port: Number(port), path: '/stream?ms=' + ms, agent: false }, (res) => {
  res.setEncoding('utf8')
  res.on('data', (c) => {
    buf += c
    let i
    while ((i = buf.indexOf('\\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1)
      const now = Date.now()
      process.stdout.write(JSON.stringify({ line, gapMs: now - last }) + '\\n')
      last = now
      lines++
    }
  })
  res.on('end', () => { process.stdout.write(JSON.stringify({ done: true, lines }) + '\\n') })
  res.on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.code ?? e.message, lines }) + '\\n'); process.exitCode = 1 })
})
req.on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.code ?? e.message, lines }) + '\\n'); process.exitCode = 1 })
req.end()
`

/** Paths of the written scripts. */
export interface LabScripts {
  taskServer: string
  probe: string
  stream: string
}

/**
 * Write the scripts into `<dir>/scripts/`. A script that is already there with
 * the same text is left alone, and a changed one is replaced by rename: a node
 * process that is still loading the file (a task server started a moment ago)
 * never reads it truncated. Rewriting in place once did exactly that: the
 * last task server of the demo read an empty module, exited at once, and its
 * task refused every connection.
 */
export async function writeLabScripts (dir: string): Promise<LabScripts> {
  const d = join(dir, 'scripts')
  await mkdir(d, { recursive: true, mode: 0o755 })
  const s: LabScripts = { taskServer: join(d, 'task-server.mjs'), probe: join(d, 'probe.mjs'), stream: join(d, 'stream.mjs') }
  await writeIfChanged(s.taskServer, TASK_SERVER_JS)
  await writeIfChanged(s.probe, PROBE_JS)
  await writeIfChanged(s.stream, STREAM_JS)
  return s
}

async function writeIfChanged (path: string, text: string): Promise<void> {
  const now = await readFile(path, 'utf8').catch(() => undefined)
  if (now === text) return
  await writeFileAtomic(path, text, { mode: 0o644 })
}
