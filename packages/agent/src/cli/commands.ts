import { UsageError } from '../errors.js'
import type { EndpointState } from '../state/tables.js'
import type { ApiClient } from '../api/client.js'
import type { NetworkCreateBody, ServiceCreateBody, ServicePublishBody, TaskAddBody } from '../api/contract.js'
import { shortId, table } from './format.js'

// the CommonJS view: node:util's ES module facade reads every export (TextDecoder ...), ~10 ms of a CLI start
const { parseArgs } = process.getBuiltinModule('node:util')

/** Output sinks of the CLI (injected so tests can capture them). */
export interface CliIo {
  out: (text: string) => void
  err: (text: string) => void
}

/** Environment + output of one CLI run. */
export interface CliContext {
  io: CliIo
  env: Record<string, string | undefined>
}

type Flags = Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string }>

/** One client subcommand. */
interface Command {
  usage: string
  summary: string
  flags: Flags
  /** Number of positional arguments: [min, max]. */
  positionals: [number, number]
  run: (api: ApiClient, pos: string[], f: Record<string, string | boolean | string[] | undefined>, io: CliIo) => Promise<void>
}

const JSON_FLAG: Flags = { json: { type: 'boolean' } }
/** `scalelb status` line of each role. */
const ROLE_TEXT: Record<string, string> = {
  manager: 'manager (holds the cluster manager key: may change networks and services)',
  worker: 'worker (runs tasks; networks and services are changed on a manager node)',
  insecure: 'insecure (no cluster key: every member may change networks and services)'
}

function printJson (io: CliIo, v: unknown): void {
  io.out(JSON.stringify(v, null, 2))
}

