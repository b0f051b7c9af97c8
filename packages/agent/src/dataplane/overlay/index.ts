/** VXLAN overlay of a network on one node: bridge, VXLAN device, FDB and neighbour entries. */
export { applyOverlay, bridgeOf, overlayNetnsDrift, repairOverlayNetns, separateSandboxOverlayNames, bridgeNfOff, readOverlay, removeOverlay, overlayNames, listOverlayNetworks } from './overlay.js'
export { overlayViewFromSpec, overlayDiff, overlayObjectCount, sameOverlay, VNI_MAX, type OverlayView, type OverlayBatches, type OverlayNames } from './view.js'
export { enforceLinkMtu } from './mtu-links.js'
export {
  deriveOverlayMtu, mtuProblem, networkMtu, parseMtuText, resolveMtuPolicy, DEFAULT_MTU_POLICY, NETWORK_MTU_OPTION,
  type MtuPolicy, type NetworkMtu
} from './mtu.js'
