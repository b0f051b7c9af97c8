import { spawn } from 'node:child_process'
import type dgram from 'node:dgram'
import type net from 'node:net'
import { DNS_BIND_TIMEOUT_MS } from './constants.js'
import { DnsBindError } from './errors.js'
import type { NetworkSockets } from './server.js'

/**
 * Opening a network's resolver sockets inside its LB sandbox. The agent runs
 * in the host namespace and a socket belongs to the namespace it was created
 * in, so a short-lived helper (`ip netns exec <sandbox> node -e ...`) binds
 * UDP and TCP on the sandbox's LB address, passes both to the agent over the
 * IPC channel (SCM_RIGHTS), and exits. The agent then serves them as any
 * socket: the queries never leave the sandbox's namespace towards the host,
 * and a socket says which network its queries come from.
 */

/** The helper's code (plain CommonJS: it runs under the bare node binary, whatever loader the agent uses). Args: address, port. */
const HELPER = `
const dgram = require('node:dgram'), net = require('node:net')
const [addr, portText] = process.argv.slice(1)
const port = Number(portText)
const fail = (what, e) => { process.send({ error: what + ': ' + e.message }, () => process.exit(1)) }
const udp = dgram.createSocket(net.isIPv6(addr) ? 'udp6' : 'udp4')
udp.on('error', (e) => fail('udp', e))
udp.bind({ address: addr, port, exclusive: true }, () => {
  const tcp = net.createServer()
  tcp.on('error', (e) => fail('tcp', e))
  tcp.listen({ host: addr, port, exclusive: true, backlog: 128 }, () => {
    process.send({ kind: 'udp' }, udp, () => {
      process.send({ kind: 'tcp' }, tcp, () => { udp.close(); tcp.close(); process.disconnect() })
    })
  })
})
`

/** Options of {@link openNetnsSockets}. */
export interface OpenNetnsSocketsOptions {
  /** Named netns (`ip netns` name). */
  netns: string
  address: string
  port: number
  /** @default DNS_BIND_TIMEOUT_MS */
  timeoutMs?: number
  signal?: AbortSignal
}

/** Bind UDP and TCP on `address:port` inside `netns`; the agent then owns both. */
export function openNetnsSockets (opts: OpenNetnsSocketsOptions): Promise<NetworkSockets> {
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const child = spawn('ip', ['netns', 'exec', opts.netns, process.execPath, '-e', HELPER, opts.address, String(opts.port)], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env
  })
  return new Promise<NetworkSockets>((resolve, reject) => {
    let udp: dgram.Socket | undefined
    let tcp: net.Server | undefined
    let stderr = ''
    let settled = false
    const finish = (err: Error | undefined): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      if (child.exitCode === null) child.kill('SIGKILL')
      if (err !== undefined || udp === undefined || tcp === undefined) {
        udp?.close()
        tcp?.close()
        reject(err ?? new DnsBindError(`the socket helper in ${opts.netns} ended without handing over both sockets${stderr === '' ? '' : `: ${stderr.trim()}`}`))
      } else resolve({ udp, tcp })
    }
    const onAbort = (): void => finish(new DnsBindError(`opening sockets in ${opts.netns} was cancelled`))
    const timer = setTimeout(() => finish(new DnsBindError(`the socket helper in ${opts.netns} took more than ${opts.timeoutMs ?? DNS_BIND_TIMEOUT_MS} ms`)), opts.timeoutMs ?? DNS_BIND_TIMEOUT_MS)
    opts.signal?.addEventListener('abort', onAbort)
    child.stderr?.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString() })
    child.on('error', (err) => finish(new DnsBindError(`cannot run ip netns exec: ${err.message}`)))
    child.on('message', (m: unknown, handle: unknown) => {
      const msg = m as { kind?: string, error?: string }
      if (settled) {
        // a socket that arrives after a failure or a cancel is ours now: close it, or it holds the port
        (handle as { close?: () => void } | undefined)?.close?.()
        return
      }
      if (typeof msg.error === 'string') return finish(new DnsBindError(`binding ${opts.address}:${opts.port} in ${opts.netns}: ${msg.error}`))
      if (msg.kind === 'udp') udp = handle as dgram.Socket
      else if (msg.kind === 'tcp') tcp = handle as net.Server
      if (udp !== undefined && tcp !== undefined) finish(undefined)
    })
    // 'close', not 'exit': the helper can exit before its last message (with a socket) is read
    // here; 'close' comes once the IPC channel is drained and closed too
    child.on('close', () => finish(undefined))
  })
}
