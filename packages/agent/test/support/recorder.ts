import type { Kernel, RunOptions } from '../../src/dataplane/kernel/index.js'

/** One recorded kernel command. */
export interface Call { cmd: string, args: readonly string[], netns: string | null | undefined, input: string | undefined }

/** A kernel that records commands instead of running them (IPVS text tests run anywhere). */
export function recorder (): Kernel & { calls: Call[] } {
  const calls: Call[] = []
  return {
    calls,
    baseNetns: undefined,
    spawns: () => calls.length,
    async run (cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
      calls.push({ cmd, args, netns: opts.netns, input: opts.input })
      if (args.includes('-j')) return '[]'
      return ''
    }
  }
}
