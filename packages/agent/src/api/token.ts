import { randomBytes } from 'node:crypto'
import { chmod, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { API_TOKEN_BYTES, API_TOKEN_FILE } from '../constants.js'
import { PersistenceError } from '../errors.js'
import { writeFileAtomic } from '../persistence/files.js'
import { parseApiToken } from './token-file.js'

export { parseApiToken, readApiTokenFile } from './token-file.js'

/**
 * The TCP control API's bearer token: read `<dataDir>/api.token`, or create
 * it (random, hex, mode 0600, written atomically) on the first start. A
 * token file readable by group or others is narrowed to 0600.
 */
export async function loadOrCreateApiToken (dataDir: string): Promise<{ token: string, created: boolean, path: string }> {
  const path = join(dataDir, API_TOKEN_FILE)
  let text: string | undefined
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new PersistenceError(path, `cannot read: ${(err as Error).message}`)
  }
  if (text === undefined) {
    const token = randomBytes(API_TOKEN_BYTES).toString('hex')
    await writeFileAtomic(path, `${token}\n`, { mode: 0o600 })
    return { token, created: true, path }
  }
  const token = parseApiToken(text)
  if (token === undefined) throw new PersistenceError(path, 'does not hold an API token (hex); delete it to have a new one generated')
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600)
  return { token, created: false, path }
}
