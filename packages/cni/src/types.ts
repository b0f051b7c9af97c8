import type { Bandwidth } from './bandwidth.js'
/** Shapes of the CNI spec (1.0.0, with 0.3.x/0.4.0 differences noted) as the plugin reads and writes them. */

/** The commands the plugin answers. */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS'

/** The CNI_* environment of one invocation, validated for its command. */
export interface CniEnv {
  command: CniCommand
  /** CNI_CONTAINERID: the task id (ADD, DEL, CHECK). */
  containerId?: string
  /** CNI_NETNS: path of the container's network namespace (ADD, CHECK; DEL may lack it when the namespace is gone). */
  netns?: string
  /** CNI_IFNAME: the interface to create inside the namespace (ADD, DEL, CHECK). */
  ifname?: string
  /** CNI_ARGS as key/value pairs (unknown keys are kept and ignored, as with IgnoreUnknown). */
  args: Record<string, string>
  /** CNI_PATH: where the runtime's plugins are (the `bandwidth` capability runs the reference plugin from there). */
  cniPath?: string
}

/** DNS settings of a result (and of the configuration's optional `dns` key). */
export interface CniDns {
  nameservers?: string[]
  domain?: string
  search?: string[]
  options?: string[]
}

/** An interface of a result. */
export interface CniInterface {
  name: string
  mac?: string
  /** Path of the namespace it is in; absent for a host-side interface. */
  sandbox?: string
}

/** An address of a result. */
export interface CniIpConfig {
  /** Address with prefix length, e.g. `10.20.0.5/24`. */
  address: string
  gateway?: string
  /** Index into `interfaces`. */
  interface?: number
  /** 0.3.x/0.4.0 only: `4` or `6`. */
  version?: '4' | '6'
}

/** A route of a result. */
export interface CniRoute {
  dst: string
  gw?: string
}

/** The spec's success result (ADD; a chained plugin's prevResult). */
export interface CniResult {
  cniVersion: string
  interfaces?: CniInterface[]
  ips?: CniIpConfig[]
  routes?: CniRoute[]
  dns?: CniDns
}

/** The spec's error result. */
export interface CniErrorResult {
  cniVersion: string
  code: number
  msg: string
  details?: string
}

/** VERSION's answer. */
export interface CniVersionResult {
  cniVersion: string
  supportedVersions: string[]
}

/**
 * The plugin's network configuration (stdin), validated:
 * `{"cniVersion":"1.0.0","name":"front-web","type":"scalelb-cni","network":"front","service":"web"}`.
 */
export interface NetConf {
  cniVersion: string
  /** The CNI network's name (the runtime's). */
  name: string
  /** The scalelb network (name or id); required for ADD and CHECK. */
  network?: string
  /** Service (name or id) whose backend the container becomes, after the CNI_ARGS override; absent: an endpoint only. */
  service?: string
  /** Where `service` came from, to name it in errors: the `service` key or CNI_ARGS SCALELB_SERVICE. */
  serviceFrom: string
  /** The agent's control socket (`socket` key, else SCALELB_API_SOCKET, else the agent's default). */
  socket: string
  /** DNS for the result when the agent gives none. */
  dns?: CniDns
  /** The result of the plugins before this one in a chain (and CHECK's expected result). */
  prevResult?: CniResult
  /** The `bandwidth` capability (`runtimeConfig.bandwidth`, not all zero): shaped where the host end of the veth is. */
  bandwidth?: Bandwidth
}
