// reassembly: ip_defrag — puts fragmented datagrams back together (RFC 791
// §3.2, RFC 815). Fragments are kept per (source, destination,
// identification, protocol) in offset order until the holes are filled.
//
// Hostile input is bounded in every direction:
//   - a datagram that would exceed 65535 bytes is dropped (the "ping of death");
//   - a fragment that overlaps another one, other than an exact duplicate,
//     kills the whole datagram (Linux since 4.19, as RFC 5722 asks of IPv6):
//     overlaps are how IDS-evasion and teardrop attacks work;
//   - an exact duplicate is dropped alone — a duplicating link is not an attack;
//   - the memory held by all queues is capped (ipfrag_high_thresh): beyond it
//     the oldest datagrams are evicted down to ipfrag_low_thresh;
//   - a datagram not complete within ipfrag_time (30 s) is dropped, and if its
//     first fragment arrived the sender gets ICMP time exceeded, code 1
//     (RFC 792; RFC 1122 §3.3.2).

import type { Net } from '../core/net.js';
import { MAX_HEADER, type PacketBuffer } from '../core/packetBuffer.js';
import { Timer } from '../core/timers.js';
import { Ipv4Packet } from '../wire/ipv4.js';

export interface ReassemblyParams {
  timeoutMs: number; // net.ipv4.ipfrag_time
  highThresh: number; // net.ipv4.ipfrag_high_thresh (bytes)
  lowThresh: number; // net.ipv4.ipfrag_low_thresh
}

export const DEFAULT_REASSEMBLY_PARAMS: ReassemblyParams = {
  timeoutMs: 30_000,
  highThresh: 4 * 1024 * 1024,
  lowThresh: 3 * 1024 * 1024,
};

const IP_MAXPACKET = 65535;

interface Fragment {
  start: number; // payload offset, bytes
  end: number;
  pb: PacketBuffer; // pb.head at the fragment's IP header
}

class FragQueue {
  frags: Fragment[] = [];
  received = 0;
  /** Payload length, known once the last fragment (MF clear) arrives; -1 before. */
  total = -1;
  mem = 0;
  readonly timer: Timer;
  constructor(
    readonly key: string,
    readonly created: number,
    onExpire: (q: FragQueue) => void,
  ) {
    this.timer = new Timer(() => onExpire(this));
  }
}

export class IpReassembly {
  private queues = new Map<string, FragQueue>();
  /** Bytes held by all queues (buffer sizes, like skb truesize). */
  mem = 0;
  private readonly view = new Ipv4Packet();
  /** Called on expiry with the first fragment, to send ICMP time exceeded. */
  onTimeout: ((first: PacketBuffer) => void) | null = null;

  constructor(
    private readonly net: Net,
    readonly params: ReassemblyParams = { ...DEFAULT_REASSEMBLY_PARAMS },
  ) {}

  get queueCount(): number {
    return this.queues.size;
  }

  /**
   * Takes a fragment (pb.head at its IP header, checked, trimmed to its total
   * length). Returns the whole datagram when this fragment completes it, else
   * null (the fragment is kept or dropped).
   */
  defrag(pb: PacketBuffer): PacketBuffer | null {
    const snmp = this.net.snmp;
    snmp.IpReasmReqds++;
    const ip = this.view.wrap(pb.buf, pb.head, pb.len);
    const hlen = ip.headerLen;
    const start = ip.fragOffset;
    let end = start + ip.totalLength - hlen;
    const last = !ip.moreFrags;
    const key = `${ip.src}:${ip.dst}:${ip.ident}:${ip.protocol}`;

    let q = this.queues.get(key);
    // Never evict the datagram this fragment belongs to: it may be the one
    // that completes it and gives its memory back.
    if (this.mem + pb.buf.length > this.params.highThresh) this.evict(q);

    if (!q) {
      if (this.mem + pb.buf.length > this.params.highThresh) {
        snmp.IpReasmFails++;
        this.net.drop(pb, 'ip-frag-memory');
        return null;
      }
      q = new FragQueue(key, this.net.now(), (x) => this.expire(x));
      this.queues.set(key, q);
      this.net.rt.timers.arm(q.timer, this.net.now() + this.params.timeoutMs);
    }

    if (hlen + end > IP_MAXPACKET) return this.kill(q, pb, 'ip-frag-too-far');
    if (!last) {
      // Every fragment but the last carries a multiple of 8 bytes (RFC 791); Linux trims.
      end &= ~7;
      if (end <= start) return this.kill(q, pb, 'ip-frag-too-small');
      if (q.total >= 0 && end > q.total) return this.kill(q, pb, 'ip-frag-overlap');
    } else {
      // A second "last" fragment must agree, and nothing may lie beyond the end.
      if (q.total >= 0 && q.total !== end) return this.kill(q, pb, 'ip-frag-overlap');
      if (q.frags.length > 0 && q.frags[q.frags.length - 1]!.end > end) return this.kill(q, pb, 'ip-frag-overlap');
      q.total = end;
    }

    // Insert in offset order; an exact duplicate is dropped, any other overlap kills the datagram.
    let i = q.frags.length;
    while (i > 0 && q.frags[i - 1]!.start >= start) i--;
    const next = q.frags[i];
    const prev = q.frags[i - 1];
    if (next && next.start === start && next.end === end) {
      this.net.drop(pb, 'ip-frag-dup');
      return null;
    }
    if ((prev && prev.end > start) || (next && next.start < end)) return this.kill(q, pb, 'ip-frag-overlap');
    q.frags.splice(i, 0, { start, end, pb });
    q.received += end - start;
    q.mem += pb.buf.length;
    this.mem += pb.buf.length;

    if (q.total < 0 || q.received !== q.total) return null;
    return this.assemble(q);
  }