/** Client subcommands, keyed `group action` or `name`. */
export const COMMANDS: Record<string, Command> = {
  'network create': {
    usage: 'scalelb network create NAME --subnet CIDR [--subnet CIDR ...] [--vni N] [--mtu BYTES] [--internal] [--opt KEY=VALUE ...]',
    summary: 'create an overlay network (--mtu: its interfaces\' MTU on every node; default each node\'s own; --internal: no way out, no published port)',
    flags: { subnet: { type: 'string', multiple: true }, vni: { type: 'string' }, mtu: { type: 'string' }, internal: { type: 'boolean' }, opt: { type: 'string', multiple: true }, ...JSON_FLAG },
    positionals: [1, 1],
    async run (api, [name], f, io) {
      const subnets = (f.subnet as string[] | undefined) ?? []
      if (subnets.length === 0) throw new UsageError('--subnet is required (e.g. --subnet 10.10.0.0/24)')
      const body: NetworkCreateBody = { name: name as string, subnets }
      if (f.vni !== undefined) {
        if (!/^\d+$/.test(f.vni as string)) throw new UsageError(`--vni must be a number, got ${JSON.stringify(f.vni)}`)
        body.vni = Number(f.vni)
      }
      if (f.mtu !== undefined) {
        if (!/^\d+$/.test(f.mtu as string)) throw new UsageError(`--mtu must be a number of bytes, got ${JSON.stringify(f.mtu)}`)
        body.mtu = Number(f.mtu)
      }
      if (f.opt !== undefined) {
        const options: Record<string, string> = {}
        for (const o of f.opt as string[]) {
          const i = o.indexOf('=')
          if (i <= 0) throw new UsageError(`--opt must be KEY=VALUE, got ${JSON.stringify(o)}`)
          options[o.slice(0, i)] = o.slice(i + 1)
        }
        body.options = options
      }
      if (f.internal === true) body.options = { ...body.options, internal: 'true' }
      const n = await api.createNetwork(body)
      if (f.json === true) printJson(io, n)
      else io.out(n.id)
    }
  },
  'network ls': {
    usage: 'scalelb network ls [--json]',
    summary: 'list networks',
    flags: JSON_FLAG,
    positionals: [0, 0],
    async run (api, _p, f, io) {
      const list = await api.listNetworks()
      if (f.json === true) return printJson(io, list)
      io.out(table(['ID', 'NAME', 'SUBNETS', 'VNI', 'MTU', 'NODES', 'LB IP', 'CONFLICT'], list.map((n) => [shortId(n.id), n.name, n.subnets.join(','), String(n.vni), String(n.mtu), String(n.nodes.length), n.lbIp ?? '-', n.conflict === undefined ? '-' : `${n.conflict.ownSubnet} overlaps ${n.conflict.with} ${n.conflict.subnet}`])))
    }
  },
  'network inspect': {
    usage: 'scalelb network inspect NAME|ID',
    summary: 'show a network as JSON',
    flags: JSON_FLAG,
    positionals: [1, 1],
    async run (api, [ref], _f, io) { printJson(io, await api.inspectNetwork(ref as string)) }
  },
  'network rm': {
    usage: 'scalelb network rm NAME|ID [--force]',
    summary: 'delete a network (refused while it has tasks unless --force)',
    flags: { force: { type: 'boolean', short: 'f' } },
    positionals: [1, 1],
    async run (api, [ref], f, io) {
      await api.removeNetwork(ref as string, { force: f.force === true })
      io.out(ref as string)
    }
  },
  'service create': {
    usage: 'scalelb service create NAME --port PORT[:TARGET][/tcp|udp] [...] --network NET [--network NET ...] [--endpoint-mode vip|dnsrr] [--publish PUBLISHED:TARGET[/tcp|udp] | --publish published=N,target=N,protocol=tcp|udp,mode=ingress|host ...]',
    summary: 'create a service with a VIP on each network (--publish: reachable from outside on every node\'s underlay address; mode=host: on nodes with its tasks, client address kept)',
    flags: { port: { type: 'string', multiple: true, short: 'p' }, network: { type: 'string', multiple: true }, 'endpoint-mode': { type: 'string' }, publish: { type: 'string', multiple: true }, ...JSON_FLAG },
    positionals: [1, 1],
    async run (api, [name], f, io) {
      const networks = (f.network as string[] | undefined) ?? []
      if (networks.length === 0) throw new UsageError('--network is required')
      const req: ServiceCreateBody = { name: name as string, ports: (f.port as string[] | undefined) ?? [], networks }
      // the agent validates the mode
      if (f['endpoint-mode'] !== undefined) req.endpointMode = f['endpoint-mode'] as 'vip'
      // the agent parses and validates the published ports
      if (f.publish !== undefined) req.publish = f.publish as string[]
      const s = await api.createService(req)
      if (f.json === true) printJson(io, s)
      else io.out(s.id)
    }
  },
  'service update': {
    usage: 'scalelb service update NAME|ID [--publish-add PUBLISHED:TARGET[/tcp|udp] ...] [--publish-rm PUBLISHED[/tcp|udp] ...]',
    summary: 'publish ports of a service, or withdraw them (removed from every node)',
    flags: { 'publish-add': { type: 'string', multiple: true }, 'publish-rm': { type: 'string', multiple: true }, ...JSON_FLAG },
    positionals: [1, 1],
    async run (api, [ref], f, io) {
      const body: ServicePublishBody = {}
      if (f['publish-add'] !== undefined) body.add = f['publish-add'] as string[]
      if (f['publish-rm'] !== undefined) body.rm = f['publish-rm'] as string[]
      if (body.add === undefined && body.rm === undefined) throw new UsageError('give --publish-add and/or --publish-rm')
      const s = await api.publishService(ref as string, body)
      if (f.json === true) printJson(io, s)
      else io.out(s.id)
    }
  },
  'service ls': {
    usage: 'scalelb service ls [--json]',
    summary: 'list services',
    flags: JSON_FLAG,
    positionals: [0, 0],
    async run (api, _p, f, io) {
      const list = await api.listServices()
      if (f.json === true) return printJson(io, list)
      io.out(table(['ID', 'NAME', 'PORTS', 'VIPS', 'PUBLISHED'], list.map((s) => [
        shortId(s.id), s.name, s.ports.map((p) => `${p.port}:${p.targetPort}/${p.proto}`).join(','), s.vips.map((v) => `${v.network}=${v.vip}${v.vip6 === undefined ? '' : `,${v.vip6}`}`).join(','),
        (s.publish ?? []).map((p) => `${p.published}:${p.target}/${p.proto}${p.mode === 'host' ? ' (host)' : ''}`).join(',') || '-'
      ])))
    }
  },
  'service inspect': {
    usage: 'scalelb service inspect NAME|ID',
    summary: 'show a service as JSON',
    flags: JSON_FLAG,
    positionals: [1, 1],
    async run (api, [ref], _f, io) { printJson(io, await api.inspectService(ref as string)) }
  },
  'service rm': {
    usage: 'scalelb service rm NAME|ID [--force]',
    summary: 'delete a service (refused while it has tasks unless --force)',
    flags: { force: { type: 'boolean', short: 'f' } },
    positionals: [1, 1],
    async run (api, [ref], f, io) {
      await api.removeService(ref as string, { force: f.force === true })
      io.out(ref as string)
    }
  },
  'task add': {
    usage: 'scalelb task add [SERVICE] (--netns PATH [--ifname NAME] | --ip IP) [--id ID] [--network NET ...] [--state ready|draining] [--weight N] [--dns none]',
    summary: 'run a task of SERVICE on this node (without SERVICE: an endpoint on the --network networks, a backend of nothing): --netns plugs the namespace in, --ip only publishes',
    flags: { netns: { type: 'string' }, ifname: { type: 'string' }, ip: { type: 'string' }, id: { type: 'string' }, network: { type: 'string', multiple: true }, state: { type: 'string' }, weight: { type: 'string' }, dns: { type: 'string' }, ...JSON_FLAG },
    positionals: [0, 1],
    async run (api, [service], f, io) {
      if ((f.netns === undefined) === (f.ip === undefined)) throw new UsageError('give exactly one of --netns PATH or --ip IP')
      if (service === undefined && f.network === undefined) throw new UsageError('give a SERVICE, or --network NET for a task that is an endpoint only')
      if (f.ifname !== undefined && f.netns === undefined) throw new UsageError('--ifname goes with --netns')
      const body: TaskAddBody = service === undefined ? {} : { service }
      for (const k of ['netns', 'ifname', 'ip', 'id'] as const) if (f[k] !== undefined) body[k] = f[k] as string
      // the agent validates the state (and every other field)
      if (f.state !== undefined) body.state = f.state as EndpointState
      if (f.network !== undefined) body.networks = f.network as string[]
      if (f.dns !== undefined) body.dns = f.dns as 'none'
      if (f.weight !== undefined) {
        if (!/^\d+$/.test(f.weight as string)) throw new UsageError(`--weight must be a number, got ${JSON.stringify(f.weight)}`)
        body.weight = Number(f.weight)
      }
      const t = await api.addTask(body)
      if (f.json === true) printJson(io, t)
      else io.out(`${t.id} ${t.endpoints.map((e) => `${e.network}=${e.ip}`).join(' ')}`)
    }
  },
  'task ls': {
    usage: 'scalelb task ls [--service NAME] [--json]',
    summary: 'list tasks (this node\'s, and those on networks this node has tasks on)',
    flags: { service: { type: 'string' }, ...JSON_FLAG },
    positionals: [0, 0],
    async run (api, _p, f, io) {
      const list = await api.listTasks({ service: f.service as string | undefined })
      if (f.json === true) return printJson(io, list)
      io.out(table(['ID', 'SERVICE', 'NODE', 'STATE', 'ENDPOINTS'], list.map((t) => [
        t.id, t.service ?? '-', shortId(t.node), t.status === 'live' ? t.state : `${t.state} (${t.status})`, t.endpoints.map((e) => `${e.network}=${e.ip}`).join(',')
      ])))
    }
  },
  'task rm': {
    usage: 'scalelb task rm ID',
    summary: 'withdraw a local task and release its addresses',
    flags: {},
    positionals: [1, 1],
    async run (api, [id], _f, io) {
      await api.removeTask(id as string)
      io.out(id as string)
    }
  },
  'task drain': {
    usage: 'scalelb task drain ID',
    summary: 'stop sending new connections to a local task (open ones continue)',
    flags: {},
    positionals: [1, 1],
    async run (api, [id], _f, io) {
      await api.setTaskState(id as string, { state: 'draining' })
      io.out(id as string)
    }
  },
  'task ready': {
    usage: 'scalelb task ready ID',
    summary: 'make a drained local task receive new connections again',
    flags: {},
    positionals: [1, 1],
    async run (api, [id], _f, io) {
      await api.setTaskState(id as string, { state: 'ready' })
      io.out(id as string)
    }
  },
  members: {
    usage: 'scalelb members [--json]',
    summary: 'list cluster members as this node sees them',
    flags: JSON_FLAG,
    positionals: [0, 0],
    async run (api, _p, f, io) {
      const list = await api.members()
      if (f.json === true) return printJson(io, list)
      io.out(table(['ID', 'STATE', 'INCARNATION', 'ADDRESSES', 'REVOKED'], list.map((m) => [
        `${m.id}${m.self ? ' (self)' : ''}`, m.restarting ? `${m.state} (restarting)` : m.state, String(m.incarnation), m.addrs.join(',') || '-',
        m.revoked === undefined ? '-' : `${new Date(m.revoked.atMs).toISOString()}${m.revoked.reason === undefined ? '' : ` ${m.revoked.reason}`}`
      ])))
    }
  },
  'member revoke': {
    usage: 'scalelb member revoke NODE-ID [--reason TEXT]',
    summary: 'revoke a member (manager nodes): every node refuses its connections, traffic and entries, and withdraws what it wrote, until unrevoked',
    flags: { reason: { type: 'string' } },
    positionals: [1, 1],
    async run (api, [id], f, io) {
      const r = await api.revokeMember(id as string, typeof f.reason === 'string' ? { reason: f.reason } : {})
      io.out(r.id)
    }
  },
  'member unrevoke': {
    usage: 'scalelb member unrevoke NODE-ID',
    summary: 'withdraw a revocation (manager nodes): the member may join again',
    flags: {},
    positionals: [1, 1],
    async run (api, [id], _f, io) {
      await api.unrevokeMember(id as string)
      io.out(id as string)
    }
  },
  'manager resign': {
    usage: 'scalelb manager resign',
    summary: 'write every network, service and revocation again under this manager\'s key (rotating the manager key: run it on a manager with the new key, then drop the old one)',
    flags: {},
    positionals: [0, 0],
    async run (api, _p, _f, io) {
      const r = await api.resignManagerEntries()
      io.out(`re-signed ${r.networks} networks, ${r.services} services, ${r.revoked} revocations`)
    }
  },
  status: {
    usage: 'scalelb status [--json]',
    summary: 'show this agent\'s status',
    flags: JSON_FLAG,
    positionals: [0, 0],
    async run (api, _p, f, io) {
      const s = await api.status()
      if (f.json === true) return printJson(io, s)
      io.out([
        `node:        ${s.node}`,
        `version:     ${s.version}`,
        `ready:       ${String(s.ready)}`,
        `role:        ${ROLE_TEXT[s.role] ?? String(s.role)}${s.admission === 'required' ? ' (the cluster admits only nodes a manager admitted)' : ''}`,
        `members:     ${Object.entries(s.gossip.members).map(([k, v]) => `${k}=${v}`).join(' ')}`,
        `networks:    ${s.networks}   services: ${s.services}   local tasks: ${s.localTasks}`,
        `kernel:      ${s.reconciler.sandboxes} sandboxes, ${s.reconciler.kernelObjects} objects, ${s.reconciler.transactions} transactions (${s.reconciler.failures} failed)`,
        `listen:      ${s.listen.join(' ')}`,
        ...(s.networkErrors ?? []).map((e) => `error:       network ${e.network}: ${e.error}`)
      ].join('\n'))
    }
  },
  leave: {
    usage: 'scalelb leave',
    summary: 'withdraw this node\'s endpoints, leave the cluster for good, remove kernel state and stop the agent',
    flags: {},
    positionals: [0, 0],
    async run (api, _p, _f, io) {
      await api.leave()
      io.out('leaving')
    }
  }
}

/** Parse a client subcommand's arguments (after the command words). */
export function parseCommandArgs (cmd: Command, args: string[]): { positionals: string[], values: Record<string, string | boolean | string[] | undefined> } {
  let parsed
  try {
    parsed = parseArgs({ args, options: { ...cmd.flags, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  return { positionals: parsed.positionals, values: parsed.values as Record<string, string | boolean | string[] | undefined> }
}

/** The command table entry type, for help output. */
export type { Command }
