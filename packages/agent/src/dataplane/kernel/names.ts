import { createHash } from 'node:crypto'
import { IFNAME_HASH_HEX_CHARS } from './constants.js'

/** Chars of the network ID in an LB netns name (DESIGN.md: `<prefix>lb-<network id, 12 chars>`). */
export const NETNS_NETWORK_ID_CHARS = 12

function hash (...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, IFNAME_HASH_HEX_CHARS)
}

/** Name of the LB sandbox netns of a network. */
export function lbNetnsName (prefix: string, networkId: string): string {
  return `${prefix}lb-${networkId.slice(0, NETNS_NETWORK_ID_CHARS)}`
}

/** Prefix shared by every LB netns of an agent (for listing at adoption). */
export function lbNetnsPrefix (prefix: string): string {
  return `${prefix}lb-`
}

/**
 * Netns holding a network's bridge and VXLAN device with `--overlay-netns`
 * (`<prefix>ov-<network id, 12 chars>`): bridge netfilter is off there, so
 * bridged overlay frames skip the host's hooks.
 */
export function overlayNetnsName (prefix: string, networkId: string): string {
  return `${prefix}ov-${networkId.slice(0, NETNS_NETWORK_ID_CHARS)}`
}

/** Prefix shared by every overlay netns of an agent (for listing at adoption). */
export function overlayNetnsPrefix (prefix: string): string {
  return `${prefix}ov-`
}

/** Inside an overlay netns: the bridge port whose peer is the host's `sb<hash>` veth (mode=host routes, the host's own traffic). */
export const OVERLAY_HOST_PORT_IFNAME = 'host0'

/** Bridge of a network on this node (12 chars); with `--overlay-netns` also the host's veth into that bridge. */
export function bridgeName (prefix: string, networkId: string): string {
  return `sb${hash(prefix, networkId)}`
}

/** VXLAN device of a network on this node (12 chars). */
export function vxlanName (prefix: string, networkId: string): string {
  return `sx${hash(prefix, networkId)}`
}

/** Host side of the LB sandbox's veth (12 chars). */
export function lbVethName (prefix: string, networkId: string): string {
  return `sl${hash(prefix, networkId)}`
}

/** Host side of the LB sandbox's uplink veth (egress and published ports; 12 chars). */
export function uplinkHostName (prefix: string, networkId: string): string {
  return `su${hash(prefix, networkId)}`
}

/** Host-side uplink names of an agent start with this (the host filter matches them as `su*`). */
export const UPLINK_HOST_PREFIX = 'su'

/** Interface name of the LB sandbox's uplink inside its netns. */
export const UPLINK_IFNAME = 'up0'

/** nft table of the host's published ports and egress masquerade (one per agent prefix). */
export function ingressTableName (prefix: string): string {
  return `scalelb_ingress_${hash('ingress', prefix)}`
}

/** nft table of a sandbox's gateway (egress masquerade and forward filter); one per sandbox netns. */
export const GATEWAY_TABLE = 'scalelb_gw'

/** Interface name of the LB sandbox inside its netns. */
export const LB_IFNAME = 'lb0'

/** Host side of a task's veth (12 chars). */
export function taskVethName (prefix: string, networkId: string, netnsPath: string): string {
  return `st${hash(prefix, networkId, netnsPath)}`
}

/** Task end of a veth that a runtime moves into the container itself (Docker's Join), until it does (12 chars). */
export function taskPeerVethName (prefix: string, networkId: string, key: string): string {
  return `sp${hash(prefix, networkId, key)}`
}

/** nft table of a network (one per netns; per network so per-container task netns can hold several). */
export function nftTableName (networkId: string): string {
  return `scalelb_${hash(networkId)}`
}
