/**
 * Test support for kernel tests: a per-run random prefix, a "host" netns
 * holding bridges/VXLAN, task/client netns, child processes inside them, and
 * a teardown that removes everything with the prefix (also on failure).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { createKernel, netnsAdd, netnsDelete, netnsList, type Kernel } from '../../src/dataplane/kernel/index.js'
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'

/** A lab of namespaces with one random prefix. */
export interface NetnsLab {
  prefix: string
  /** The "host" netns name (bridges, VXLAN, host veth ends live here). */
  host: string
  /** Kernel whose base netns is the host netns. */
  kernel: Kernel
  /** Create another named netns (prefixed) and return its name. */
  netns(name: string): Promise<string>
  /** Start a process inside a netns; it is killed at cleanup. */
  spawnIn(netns: string, args: string[]): ChildProcess
  cleanup(): Promise<void>
}

/** Create a lab: a random prefix (after `SCALELB_TEST_NETNS_HEAD`, default `t`: runs sharing a machine keep apart) and its host netns. */
export async function createLab (tag = ''): Promise<NetnsLab> {
  const head = /^[a-z]{1,2}$/.test(process.env.SCALELB_TEST_NETNS_HEAD ?? '') ? process.env.SCALELB_TEST_NETNS_HEAD as string : 't'
  const prefix = `${head}${randomBytes(3).toString('hex')}${tag}`
  const root = createKernel()
  const host = `${prefix}host`
  await netnsAdd(root, host)
  const children: ChildProcess[] = []
  return {
    prefix,
    host,
    kernel: createKernel({ baseNetns: host }),
    async netns (name: string): Promise<string> {
      const n = `${prefix}${name}`
      await netnsAdd(root, n)
      return n
    },
    spawnIn (netns: string, args: string[]): ChildProcess {
      const child = spawn('ip', ['netns', 'exec', netns, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
      children.push(child)
      return child
    },
    async cleanup (): Promise<void> {
      for (const c of children) {
        if (c.exitCode === null && c.pid !== undefined) {
          const done = new Promise(resolve => c.once('exit', resolve))
          c.kill('SIGKILL')
          await done
        }
      }
      for (const n of await netnsList(root)) if (n.startsWith(prefix)) await netnsDelete(root, n)
      // the resolv.conf files an agent wrote for the lab's task namespaces (a killed agent leaves them)
      for (const n of await readdir('/etc/netns').catch(() => [])) if (n.startsWith(prefix)) await rm(join('/etc/netns', n), { recursive: true, force: true })
    }
  }
}

/** Names of every netns with a prefix (to assert nothing is left). */
export async function netnsWithPrefix (prefix: string): Promise<string[]> {
  return (await netnsList(createKernel())).filter(n => n.startsWith(prefix))
}

const SERVER = `
const [name, port] = process.argv.slice(1)
const net = require('node:net'); const dgram = require('node:dgram')
net.createServer(s => { s.write(name + '\\n'); s.on('data', d => s.write(name + ':' + (d.toString().trim() === 'whoami' ? s.remoteAddress + '\\n' : d.toString()))); s.on('error', () => {}) }).listen(Number(port), '0.0.0.0', () => process.stdout.write('ready\\n'))
const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(name, r.port, r.address)); u.bind(Number(port))
`

/** Start a TCP+UDP server in a netns answering its name (TCP: name on connect, then `name:<data>` per line, `name:<client ip>` for `whoami`; UDP: name). */
export async function startServer (lab: NetnsLab, netns: string, name: string, port: number): Promise<ChildProcess> {
  const child = lab.spawnIn(netns, [process.execPath, '-e', SERVER, name, String(port)])
  await waitLine(child, l => l === 'ready')
  return child
}

const CLIENT = `
const net = require('node:net'); const dgram = require('node:dgram'); const rl = require('node:readline').createInterface({ input: process.stdin })
const conns = new Map()
const out = o => process.stdout.write(JSON.stringify(o) + '\\n')
function once (host, port, timeoutMs) {
  return new Promise(resolve => {
    const s = net.connect({ host, port }); let buf = ''
    const t = setTimeout(() => { s.destroy(); resolve('timeout') }, timeoutMs)
    s.on('data', d => { buf += d; if (buf.includes('\\n')) { clearTimeout(t); s.destroy(); resolve(buf.split('\\n')[0]) } })
    s.on('error', e => { clearTimeout(t); resolve('error:' + e.code) })
  })
}
function udp (host, port, timeoutMs) {
  return new Promise(resolve => {
    const u = dgram.createSocket('udp4'); const t = setTimeout(() => { u.close(); resolve('timeout') }, timeoutMs)
    u.on('message', m => { clearTimeout(t); u.close(); resolve(m.toString()) }); u.on('error', e => { clearTimeout(t); resolve('error:' + e.code) })
    u.send('hi', port, host)
  })
}
rl.on('line', async line => {
  const c = JSON.parse(line)
  if (c.cmd === 'spread') {
    const names = {}
    for (let i = 0; i < c.n; i++) { const r = c.proto === 'udp' ? await udp(c.host, c.port, c.timeoutMs) : await once(c.host, c.port, c.timeoutMs); names[r] = (names[r] || 0) + 1 }
    out({ id: c.id, names })
  } else if (c.cmd === 'open') {
    const s = net.connect({ host: c.host, port: c.port }); let buf = ''; conns.set(c.conn, { s, pending: [] })
    s.on('data', d => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { const l = buf.slice(0, i); buf = buf.slice(i + 1); const p = conns.get(c.conn).pending.shift(); if (p) p(l) } })
    // a connection reset (or closed) answers what still waits on it with the error, instead of never
    const fail = code => { const k = conns.get(c.conn); while (k.pending.length > 0) k.pending.shift()('error:' + code) }
    s.on('error', e => { out({ id: c.id, event: 'error', code: e.code }); fail(e.code) })
    s.on('close', () => fail('closed'))
    conns.get(c.conn).pending.push(l => out({ id: c.id, greeting: l }))
  } else if (c.cmd === 'send') {
    const k = conns.get(c.conn); k.pending.push(l => out({ id: c.id, reply: l })); k.s.write(c.data + '\\n')
  } else if (c.cmd === 'close') { conns.get(c.conn)?.s.destroy(); out({ id: c.id }) }
})
`

/** A long-running client process in a netns, driven by JSON commands. */
export interface Client {
  /** Make `n` sequential connections (or UDP requests) and count the answering names (`timeout`, `error:ECONNREFUSED` ...). */
  spread(host: string, port: number, n: number, proto?: 'tcp' | 'udp'): Promise<Record<string, number>>
  /** Open a long-lived TCP connection; resolves the server's greeting (its name). */
  open(conn: string, host: string, port: number): Promise<string>
  /** Send a line on an open connection; resolves the reply line. */
  send(conn: string, data: string): Promise<string>
}

/** Start a client in a netns. */
export function startClient (lab: NetnsLab, netns: string, timeoutMs = 3000): Client {
  const child = lab.spawnIn(netns, [process.execPath, '-e', CLIENT])
  const pending = new Map<number, (o: Record<string, unknown>) => void>()
  let nextId = 1
  createInterface({ input: child.stdout! }).on('line', l => {
    const o = JSON.parse(l) as Record<string, unknown>
    const p = pending.get(Number(o.id))
    pending.delete(Number(o.id))
    p?.(o)
  })
  const call = async (cmd: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const id = nextId++
    const res = new Promise<Record<string, unknown>>(resolve => pending.set(id, resolve))
    child.stdin!.write(JSON.stringify({ ...cmd, id, timeoutMs }) + '\n')
    return await res
  }
  return {
    async spread (host, port, n, proto = 'tcp') {
      return (await call({ cmd: 'spread', host, port, n, proto })).names as Record<string, number>
    },
    async open (conn, host, port) {
      const r = await call({ cmd: 'open', conn, host, port })
      if (typeof r.greeting !== 'string') throw new Error(`open ${conn}: ${JSON.stringify(r)}`)
      return r.greeting
    },
    async send (conn, data) {
      const r = await call({ cmd: 'send', conn, data })
      if (typeof r.reply !== 'string') throw new Error(`send ${conn}: ${JSON.stringify(r)}`)
      return r.reply
    }
  }
}

/** Resolve when the child prints a line matching `pred` (rejects if it exits first). */
export async function waitLine (child: ChildProcess, pred: (l: string) => boolean): Promise<string> {
  return await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! })
    const onExit = (code: number | null): void => { reject(new Error(`child exited (${String(code)}) before the expected line`)) }
    child.once('exit', onExit)
    rl.on('line', l => {
      if (!pred(l)) return
      child.off('exit', onExit)
      rl.close()
      resolve(l)
    })
  })
}
