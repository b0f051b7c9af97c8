/**
 * Two "hosts" for overlay kernel tests: netns joined by a veth underlay, and
 * the addresses and desired state of one network across them (an nginx-less
 * VIP over a task on each host, a client on host 1).
 */
import { createKernel, ipBatch, type Kernel } from '../../src/dataplane/kernel/index.js'
import type { NetworkDesired, RemoteEndpointSpec } from '../../src/dataplane/programmer/index.js'
import { attachTaskNetns } from '../../src/dataplane/plumber/index.js'
import { startServer, type NetnsLab } from './netns.js'

/** Endpoints and desired state of network `net` on subnet 10.<octet>.0.0/24 (VNI = octet). */
export interface OverlayFixture {
  NET: string
  VIP: string
  U1: string
  U2: string
  T1: RemoteEndpointSpec
  T2: RemoteEndpointSpec
  C1: RemoteEndpointSpec
  LB1: RemoteEndpointSpec
  LB2: RemoteEndpointSpec
  /** The desired state of the network on the host of `lb` (underlay `local`), knowing `remotes`. */
  want: (lb: RemoteEndpointSpec, local: string, remotes: RemoteEndpointSpec[]) => NetworkDesired
}

/** The fixture of network `net` on 10.<octet>.0.0/24, underlay 192.168.<underlay>.0/24. */
export function overlayFixture (net: string, octet: number, underlay: number, macByte: string): OverlayFixture {
  const U1 = `192.168.${underlay}.1`
  const U2 = `192.168.${underlay}.2`
  const ep = (host: number, mac: string, u: string): RemoteEndpointSpec => ({ ip: `10.${octet}.0.${host}`, mac: `02:42:0a:${macByte}:00:${mac}`, underlay: u })
  const T1 = ep(11, '11', U1)
  const T2 = ep(12, '12', U2)
  const VIP = `10.${octet}.0.100`
  return {
    NET: net, VIP, U1, U2, T1, T2, C1: ep(50, '50', U1), LB1: ep(2, '02', U1), LB2: ep(3, '03', U2),
    want: (lb, local, remotes) => ({
      sandbox: {
        networkId: net,
        lbAddresses: [`${lb.ip}/24`],
        lbMac: lb.mac,
        services: [{ id: 'web', vip: VIP, ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], backends: [T1, T2].map(b => ({ ip: b.ip, weight: 1, draining: false })) }]
      },
      overlay: { networkId: net, vni: octet, subnets: [`10.${octet}.0.0/24`], localUnderlay: local, remotes },
      localTaskNetns: []
    })
  }
}

/** A second "host" netns beside the lab's, with a veth underlay between them (u1 = `f.U1`, u2 = `f.U2`). */
export async function secondHost (lab: NetnsLab, f: OverlayFixture): Promise<{ k1: Kernel, k2: Kernel, h2: string }> {
  const h2 = await lab.netns('h2')
  const k1 = lab.kernel
  const k2 = createKernel({ baseNetns: h2 })
  await ipBatch(k1, [`link add ${lab.prefix}u type veth peer name u2 netns ${h2}`, `link set ${lab.prefix}u name u1`, `addr add ${f.U1}/24 dev u1`, 'link set u1 up'])
  await ipBatch(k2, [`addr add ${f.U2}/24 dev u2`, 'link set u2 up'])
  return { k1, k2, h2 }
}

/** Plug the fixture's tasks: t1 (server `task-h1`) and the client c1 on host 1 (prefix `pa`), t2 (server `task-h2`) on host 2 (prefix `pb`); port 8080. */
export async function plugTasks (lab: NetnsLab, f: OverlayFixture, h: { k1: Kernel, k2: Kernel, pa: string, pb: string }): Promise<{ t1: string, t2: string, c1: string }> {
  const plug = async (name: string, prefix: string, ep: RemoteEndpointSpec, kernel: Kernel, server?: string): Promise<string> => {
    const ns = await lab.netns(name)
    await attachTaskNetns({ netnsPrefix: prefix, networkId: f.NET, netnsPath: ns, address: `${ep.ip}/24`, mac: ep.mac, kernel })
    if (server !== undefined) await startServer(lab, ns, server, 8080)
    return ns
  }
  const t1 = await plug('t1', h.pa, f.T1, h.k1, 'task-h1')
  const t2 = await plug('t2', h.pb, f.T2, h.k2, 'task-h2')
  const c1 = await plug('c1', h.pa, f.C1, h.k1)
  return { t1, t2, c1 }
}
