import { isIP } from 'node:net'
import type { Logger } from '../logging/logger.js'
import { macFor, subnetOf } from '../state/addr.js'
import { cidrRange, findOverlap } from '../state/conflicts.js'
import type { NetworkValue } from '../state/tables.js'
import {
  ADDRESS_SPACE, CONTAINER_IFNAME_PREFIX, DRIVER_OPTIONS_KEY, GATEWAY_REQUEST_TYPE, NETWORK_NAME_OPTION, POOL_ID_PREFIX
} from './constants.js'
import { DockerPluginError, PluginRequestError } from './errors.js'
import {
  parseCreateEndpoint, parseCreateNetwork, parseEndpointRef, parseJoin, parseNetworkRef, parsePoolRef,
  parseReleaseAddress, parseRequestAddress, parseRequestPool
} from './protocol.js'
import type { DockerPluginState, EndpointRecord } from './state.js'

/** What the plugin needs of the agent (the agent's adapter in host.ts; a fake in tests). */
export interface DockerPluginHost {
  /** The cluster's networks (id -> value), as this node sees them. */
  networks(): ReadonlyMap<string, NetworkValue>
  /** Create a cluster network; throws the controller's errors (overlap, name taken, not a manager). */
  createNetwork(name: string, subnet: string): Promise<string>
  /** Overlay MTU of a network on this node. */
  mtu(networkId: string): number
  /** Reserve an address (any when `ip` is undefined) for Docker; throws when none is free or `ip` is taken. */
  reserveAddress(networkId: string, ip: string | undefined, opts?: { signal?: AbortSignal }): Promise<string>
  /** Release an address reserved for Docker; false when Docker holds no reservation of it (a task holds it, or nothing). */
  releaseReservation(networkId: string, ip: string): boolean
  /**
   * Record a local endpoint-only task `taskId` on the network with the
   * address reserved for it (the reservation becomes the task's) and wait
   * until the data plane built the network's bridge. Answers this node's LB
   * IP on the network. Idempotent for the same task.
   */
  addEndpointTask(taskId: string, networkId: string, ip: string, opts?: { signal?: AbortSignal }): Promise<{ lbIp: string | undefined }>
  /** Remove a local task; no error when it does not exist. */
  removeTask(taskId: string): Promise<void>
  /** The Docker network's name (Engine API), or undefined when dockerd does not know it. */
  dockerNetworkName(dockerNetworkId: string): Promise<string | undefined>
}

/** The container's link: a veth whose host end is on the network's bridge, its peer left for Docker to move. */
export interface DockerLinks {
  create(init: { networkId: string, endpointId: string, mac: string, mtu: number }): Promise<{ srcName: string }>
  /** Remove it; no error when it is gone (the container's namespace took the peer with it). */
  remove(init: { networkId: string, endpointId: string }): Promise<void>
}

/** Options of {@link createDockerPlugin}. */
export interface DockerPluginInit {
  host: DockerPluginHost
  links: DockerLinks
  logger: Logger
  /** Records restored from the data dir. @default empty */
  state?: DockerPluginState
  /** Called after every change of the records (persist them). */
  onChange?: (state: DockerPluginState) => void | Promise<void>
}

/** Docker's plugin protocol over the agent: network driver and IPAM driver. */
export interface DockerPlugin {
  /** Answer one protocol call (`NetworkDriver.Join` ...). Unknown methods throw {@link PluginRequestError} with field `method`. */
  handle(method: string, body: unknown, opts?: { signal?: AbortSignal }): Promise<object>
  /** The methods this plugin answers. */
  methods(): string[]
  /** The records (for tests and the state file). */
  state(): DockerPluginState
  /** The scalelb network a Docker network is bound to, if any. */
  boundNetwork(dockerNetworkId: string): string | undefined
  /** A Docker network was created (event): bind it now rather than at its first container. */
  networkCreated(dockerNetworkId: string): Promise<void>
}

type Handler = (body: unknown, opts: { signal?: AbortSignal }) => Promise<object>

