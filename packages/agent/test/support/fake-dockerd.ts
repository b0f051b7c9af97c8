/**
 * A stand-in for dockerd's Engine API on a unix socket, for tests without
 * root: the calls the agent's label follower makes (events, container list
 * and inspect, network inspect), answered from what the test sets.
 */
import { createServer, type ServerResponse } from 'node:http'
import { closeServer, listen } from '../../src/api/http.js'

export interface FakeDockerd {
  /** Containers: what `/containers/json` lists and `/containers/<id>/json` inspects (in the list's shape). */
  containers: Map<string, unknown>
  /** Docker network id -> name (`/networks/<id>`). */
  networks: Map<string, string>
  /** Write one event to every open event stream. */
  emit(event: object): void
  /** End every open event stream (dockerd restarting). */
  endStreams(): void
  /** Event streams opened so far. */
  streamsOpened(): number
  close(): Promise<void>
}

export async function startFakeDockerd (socketPath: string): Promise<FakeDockerd> {
  const containers = new Map<string, unknown>()
  const networks = new Map<string, string>()
  const streams = new Set<ServerResponse>()
  let opened = 0
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://docker')
    const path = url.pathname.replace(/^\/v1\.\d+/, '')
    if (path === '/events') {
      opened++
      res.writeHead(200, { 'content-type': 'application/json' })
      res.flushHeaders()
      streams.add(res)
      res.on('close', () => streams.delete(res))
      return
    }
    if (path === '/containers/json') { json(res, 200, [...containers.values()]); return }
    const c = /^\/containers\/([^/]+)\/json$/.exec(path)
    if (c !== null) {
      const v = containers.get(c[1] as string)
      if (v === undefined) json(res, 404, { message: `No such container: ${c[1] as string}` })
      else json(res, 200, v)
      return
    }
    const n = /^\/networks\/([^/]+)$/.exec(path)
    if (n !== null) {
      const name = networks.get(n[1] as string)
      if (name === undefined) json(res, 404, { message: `network ${n[1] as string} not found` })
      else json(res, 200, { Name: name, Id: n[1] })
      return
    }
    json(res, 404, { message: 'page not found' })
  })
  await listen(server, { path: socketPath })
  return {
    containers,
    networks,
    emit (event) { for (const s of streams) s.write(JSON.stringify(event) + '\n') },
    endStreams () { for (const s of streams) s.end(); streams.clear() },
    streamsOpened: () => opened,
    async close () { for (const s of streams) s.destroy(); await closeServer(server) }
  }
}
