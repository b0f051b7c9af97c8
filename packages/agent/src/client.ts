/**
 * `@scalelb/agent/client`: the control API client alone, for processes that
 * must start fast and stay small (the CNI plugin, exec'd once per
 * container). It loads the client, its route table and the error classes,
 * not the agent (libp2p, winston, the kernel code) that `@scalelb/agent`
 * brings.
 * @packageDocumentation
 */
export { createApiClient, type ApiClient, type ApiMethods, type ApiTarget } from './api/client.js'
export type { TaskAddBody, Removed } from './api/contract.js'
export { ApiClientError } from './errors.js'
export { DEFAULT_API_SOCKET, IFNAME_RE } from './constants.js'
export type { NetworkInfo, ServiceInfo, TaskAddRequest, TaskEndpointInfo, TaskInfo } from './types.js'