/** `scalelb/<subnet>` -> subnet. */
function poolSubnet (poolId: string): string {
  if (!poolId.startsWith(POOL_ID_PREFIX) || cidrRange(poolId.slice(POOL_ID_PREFIX.length)) === undefined) throw new DockerPluginError(`pool ${JSON.stringify(poolId)} is not a scalelb pool (expected ${POOL_ID_PREFIX}<subnet>)`)
  return poolId.slice(POOL_ID_PREFIX.length)
}

function describe (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Create the plugin (nothing listens: the server in server.ts calls `handle`). */
export function createDockerPlugin (init: DockerPluginInit): DockerPlugin {
  const { host, links, logger } = init
  const st: DockerPluginState = init.state ?? { networks: {}, endpoints: {} }

  async function changed (): Promise<void> {
    await init.onChange?.(st)
  }

  /** The cluster network holding exactly `subnet`; a different overlapping one is an error naming both. */
  function networkOfSubnet (subnet: string): { id: string, value: NetworkValue } | undefined {
    const nets = host.networks()
    for (const [id, value] of nets) if (value.subnets.includes(subnet)) return { id, value }
    const o = findOverlap([subnet], nets)
    if (o !== undefined) throw new DockerPluginError(`subnet ${subnet} overlaps subnet ${o.subnet} of scalelb network ${o.name}: give --subnet ${o.subnet} to use that network`)
    return undefined
  }

  function networkNamed (name: string): { id: string, value: NetworkValue } | undefined {
    for (const [id, value] of host.networks()) if (value.name === name) return { id, value }
    return undefined
  }

  /** Bind to network `name` (created when absent); it must hold `subnet`. */
  async function bindByName (name: string, subnet: string): Promise<string> {
    const n = networkNamed(name)
    if (n !== undefined) {
      if (!n.value.subnets.includes(subnet)) throw new DockerPluginError(`scalelb network ${name} has subnet ${n.value.subnets.join(', ')}, not ${subnet}: give --subnet ${n.value.subnets[0] ?? ''}`)
      return n.id
    }
    const bySubnet = networkOfSubnet(subnet)
    if (bySubnet !== undefined) throw new DockerPluginError(`subnet ${subnet} belongs to scalelb network ${bySubnet.value.name}, not ${name}`)
    try {
      const id = await host.createNetwork(name, subnet)
      logger.info('created the scalelb network for a Docker network', { network: name, subnet, networkId: id })
      return id
    } catch (err) {
      throw new DockerPluginError(`cannot create scalelb network ${name} (${subnet}): ${describe(err)}`)
    }
  }

  /** The scalelb network of a Docker network, binding it now if it was created without one. */
  async function bound (dockerNetworkId: string): Promise<string> {
    const rec = st.networks[dockerNetworkId]
    if (rec === undefined) throw new DockerPluginError(`Docker network ${dockerNetworkId.slice(0, 12)} was not created through the scalelb driver on this node`)
    if (rec.networkId !== undefined && host.networks().has(rec.networkId)) return rec.networkId
    let networkId = networkOfSubnet(rec.subnet)?.id
    if (networkId === undefined) {
      const name = rec.name ?? await host.dockerNetworkName(dockerNetworkId).catch((err: unknown) => {
        throw new DockerPluginError(`scalelb network missing in the cluster: no network has subnet ${rec.subnet}, and its name cannot be read from dockerd to create it (${describe(err)})`)
      })
      if (name === undefined) throw new DockerPluginError(`scalelb network missing in the cluster: no network has subnet ${rec.subnet} and dockerd does not know Docker network ${dockerNetworkId.slice(0, 12)}`)
      networkId = await bindByName(name, rec.subnet)
    }
    rec.networkId = networkId
    await changed()
    return networkId
  }

  /** The Docker network created with the pool's subnet (for an address request, which names only the pool). */
  function dockerNetworkOfSubnet (subnet: string): string | undefined {
    return Object.entries(st.networks).find(([, r]) => r.subnet === subnet)?.[0]
  }

  async function networkOfPool (poolId: string): Promise<string> {
    const subnet = poolSubnet(poolId)
    const n = networkOfSubnet(subnet)
    if (n !== undefined) return n.id
    const dockerId = dockerNetworkOfSubnet(subnet)
    if (dockerId === undefined) throw new DockerPluginError(`scalelb network missing in the cluster: no network has subnet ${subnet}`)
    return await bound(dockerId)
  }

  function endpoint (endpointId: string): EndpointRecord {
    const ep = st.endpoints[endpointId]
    if (ep === undefined) throw new DockerPluginError(`endpoint ${endpointId.slice(0, 12)} is not known to the scalelb driver on this node`)
    return ep
  }

  const handlers: Record<string, Handler> = {
    'Plugin.Activate': async () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),

    // local data scope: each host's dockerd keeps its own record of the network (no swarm, no
    // cluster store); global connectivity: containers on any host reach each other through the overlay
    'NetworkDriver.GetCapabilities': async () => ({ Scope: 'local', ConnectivityScope: 'global' }),

    'NetworkDriver.CreateNetwork': async (body) => {
      const req = parseCreateNetwork(body)
      if (req.IPv6Data.length > 0) throw new DockerPluginError('the scalelb Docker plugin does not take IPv6 yet (scalelb networks created with `scalelb network create --subnet` do): create the network without --ipv6')
      if (req.IPv4Data.length !== 1) throw new DockerPluginError(`a scalelb network is one subnet: give exactly one --subnet (got ${req.IPv4Data.length})`)
      const d = req.IPv4Data[0] as (typeof req.IPv4Data)[number]
      if (d.AddressSpace !== ADDRESS_SPACE) throw new DockerPluginError(`addresses of a scalelb network come from scalelb's allocator: create it with --ipam-driver scalelb (the pool is from IPAM address space ${JSON.stringify(d.AddressSpace)})`)
      const opts = req.Options[DRIVER_OPTIONS_KEY]
      const named = opts !== null && typeof opts === 'object' ? (opts as Record<string, unknown>)[NETWORK_NAME_OPTION] : undefined
      if (named !== undefined && typeof named !== 'string') throw new PluginRequestError(`Options.${DRIVER_OPTIONS_KEY}.${NETWORK_NAME_OPTION}`, 'must be a string')
      const rec: DockerPluginState['networks'][string] = { subnet: d.Pool }
      if (named !== undefined) rec.name = named
      // a named network, or one whose subnet the cluster knows, binds now so a mismatch fails
      // `docker network create`; otherwise its name (dockerd stores it only after this call) binds it later
      if (named !== undefined) rec.networkId = await bindByName(named, d.Pool)
      else rec.networkId = networkOfSubnet(d.Pool)?.id
      st.networks[req.NetworkID] = rec
      await changed()
      logger.info('Docker network created', { dockerNetwork: req.NetworkID, subnet: d.Pool, networkId: rec.networkId })
      return {}
    },

    'NetworkDriver.DeleteNetwork': async (body) => {
      const req = parseNetworkRef(body)
      // the scalelb network is the cluster's: other hosts may use it; only this host's binding goes
      if (st.networks[req.NetworkID] !== undefined) {
        delete st.networks[req.NetworkID]
        await changed()
      }
      return {}
    },

    'NetworkDriver.CreateEndpoint': async (body, opts) => {
      const req = parseCreateEndpoint(body)
      if (req.Interface.AddressIPv6 !== '') throw new DockerPluginError('the scalelb Docker plugin does not take IPv6 yet: an endpoint gets an IPv4 address only')
      if (req.Interface.Address === '') throw new DockerPluginError('no address for the endpoint: create the network with --ipam-driver scalelb')
      if (req.Interface.MacAddress !== '') throw new DockerPluginError('scalelb derives each endpoint\'s MAC from its address (every host must know it): drop --mac-address')
      const networkId = await bound(req.NetworkID)
      const ip = req.Interface.Address.split('/')[0] as string
      const subnets = host.networks().get(networkId)?.subnets ?? []
      if (subnetOf(ip, subnets) === undefined) throw new DockerPluginError(`address ${req.Interface.Address} is outside scalelb network ${host.networks().get(networkId)?.name ?? networkId} (${subnets.join(', ')})`)
      opts.signal?.throwIfAborted()
      const mac = macFor(networkId, ip)
      st.endpoints[req.EndpointID] = { dockerNetworkId: req.NetworkID, networkId, ip, mac }
      await changed()
      return { Interface: { MacAddress: mac } }
    },

    'NetworkDriver.EndpointOperInfo': async (body) => {
      const req = parseEndpointRef(body)
      const ep = st.endpoints[req.EndpointID]
      if (ep === undefined) return { Value: {} }
      return { Value: { 'scalelb.network': host.networks().get(ep.networkId)?.name ?? ep.networkId, 'scalelb.ip': ep.ip, 'scalelb.mac': ep.mac } }
    },

    'NetworkDriver.Join': async (body, opts) => {
      const req = parseJoin(body)
      const ep = endpoint(req.EndpointID)
      const { lbIp } = await host.addEndpointTask(req.EndpointID, ep.networkId, ep.ip, opts).catch((err: unknown) => {
        throw new DockerPluginError(`cannot add the container to scalelb network ${host.networks().get(ep.networkId)?.name ?? ep.networkId}: ${describe(err)}`)
      })
      let srcName: string
      try {
        srcName = (await links.create({ networkId: ep.networkId, endpointId: req.EndpointID, mac: ep.mac, mtu: host.mtu(ep.networkId) })).srcName
      } catch (err) {
        await host.removeTask(req.EndpointID)
        throw new DockerPluginError(`cannot create the container's link: ${describe(err)}`)
      }
      ep.joined = true
      await changed()
      logger.info('container joined', { endpoint: req.EndpointID, networkId: ep.networkId, ip: ep.ip, sandbox: req.SandboxKey })
      // the node's LB address is the container's gateway: VIPs are on-link, and the LB sandbox is
      // where traffic leaves the overlay on this node (DESIGN: the sandbox as the network's router)
      const res: Record<string, unknown> = { InterfaceName: { SrcName: srcName, DstPrefix: CONTAINER_IFNAME_PREFIX } }
      if (lbIp !== undefined) res.Gateway = lbIp
      else res.DisableGatewayService = true
      return res
    },

    'NetworkDriver.Leave': async (body) => {
      const req = parseEndpointRef(body)
      await unplug(req.EndpointID)
      return {}
    },

    'NetworkDriver.DeleteEndpoint': async (body) => {
      const req = parseEndpointRef(body)
      await unplug(req.EndpointID)
      if (st.endpoints[req.EndpointID] !== undefined) {
        delete st.endpoints[req.EndpointID]
        await changed()
      }
      return {}
    },

    'NetworkDriver.DiscoverNew': async () => ({}),
    'NetworkDriver.DiscoverDelete': async () => ({}),
    'NetworkDriver.ProgramExternalConnectivity': async () => ({}),
    'NetworkDriver.RevokeExternalConnectivity': async () => ({}),

    'IpamDriver.GetCapabilities': async () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
    'IpamDriver.GetDefaultAddressSpaces': async () => ({ LocalDefaultAddressSpace: ADDRESS_SPACE, GlobalDefaultAddressSpace: ADDRESS_SPACE }),

    'IpamDriver.RequestPool': async (body) => {
      const req = parseRequestPool(body)
      if (req.V6) throw new DockerPluginError('the scalelb Docker plugin does not take IPv6 yet (scalelb networks created with `scalelb network create --subnet` do): create the network without --ipv6')
      if (req.Pool === '') throw new DockerPluginError('give the scalelb network\'s subnet: docker network create --subnet CIDR (scalelb has no default pool)')
      const r = cidrRange(req.Pool)
      if (r === undefined || isIP(req.Pool.split('/')[0] ?? '') !== 4) throw new DockerPluginError(`--subnet ${req.Pool} is not an IPv4 CIDR`)
      if (req.SubPool !== '' && req.SubPool !== req.Pool) throw new DockerPluginError('--ip-range is not supported: scalelb\'s allocator hands out the whole subnet across the cluster')
      // an overlapping, different subnet is refused now; the network itself is bound by CreateNetwork
      networkOfSubnet(req.Pool)
      for (const [id, n] of Object.entries(st.networks)) {
        const o = cidrRange(n.subnet)
        if (n.subnet !== req.Pool && o !== undefined && o.first <= r.last && r.first <= o.last) throw new DockerPluginError(`subnet ${req.Pool} overlaps subnet ${n.subnet} of Docker network ${id.slice(0, 12)} on this host (scalelb network ${n.name ?? 'not bound yet'})`)
      }
      return { PoolID: `${POOL_ID_PREFIX}${req.Pool}`, Pool: req.Pool, Data: {} }
    },

    // pools are only names of subnets: nothing to free
    'IpamDriver.ReleasePool': async (body) => {
      parsePoolRef(body)
      return {}
    },

    'IpamDriver.RequestAddress': async (body, opts) => {
      const req = parseRequestAddress(body)
      const subnet = poolSubnet(req.PoolID)
      const prefix = subnet.split('/')[1] as string
      if (req.Options.RequestAddressType === GATEWAY_REQUEST_TYPE) {
        // Docker insists on a gateway per pool; a container's real gateway is the LB address of
        // its own node (Join), so answer the subnet's network address, which scalelb never hands out
        if (req.Address !== '') throw new DockerPluginError(`--gateway ${req.Address}: a scalelb container's gateway is its node's LB address on the network; drop --gateway`)
        return { Address: `${subnet.split('/')[0] as string}/${prefix}`, Data: {} }
      }
      const networkId = await networkOfPool(req.PoolID)
      const name = host.networks().get(networkId)?.name ?? networkId
      try {
        const ip = await host.reserveAddress(networkId, req.Address === '' ? undefined : req.Address, opts)
        return { Address: `${ip}/${prefix}`, Data: {} }
      } catch (err) {
        const e = err as Error
        if (e.name === 'NetworkFullError' || e.name === 'PoolExhaustedError') throw new DockerPluginError(`address space exhausted: scalelb network ${name} (${subnet}): ${e.message}`)
        throw new DockerPluginError(`cannot reserve ${req.Address === '' ? 'an address' : req.Address} on scalelb network ${name}: ${e.message}`)
      }
    },

    'IpamDriver.ReleaseAddress': async (body) => {
      const req = parseReleaseAddress(body)
      const subnet = poolSubnet(req.PoolID)
      const ip = req.Address.split('/')[0] as string
      if (ip === subnet.split('/')[0]) return {} // the gateway placeholder
      const n = networkOfSubnet(subnet)
      // a task that held it released it when it was removed (Leave)
      if (n !== undefined) host.releaseReservation(n.id, ip)
      return {}
    }
  }

  /** Take the container off its network (Leave, DeleteEndpoint): link and task; both idempotent. */
  async function unplug (endpointId: string): Promise<void> {
    const ep = st.endpoints[endpointId]
    if (ep === undefined) return
    await links.remove({ networkId: ep.networkId, endpointId })
    await host.removeTask(endpointId)
    if (ep.joined === true) {
      ep.joined = false
      await changed()
      logger.info('container left', { endpoint: endpointId, networkId: ep.networkId, ip: ep.ip })
    }
  }

  return {
    async handle (method, body, opts = {}) {
      const h = handlers[method]
      if (h === undefined) throw new PluginRequestError('method', `unknown plugin method ${JSON.stringify(method.slice(0, 80))}`)
      return await h(body, opts)
    },
    methods: () => Object.keys(handlers),
    state: () => st,
    boundNetwork: (id) => st.networks[id]?.networkId,
    async networkCreated (dockerNetworkId) {
      if (st.networks[dockerNetworkId] === undefined || st.networks[dockerNetworkId].networkId !== undefined) return
      try {
        await bound(dockerNetworkId)
      } catch (err) {
        logger.error('cannot bind a Docker network to a scalelb network: its containers will fail to start', { dockerNetwork: dockerNetworkId, error: describe(err) })
      }
    }
  }
}
