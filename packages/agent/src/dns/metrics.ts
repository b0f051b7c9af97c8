import { Counter, Histogram, type Registry } from 'prom-client'

/** Query types counted by name; the rest count as `other` (label values stay few). */
const COUNTED_TYPES = new Set(['A', 'AAAA', 'PTR', 'SRV', 'ANY', 'TXT', 'MX', 'CNAME', 'SOA', 'NS', 'HTTPS', 'none'])

/** Buckets of the answer latency (s): the resolver answers its own names in well under a millisecond. */
const ANSWER_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1, 2.5, 5]

/** What a query came to: an own answer's rcode, `forwarded` (answered by an upstream), or `dropped`. */
export type DnsResult = 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' | 'FORMERR' | 'NOTIMP' | 'REFUSED' | 'BADVERS' | 'forwarded' | 'dropped'

/** The resolver's metrics. */
export interface DnsMetrics {
  /** One query done: its type, result, whether it went upstream, and the time from arrival to the answer sent (s). */
  query(qtype: string, result: DnsResult, upstream: boolean, seconds: number): void
}

/** Register the resolver's metrics on `registry` (the agent's own). */
export function createDnsMetrics (registry: Registry): DnsMetrics {
  const queries = new Counter({
    name: 'scalelb_dns_queries_total',
    help: 'DNS queries from tasks by type and result (rcode of own answers, forwarded, dropped)',
    labelNames: ['type', 'result'],
    registers: [registry]
  })
  const latency = new Histogram({
    name: 'scalelb_dns_answer_seconds',
    help: 'Time from a DNS query\'s arrival to its answer, by source (local: own names, forwarded: upstream)',
    labelNames: ['source'],
    buckets: ANSWER_BUCKETS_S,
    registers: [registry]
  })
  // label children bound once: a query costs no label hashing (the resolver answers tens of thousands a second)
  const counters = new Map<string, Counter.Internal>()
  const local = latency.labels('local')
  const forwarded = latency.labels('forwarded')
  return {
    query (qtype, result, upstream, seconds) {
      const type = COUNTED_TYPES.has(qtype) ? qtype : 'other'
      const key = `${type}|${result}`
      let c = counters.get(key)
      if (c === undefined) counters.set(key, c = queries.labels(type, result))
      c.inc()
      if (result !== 'dropped') (upstream ? forwarded : local).observe(seconds)
    }
  }
}
