import type { GossipStats, TableFlow } from './types.js'

/** Mutable counters behind GossipStats; one per node. */
export class StatsCounter {
  readonly messagesSent: Record<string, number> = {}
  readonly messagesReceived: Record<string, number> = {}
  readonly dropped: Record<string, number> = {}
  bytesSent = 0
  bytesReceived = 0
  requestsFailed = 0

  /** Count one sent message of `type`. */
  sent (type: string, bytes: number): void {
    this.messagesSent[type] = (this.messagesSent[type] ?? 0) + 1
    this.bytesSent += bytes
  }

  /** Count one received message of `type`. */
  received (type: string, bytes: number): void {
    this.messagesReceived[type] = (this.messagesReceived[type] ?? 0) + 1
    this.bytesReceived += bytes
  }

  /** Count one dropped inbound frame. */
  drop (reason: string, bytes: number): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1
    this.bytesReceived += bytes
  }

  /** Snapshot merged with the tables' counters. */
  snapshot (tables: { entries: Record<string, number>, syncs: number, syncsAgreed?: number, dropped?: Record<string, number> } & Partial<TableFlow>): GossipStats {
    return {
      messagesSent: { ...this.messagesSent },
      messagesReceived: { ...this.messagesReceived },
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      dropped: { ...this.dropped, ...tables.dropped },
      syncs: tables.syncs,
      syncsAgreed: tables.syncsAgreed ?? 0,
      entries: { ...tables.entries },
      flow: {
        written: tables.written ?? 0,
        writtenBytes: tables.writtenBytes ?? 0,
        learnedPush: tables.learnedPush ?? 0,
        learnedSync: tables.learnedSync ?? 0,
        broadcastsSent: tables.broadcastsSent ?? 0,
        broadcastsQueued: tables.broadcastsQueued ?? 0,
        broadcastsPruned: tables.broadcastsPruned ?? 0
      }
    }
  }
}
