/**
 * One copy of the strings a node's records repeat: table names and origins
 * (a libp2p node id is 52 characters; every entry of a node carries it, and
 * most values name their node again). Decoded frames give each entry its own
 * copies; stored records share these instead (bench:memory: ~0.15 KiB per
 * entry at 10k x 10). Bounded: past `max` names a string is kept as it came.
 */
export class Names {
  private readonly map = new Map<string, string>()

  constructor (private readonly max: number) {}

  /** The shared copy of `s` (`s` itself the first time). */
  get (s: string): string {
    const c = this.map.get(s)
    if (c !== undefined) return c
    if (this.map.size < this.max) this.map.set(s, s)
    return s
  }

  /** Names kept. */
  get size (): number {
    return this.map.size
  }

  /** Drop a name (an origin whose records were reaped). */
  forget (s: string): void {
    this.map.delete(s)
  }
}

/**
 * Point a decoded plain-object value's top-level string fields equal to
 * `origin` at `origin` itself (the shared copy): the value encodes to the
 * same bytes, so its signature and value tag do not change. Only for a
 * value just decoded from the wire (it is changed in place).
 */
export function shareOrigin (value: unknown, origin: string): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return
  const o = value as Record<string, unknown>
  for (const k in o) {
    if (o[k] === origin) o[k] = origin
  }
}
