// net: the state one stack instance shares across its layers — Linux's
// `struct net`. The runtime (time, randomness, deferral), the buffer pool,
// the receive softirq, the SNMP counters and the drop accounting.

import { SnmpCounters, TcpCounters } from './counters.js';
import { BufferPool, type PacketBuffer } from './packetBuffer.js';
import type { Runtime } from './runtime.js';
import { Softnet, type SoftnetOptions } from './softnet.js';

/**
 * Why a packet was dropped, after Linux's enum skb_drop_reason (the names
 * `perf trace -e skb:kfree_skb` and dropwatch print, in lower case).
 */
export type DropReason =
  | 'otherhost'
  | 'mac-multicast'
  | 'unhandled-protocol'
  | 'pkt-too-small'
  | 'pkt-too-big'
  | 'ip-csum'
  | 'ip-inhdr'
  | 'ip-truncated'
  | 'ip-invalid-source'
  | 'ip-invalid-dest'
  | 'ip-not-for-us'
  | 'ip-noproto'
  | 'ip-frag-overlap'
  | 'ip-frag-too-far'
  | 'ip-frag-too-small'
  | 'ip-source-route'
  | 'backlog-drop'
  | 'ip-frag-timeout'
  | 'ip-frag-memory'
  | 'ip-frag-dup'
  | 'ip-outnoroutes'
  | 'ip-frag-needed'
  | 'icmp-csum'
  | 'icmp-inhdr'
  | 'icmp-broadcast-echo'
  | 'icmp-too-small'
  | 'udp-csum'
  | 'udp-noport'
  | 'udp-rcvbuf'
  | 'arp-invalid'
  | 'arp-not-for-us'
  | 'neigh-failed'
  | 'neigh-queuefull'
  | 'neigh-tablefull'
  | 'qdisc-drop'
  | 'netfilter-drop'
  | 'tcp-csum'
  | 'tcp-inhdr'
  | 'tcp-noport'
  | 'tcp-listen-overflow'
  | 'tcp-req-full'
  | 'tcp-bad-cookie'
  | 'tcp-old-data'
  | 'tcp-invalid-seq'
  | 'tcp-invalid-ack'
  | 'tcp-paws'
  | 'tcp-rst'
  | 'tcp-ofo-drop'
  | 'tcp-flags'
  | 'tcp-closed'
  // Named after Linux's SKB_DROP_REASON_TCP_*: INVALID_SYN, ACK_UNSENT_DATA,
  // TOO_OLD_ACK, ZEROWINDOW, ABORT_ON_DATA.
  | 'tcp-invalid-syn'
  | 'tcp-ack-unsent-data'
  | 'tcp-too-old-ack'
  | 'tcp-zero-window'
  | 'tcp-abort-on-data'
  | 'dev-down';

/** Something that wants to know of every drop (a pcapng writer annotating its frames). */
export type DropWatcher = (pb: PacketBuffer, reason: DropReason) => void;

export class Net {
  readonly snmp = new SnmpCounters();
  readonly tcp = new TcpCounters();
  /** Drops by reason: the whole of `dropwatch` in one map. */
  readonly drops = new Map<DropReason, number>();
  readonly pool: BufferPool;
  readonly softnet: Softnet;
  private dropWatchers: DropWatcher[] = [];

  constructor(
    readonly rt: Runtime,
    opts: { softnet?: SoftnetOptions; pool?: BufferPool } = {},
  ) {
    this.pool = opts.pool ?? new BufferPool();
    this.softnet = new Softnet(rt, opts.softnet);
    this.softnet.onBacklogDrop = (pb) => this.drop(pb, 'backlog-drop');
  }

  /** kfree_skb_reason: counts the drop under its reason and frees the buffer. */
  drop(pb: PacketBuffer, reason: DropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    for (const w of this.dropWatchers) w(pb, reason);
    pb.free();
  }

  watchDrops(w: DropWatcher): () => void {
    this.dropWatchers.push(w);
    return () => {
      this.dropWatchers = this.dropWatchers.filter((x) => x !== w);
    };
  }

  now(): number {
    return this.rt.clock.now();
  }
}
