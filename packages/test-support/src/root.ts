import test, { type ImplementationFn } from 'ava'

/** True when the tests may touch the kernel (network namespaces, nftables, IPVS). */
export const isRoot: boolean = process.getuid?.() === 0

/** Title suffix of a test skipped without root ('' as root, so titles are the same in CI). */
export const NEEDS_ROOT: string = isRoot ? '' : ' (skipped: needs root)'

/** Declare a test that needs root: it runs as root and is skipped, with the reason in its title, otherwise. */
export interface RootTestFn {
  (title: string, impl: ImplementationFn<[]>): void
  /** The same, run serially. */
  serial(title: string, impl: ImplementationFn<[]>): void
}

function declare (serial: boolean): (title: string, impl: ImplementationFn<[]>) => void {
  return (title, impl) => {
    if (!isRoot) test.skip(`${title}${NEEDS_ROOT}`, impl)
    else if (serial) test.serial(title, impl)
    else test(title, impl)
  }
}

/** `rootTest(title, impl)` / `rootTest.serial(title, impl)`: see {@link RootTestFn}. */
export const rootTest: RootTestFn = Object.assign(declare(false), { serial: declare(true) })
