/**
 * @scalelb/cni: `scalelb-cni`, a CNI plugin (spec 1.0.0; 0.3.x and 0.4.0
 * configurations too) that attaches containers to scalelb networks through
 * the local agent's control API: the container ID is the task ID, the
 * agent plugs the namespace as `scalelb task add --netns` does.
 * @packageDocumentation
 */
export { runPlugin, readAll, type PluginInvocation, type PluginOutcome } from './run.js'
export { runCommand, fromAgentError, versionResult, type PluginClient, type PluginDeps, type FoundInterface, type CommandOutput } from './plugin.js'
export { parseEnv, parseNetConf, parseCniArgs, parseDns, type SocketDefaults } from './config.js'
export { buildResult, mergeDns, subnetOf, type Attachment } from './result.js'
export { inspectInterface } from './netns.js'
export { CniError } from './errors.js'
export * from './constants.js'
export type * from './types.js'
