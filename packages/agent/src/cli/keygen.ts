import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { UsageError } from '../errors.js'
import { writeFileAtomic } from '../persistence/files.js'
import type { CliContext } from './commands.js'

/** libp2p private-network (pnet) key file header. */
const PSK_HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n'

/** A new cluster key in the libp2p pnet (PSK v1) format: 32 random bytes, base16. */
export function newClusterKeyText (): string {
  return `${PSK_HEADER}${randomBytes(32).toString('hex')}\n`
}

/** `scalelb keygen [--out FILE]`: write a cluster key (mode 0600) or print it. */
export async function runKeygen (argv: string[], ctx: CliContext): Promise<number> {
  let values
  try {
    values = parseArgs({ args: argv, options: { out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help === true) {
    ctx.io.out('Usage: scalelb keygen [--out FILE]\n\nWrite a new cluster pre-shared key (libp2p pnet format) to FILE (mode 0600,\nrefusing to overwrite), or print it. Give the same file to every agent with\n--cluster-key-file.')
    return 0
  }
  const text = newClusterKeyText()
  if (values.out === undefined) {
    ctx.io.out(text.trimEnd())
    return 0
  }
  const { access } = await import('node:fs/promises')
  const exists = await access(values.out).then(() => true, () => false)
  if (exists) {
    ctx.io.err(`scalelb: --out: ${values.out} exists; refusing to overwrite a cluster key`)
    return 1
  }
  await writeFileAtomic(values.out, text, { mode: 0o600 })
  ctx.io.out(values.out)
  return 0
}
