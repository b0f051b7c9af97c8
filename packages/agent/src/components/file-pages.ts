/**
 * Drop this process's mappings of file pages it touched once: the node
 * executable's code and read-only data (V8's compilers, OpenSSL, ICU data,
 * built-in module sources) that start-up or a burst of work ran or read.
 * They count in RSS (bench:memory: 52 MiB of the node binary, idle, where
 * `node -e 0` maps ~31) although they are the page cache's, shared with
 * every node process. `madvise(MADV_DONTNEED)` on a private read-only file
 * mapping only unmaps: the pages stay in the page cache, and the next access
 * maps them again (a minor fault), as after the kernel reclaimed them under
 * memory pressure. Only mappings no page of which was ever written (no
 * anonymous pages: relocated data, a debugger's breakpoint) qualify, since
 * for those the advice would discard what was written.
 */
import { readFile } from 'node:fs/promises'

/** madvise(2) advice: drop the range's pages from this process (file pages are read again on access). */
const MADV_DONTNEED = 4

/** A read-only private mapping of a file none of whose pages was copied on write. */
export interface FileMapping {
  start: bigint
  bytes: number
  path: string
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/

/**
 * The mappings of `/proc/<pid>/smaps` text that may be released: a file
 * (absolute path, not deleted), private, not writable, and with no
 * anonymous (copied-on-write) page.
 */
export function releasableMappings (smaps: string): FileMapping[] {
  const out: FileMapping[] = []
  let cur: (FileMapping & { ok: boolean }) | undefined
  const done = (): void => {
    if (cur?.ok === true) out.push({ start: cur.start, bytes: cur.bytes, path: cur.path })
  }
  for (const line of smaps.split('\n')) {
    const m = HEADER.exec(line)
    if (m !== null) {
      done()
      const [, from, to, perms, path] = m as unknown as [string, string, string, string, string]
      const start = BigInt(`0x${from}`)
      const ok = path.startsWith('/') && !path.endsWith(' (deleted)') && perms[1] === '-' && perms[3] === 'p'
      cur = { start, bytes: Number(BigInt(`0x${to}`) - start), path, ok }
      continue
    }
    if (cur !== undefined && line.startsWith('Anonymous:') && !/^Anonymous:\s+0 kB/.test(line)) cur.ok = false
  }
  done()
  return out
}

/** madvise(2) as the libc loader binds it. */
export type Madvise = (addr: bigint, length: number, advice: number) => number

/**
 * Release the file pages of every releasable mapping of this process.
 * Returns the bytes of the mappings advised (their resident part is what
 * RSS loses).
 */
export async function releaseFilePages (madvise: Madvise, smapsPath = '/proc/self/smaps'): Promise<number> {
  let bytes = 0
  for (const m of releasableMappings(await readFile(smapsPath, 'utf8'))) {
    if (madvise(m.start, m.bytes, MADV_DONTNEED) === 0) bytes += m.bytes
  }
  return bytes
}
