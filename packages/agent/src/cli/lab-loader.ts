import { LabNotInstalledError } from '../errors.js'

/** Package holding `scalelb lab`: a developer tool that depends on the agent, so the agent only loads it on demand. */
export const LAB_PACKAGE = '@scalelb/lab'

/** What the agent CLI uses of {@link LAB_PACKAGE} (the lab's tests check that its entry has this shape). */
export interface LabModule {
  /** Run `scalelb lab ...` (argv after `lab`); resolves the exit code: 0 ok, 1 failure, 2 usage. */
  runLab: (argv: string[]) => Promise<number>
}

/**
 * Load the lab package. Its name is held in a variable, so neither the
 * compiler nor a bundler makes the agent depend on the lab. Throws
 * {@link LabNotInstalledError} when the package is not installed or is not
 * the lab.
 */
export async function loadLab (name: string = LAB_PACKAGE): Promise<LabModule> {
  let mod: Partial<LabModule>
  try {
    mod = await import(name) as Partial<LabModule>
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes(`'${name}'`)) throw new LabNotInstalledError(name, 'it is not installed')
    throw err
  }
  if (typeof mod.runLab !== 'function') throw new LabNotInstalledError(name, 'it has no runLab export')
  return mod as LabModule
}
