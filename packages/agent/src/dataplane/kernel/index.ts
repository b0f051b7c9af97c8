/** Kernel access of the agent: every ip/nft/bridge/sysctl call goes through {@link Kernel}. */
export { createKernel, isRoot, runCommand, wrapNetns, type CommandInit, type CommandResult, type Kernel, type KernelInit, type NetnsRef, type RunOptions } from './exec.js'
export { KernelCommandError, KernelStateError } from './errors.js'
export * from './ip.js'
export * from './nft.js'
export * from './names.js'
export * from './constants.js'
