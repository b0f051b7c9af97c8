/** Render rows as an aligned text table (CLI output). */
export function table (headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}

/** Short form of a long ID for tables. */
export function shortId (id: string): string {
  return id.length > 12 ? id.slice(0, 12) : id
}
