import { parseArgs } from 'node:util'
import { generateClusterKey } from '@scalelb/gossip'
import { UsageError } from '../errors.js'
import { writeFileAtomic } from '../persistence/files.js'
import type { CliContext } from './commands.js'

/** A new cluster key in the libp2p pnet (PSK v1) file format, newline-terminated. */
export function newClusterKeyText (): string {
  return `${generateClusterKey().trimEnd()}\n`
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
