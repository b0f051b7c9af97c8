/**
 * @scalelb/agent: the node agent (gossip tables -> desired state -> kernel
 * LB sandboxes), its control API, status server and the `scalelb` CLI.
 * @packageDocumentation
 */
/** Name of the program (CLI and metric prefix). */
export const AGENT_NAME = 'scalelb'
export { createAgent, type Agent, type AgentInit } from './agent.js'
export type { DataPlane, Reconciler as AgentReconciler } from './dataplane/dataplane.js'
export { createDataPlane, createMemoryPlumber } from './dataplane/wiring.js'
/** Kernel access (ip, nft, bridge, sysctl helpers and derived names), for tools such as the lab. */
export * from './dataplane/kernel/index.js'
export { resolveAgentConfig, agentHelp, AGENT_SETTINGS, type AgentConfig, type ResolveInput, type ProgrammerName, type LbModeName } from './config/options.js'
export { runCli, mainHelp } from './cli/main.js'
export type { LabModule } from './cli/lab-loader.js'
export type { CliContext, CliIo } from './cli/commands.js'
export { createApiClient, type ApiClient, type ApiMethods, type ApiTarget } from './api/client.js'
export {
  API_ROUTES, type ApiRoutes, type RouteName, type Route, type RequestOf, type ResponseOf,
  type NetworkCreateBody, type ServiceCreateBody, type TaskAddBody, type TaskStateBody, type PortInput, type Removed
} from './api/contract.js'
export { buildAgent, detectUnderlay } from './cli/agent-command.js'
export { writeClusterKeys } from './cli/keygen.js'
export { loadClusterKeys, newClusterKeys, formatManagerKeyFile, parseManagerKeyFile, type ClusterKeys, type NewClusterKeys } from './persistence/cluster-keys.js'
export { createAuthorityPolicy, mayWrite, type AuthorityPolicyInit } from './state/authority.js'
export { computeDesired, type DesiredInput, type DesiredResult, type EndpointRecord, type NetworkDesired } from './state/desired.js'
export {
  TABLE_NODES, TABLE_NETWORKS, TABLE_SERVICES, TABLE_IPAM, TABLE_IPAM_REQUESTS, TABLE_ENDPOINTS,
  checkNode, checkNetwork, checkService, checkEndpoint, checkDonationRequest, networkScope, lbEndpointKey, taskEndpointKey, parseEndpointKey,
  type EndpointKey, type NodeValue, type NetworkValue, type ServiceValue, type EndpointValue, type EndpointState, type DonationRequest
} from './state/tables.js'
export type { Controller, TaskPlumber } from './state/controller.js'
export { createAgentMetrics, type AgentMetrics } from './metrics.js'
export { createRootLogger, createSilentLogger, componentLogger, type Logger, type LogLevel } from './logging/logger.js'
export { loadOrCreateNodeKey, type NodeIdentity } from './persistence/node-key.js'
export { admitNodeDir } from './persistence/admission.js'
export { readJsonFile, writeFileAtomic } from './persistence/files.js'
export * from './errors.js'
export * as constants from './constants.js'
export type * from './types.js'
