/**
 * Test support for overlay MTU checks between two named netns: the MTU of an
 * interface, pings with and without DF, and a UDP transfer counted and hashed
 * on the receiver. Processes are started with nsenter and killed by PID.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { execa } from 'execa'

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

async function inNs (ns: string, file: string, args: string[], timeoutMs = 60_000): Promise<{ ok: boolean, stdout: string, stderr: string }> {
  const r = await execa('nsenter', [`--net=/run/netns/${ns}`, '--', file, ...args], { reject: false, timeout: timeoutMs, env: { LC_ALL: 'C', PATH } })
  return { ok: !r.failed, stdout: String(r.stdout), stderr: String(r.stderr) }
}

/** MTU of `ifname` in netns `ns`. */
export async function mtuIn (ns: string, ifname: string): Promise<number> {
  const r = await inNs(ns, 'ip', ['-j', 'link', 'show', 'dev', ifname])
  if (!r.ok) throw new Error(`ip link show ${ifname} in ${ns}: ${r.stderr}`)
  return (JSON.parse(r.stdout) as Array<{ mtu: number }>)[0]?.mtu ?? 0
}

/** Replies to `count` pings of `size` payload bytes (ICMP data) from `ns` to `ip`; `df` forbids fragmentation. */
export async function pingReplies (ns: string, ip: string, size: number, opts: { df: boolean, count?: number }): Promise<{ received: number, output: string }> {
  const count = opts.count ?? 3
  const r = await inNs(ns, 'ping', ['-n', '-q', '-c', String(count), '-i', '0.2', '-W', '2', '-s', String(size), '-M', opts.df ? 'do' : 'dont', ip])
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout)
  return { received: m === null ? 0 : Number(m[2]), output: `${r.stdout}\n${r.stderr}`.trim() }
}

// seq (uint32 BE) + payload; ack = the seq; seq 0xffffffff ends the transfer. Stop-and-wait with retransmission.
const RECEIVER = `
const u = require('node:dgram').createSocket('udp4'); const h = require('node:crypto')
const parts = new Map(); let bytes = 0
u.on('message', (m, r) => {
  const seq = m.readUInt32BE(0)
  if (seq !== 0xffffffff && !parts.has(seq)) { parts.set(seq, m.subarray(4)); bytes += m.length - 4 }
  u.send(m.subarray(0, 4), r.port, r.address)
  if (seq === 0xffffffff) {
    const hash = h.createHash('sha256'); for (const k of [...parts.keys()].sort((a, b) => a - b)) hash.update(parts.get(k))
    process.stdout.write(JSON.stringify({ bytes, datagrams: parts.size, sha256: hash.digest('hex') }) + '\\n'); setTimeout(() => process.exit(0), 200)
  }
})
u.bind(Number(process.argv[1]), () => process.stdout.write('ready\\n'))
`
const SENDER = `
const u = require('node:dgram').createSocket('udp4'); const h = require('node:crypto')
const [host, port, size, total] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])]
const data = h.randomBytes(total); let retransmits = 0; let waiting
u.on('message', m => { if (waiting && m.readUInt32BE(0) === waiting.seq) { clearTimeout(waiting.timer); const w = waiting; waiting = undefined; w.resolve(true) } })
function sendSeq (seq, payload) {
  const head = Buffer.alloc(4); head.writeUInt32BE(seq)
  const msg = Buffer.concat([head, payload])
  return new Promise(resolve => {
    let tries = 0
    const attempt = () => {
      if (tries++ > 0) retransmits++
      if (tries > 10) { waiting = undefined; resolve(false); return }
      waiting = { seq, resolve, timer: setTimeout(attempt, 300) }
      u.send(msg, port, host)
    }
    attempt()
  })
}
;(async () => {
  let sent = 0; let seq = 0
  for (let off = 0; off < total; off += size) {
    if (!(await sendSeq(seq++, data.subarray(off, Math.min(total, off + size))))) { process.stdout.write(JSON.stringify({ error: 'no ack for datagram ' + (seq - 1) + ' of ' + (size + 4) + ' bytes', sent, retransmits }) + '\\n'); process.exit(1) }
    sent += Math.min(size, total - off)
  }
  await sendSeq(0xffffffff, Buffer.alloc(0))
  process.stdout.write(JSON.stringify({ bytes: sent, datagrams: seq, sha256: h.createHash('sha256').update(data).digest('hex'), retransmits }) + '\\n'); process.exit(0)
})()
`

/** What one side of a UDP transfer counted. */
export interface TransferSide {
  bytes: number
  datagrams: number
  sha256: string
  retransmits?: number
  error?: string
}

/**
 * Send `totalBytes` of random data from netns `from` to `ip`:`port` (a
 * receiver started in netns `to`) as UDP datagrams of `datagramBytes`
 * payload (+ 4 bytes of sequence number); resolves both sides' counts and
 * hashes. The receiver is killed by PID if it is still running at the end.
 */
export async function udpTransfer (from: string, to: string, ip: string, port: number, datagramBytes: number, totalBytes: number): Promise<{ sent: TransferSide, received: TransferSide | undefined }> {
  const rx = spawn('nsenter', [`--net=/run/netns/${to}`, '--', process.execPath, '-e', RECEIVER, String(port)], { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH } })
  const lines: string[] = []
  const ready = new Promise<void>((resolve, reject) => {
    rx.once('exit', (code) => { reject(new Error(`UDP receiver exited (${String(code)})`)) })
    createInterface({ input: rx.stdout }).on('line', (l) => {
      if (l === 'ready') resolve()
      else lines.push(l)
    })
  })
  try {
    await ready
    const tx = await inNs(from, process.execPath, ['-e', SENDER, ip, String(port), String(datagramBytes - 4), String(totalBytes)], 120_000)
    const sent = JSON.parse(tx.stdout.trim().split('\n').pop() ?? '{}') as TransferSide
    if (sent.error === undefined) await new Promise<void>((resolve) => { if (rx.exitCode !== null) resolve(); else rx.once('exit', () => { resolve() }) })
    const last = lines.pop()
    return { sent, received: last === undefined ? undefined : JSON.parse(last) as TransferSide }
  } finally {
    if (rx.exitCode === null && rx.pid !== undefined) {
      const gone = new Promise((resolve) => rx.once('exit', resolve))
      rx.kill('SIGKILL')
      await gone
    }
  }
}
