// The token file as the CLI reads it: node:fs only, so a client command
// loads no agent code (see test/cli/startup.test.ts).
import { readFileSync } from 'node:fs'

const TOKEN_RE = /^[0-9a-f]{16,256}$/

/** Parse a token file's text; undefined when it does not hold a token. */
export function parseApiToken (text: string): string | undefined {
  const t = text.trim()
  return TOKEN_RE.test(t) ? t : undefined
}

/** Read a token file on the CLI side (synchronous, no agent imports); undefined when absent or unreadable. */
export function readApiTokenFile (path: string): string | undefined {
  try {
    return parseApiToken(readFileSync(path, 'utf8'))
  } catch {
    return undefined
  }
}
