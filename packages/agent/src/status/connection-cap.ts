import type { Server } from 'node:http'
import type { Socket } from 'node:net'

/** Why a status connection was closed by {@link capConnections}. */
export type DropReason = 'evicted' | 'full'

/** Open-connection accounting of one server. */
export interface ConnectionCap {
  /** Connections held now. */
  open(): number
}

/**
 * Hold at most `max` connections on `server`. A new connection beyond the
 * cap closes the connection idle longest (no request in progress: a flood
 * of idle connections cannot lock out a scraper); when every held
 * connection is busy, the new one is closed. Each close is reported.
 */
export function capConnections (server: Server, max: number, onDrop: (reason: DropReason) => void): ConnectionCap {
  // insertion order = idle order: a socket is re-inserted when it turns idle
  const held = new Map<Socket, { busy: number }>()
  const forget = (s: Socket): void => { held.delete(s) }
  server.on('connection', (socket: Socket) => {
    if (held.size >= max) {
      let victim: Socket | undefined
      for (const [s, st] of held) if (st.busy === 0) { victim = s; break }
      if (victim === undefined) {
        socket.destroy()
        onDrop('full')
        return
      }
      forget(victim)
      victim.destroy()
      onDrop('evicted')
    }
    held.set(socket, { busy: 0 })
    socket.once('close', () => forget(socket))
  })
  server.on('request', (req, res) => {
    const s = req.socket
    const st = held.get(s)
    if (st === undefined) return
    st.busy++
    res.once('close', () => {
      st.busy--
      if (st.busy === 0 && held.has(s)) { held.delete(s); held.set(s, st) }
    })
  })
  return { open: () => held.size }
}
