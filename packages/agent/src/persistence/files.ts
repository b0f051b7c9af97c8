import { open, readdir, readFile, rename, mkdir, unlink } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { randomBytes } from 'node:crypto'

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode of the result. @default 0o600 */
  mode?: number
}

/**
 * Write `data` to `path` atomically: a temp file in the same directory,
 * fsync, rename over the target, fsync the directory. A crash at any point
 * leaves either the old or the new content, never a torn file.
 */
export async function writeFileAtomic (path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', opts.mode ?? 0o600)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } catch (err) {
    await fh.close()
    await unlink(tmp).catch(() => {})
    throw err
  }
  await fh.close()
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}

/** Name of a temp file {@link writeFileAtomic} leaves when interrupted (`.<name>.<12 hex>.tmp`). */
const ATOMIC_TEMP_RE = /^\..+\.[0-9a-f]{12}\.tmp$/

/**
 * Remove temp files of interrupted {@link writeFileAtomic} calls from `dir`
 * (call before anything writes there); resolves with the names removed.
 */
export async function removeStrayTempFiles (dir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const removed: string[] = []
  for (const n of names) {
    if (!ATOMIC_TEMP_RE.test(n)) continue
    await unlink(join(dir, n)).catch(() => {})
    removed.push(n)
  }
  return removed
}

/**
 * Read and parse a JSON file written by {@link writeFileAtomic}: undefined
 * when it does not exist; `fail(reason)` makes the error thrown when it
 * cannot be read or is not JSON (the caller's error type, naming the file).
 */
export async function readJsonFile (path: string, fail: (reason: string) => Error): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw fail(`cannot read: ${(err as Error).message}`)
  }
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw fail(`not valid JSON: ${(err as Error).message}`)
  }
}
