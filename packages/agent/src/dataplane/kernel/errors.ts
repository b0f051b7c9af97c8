/** A kernel command (ip, nft, bridge, sysctl) exited non-zero or could not be spawned. */
export class KernelCommandError extends Error {
  override name = 'KernelCommandError' as const
  /** The command line that failed (argv joined by spaces). */
  readonly command: string
  /** Its standard error (trimmed). */
  readonly stderr: string
  /** Its exit code, if it ran. */
  readonly exitCode: number | undefined

  constructor (command: string, stderr: string, exitCode: number | undefined) {
    super(`${command}: ${stderr === '' ? `exit code ${String(exitCode)}` : stderr}`)
    this.command = command
    this.stderr = stderr
    this.exitCode = exitCode
  }
}

/** Kernel state read back could not be understood (e.g. unexpected `nft -j` output). */
export class KernelStateError extends Error {
  override name = 'KernelStateError' as const
}
