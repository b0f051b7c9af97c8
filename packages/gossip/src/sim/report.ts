/** Percentile (nearest rank) of `xs`; NaN when empty. */
export function percentile (xs: number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))
  return s[idx] as number
}

/** Round to `d` decimals (numbers in the JSON line stay numbers). */
export function round (x: number, d = 3): number {
  if (!Number.isFinite(x)) return x
  const m = 10 ** d
  return Math.round(x * m) / m
}

/** Render rows as an aligned two-column text table. */
export function formatTable (title: string, rows: Array<[string, string | number]>): string {
  const w = Math.max(...rows.map(r => r[0].length), 6)
  const lines = [title, '-'.repeat(title.length)]
  for (const [k, v] of rows) lines.push(`${k.padEnd(w)}  ${typeof v === 'number' ? String(round(v)) : v}`)
  return lines.join('\n')
}
