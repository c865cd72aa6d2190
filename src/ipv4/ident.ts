// ident: the IPv4 Identification field of the datagrams we send.
//
// One counter for every datagram would let anyone who receives two of them
// count what we sent to everyone else in between (the "idle scan"), and guess
// the next ID to spoof a fragment (RFC 7739 §5). Like Linux's ip_idents
// (__ip_select_ident), a datagram draws from one of 2048 counters chosen by a
// keyed hash of (destination, source, protocol): flows to one host see a
// steadily rising ID (what reassembly needs, RFC 6864 §4.1), and only flows
// that share the bucket see each other's.

import type { Random } from '../core/runtime.js';

const BUCKETS = 2048;

export class IpIdents {
  private readonly idents = new Uint16Array(BUCKETS);
  private readonly key: number;

  constructor(random: Random) {
    this.key = random.u32();
    for (let i = 0; i < BUCKETS; i++) this.idents[i] = random.u32() & 0xffff;
  }

  /** The next Identification for a datagram from `saddr` to `daddr` of `protocol`. */
  next(daddr: number, saddr: number, protocol: number): number {
    const b = mix(daddr ^ this.key, saddr, protocol) & (BUCKETS - 1);
    const id = this.idents[b]!;
    this.idents[b] = id + 1;
    return id;
  }
}

/** A small keyed mixer (murmur3's finaliser over the three words): spreads nearby addresses over the buckets. */
function mix(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca77), 0xcc9e2d51);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