  /** All holes are filled (no overlaps and the lengths add up to the total): join them. */
  private assemble(q: FragQueue): PacketBuffer {
    const first = q.frags[0]!.pb;
    const fv = this.view.wrap(first.buf, first.head, first.len);
    const hlen = fv.headerLen;
    const whole = this.net.pool.alloc(hlen + q.total, MAX_HEADER);
    const at = whole.put(hlen + q.total);
    whole.buf.set(first.buf.subarray(first.head, first.head + hlen), at);
    for (const f of q.frags) {
      const fh = this.view.wrap(f.pb.buf, f.pb.head, f.pb.len).headerLen;
      whole.buf.set(f.pb.buf.subarray(f.pb.head + fh, f.pb.head + fh + (f.end - f.start)), at + hlen + f.start);
    }
    const ip = this.view.wrap(whole.buf, at, hlen + q.total);
    ip.totalLength = hlen + q.total;
    ip.moreFrags = false;
    ip.fragOffset = 0;
    ip.fillChecksum();
    whole.networkHeader = at;
    whole.ifindex = first.ifindex;
    whole.pktType = first.pktType;
    whole.saddr = first.saddr;
    whole.daddr = first.daddr;
    whole.protocol = first.protocol;
    this.destroy(q);
    this.net.snmp.IpReasmOKs++;
    return whole;
  }

  private kill(q: FragQueue, pb: PacketBuffer, reason: 'ip-frag-overlap' | 'ip-frag-too-far' | 'ip-frag-too-small'): null {
    this.net.snmp.IpReasmFails++;
    this.net.drop(pb, reason);
    for (const f of q.frags) this.net.drop(f.pb, reason);
    q.frags = [];
    this.destroy(q);
    return null;
  }

  private destroy(q: FragQueue): void {
    for (const f of q.frags) f.pb.free();
    this.mem -= q.mem;
    q.frags = [];
    q.mem = 0;
    this.net.rt.timers.cancel(q.timer);
    this.queues.delete(q.key);
  }

  private expire(q: FragQueue): void {
    const snmp = this.net.snmp;
    snmp.IpReasmTimeout++;
    snmp.IpReasmFails++;
    const head = q.frags[0];
    if (head && head.start === 0 && this.onTimeout) this.onTimeout(head.pb);
    for (const f of q.frags) this.net.drop(f.pb, 'ip-frag-timeout');
    q.frags = [];
    this.destroy(q);
  }

  /** inet_frag_evictor: drops the oldest datagrams until memory is under the low threshold. */
  private evict(keep: FragQueue | undefined): void {
    for (const q of this.queues.values()) {
      if (this.mem <= this.params.lowThresh) break;
      if (q === keep) continue;
      this.net.snmp.IpReasmFails++;
      for (const f of q.frags) this.net.drop(f.pb, 'ip-frag-memory');
      q.frags = [];
      this.destroy(q);
    }
  }

  clear(): void {
    for (const q of [...this.queues.values()]) this.destroy(q);
  }
}
