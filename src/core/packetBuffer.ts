// packetBuffer: the sk_buff of this stack — one packet's bytes plus what each
// layer learned about it on the way. The bytes live in a fixed backing array
// with room reserved in front (headroom), so on the send path each layer
// *prepends* its header by moving `head` back instead of copying the payload,
// and on the receive path each layer strips its header by moving `head`
// forward.
//
//   0          head                    head+len         buf.length
//   +----------+-----------------------+----------------+
//   | headroom | data (len bytes)      |    tailroom    |
//   +----------+-----------------------+----------------+
//              ^ push(n) grows data to the left, pull(n) shrinks it
//
// Buffers come from a BufferPool and go back to it with free(): the receive
// path allocates no memory per frame once the pool is warm.

import type { Ipv4Addr } from '../wire/address.js';

/** Space every transmit buffer keeps in front: Ethernet + IPv4 + TCP with options, rounded. */
export const MAX_HEADER = 128;
/** The backing size of a pooled buffer: headroom plus a 1500-MTU frame, with room to spare. */
export const POOL_BUFFER_SIZE = 2048;

/** What a queued packet costs beyond its buffer: sizeof(struct sk_buff), aligned. */
export const SKB_OVERHEAD = 256;

/**
 * skb->truesize: the memory a queued packet holds — its whole buffer, not
 * just the bytes in use, plus its bookkeeping. Queues bounded in bytes
 * (socket receive buffers, the neighbour queue) count this, as Linux does, so
 * a flood of tiny packets cannot pin more memory than the bound says.
 */
export function truesize(pb: PacketBuffer): number {
  return pb.buf.length + SKB_OVERHEAD;
}

/** Where a frame was headed on the link (Linux PACKET_HOST, PACKET_BROADCAST, ...). */
export const enum PktType {
  Host = 0,
  Broadcast = 1,
  Multicast = 2,
  OtherHost = 3,
  Outgoing = 4,
}

export class PacketBuffer {
  /** Offset of the first data byte in `buf`. */
  head = 0;
  /** Data length in bytes. */
  len = 0;
  /** Offsets in `buf` of the link, network and transport headers, -1 if unknown. */
  macHeader = -1;
  networkHeader = -1;
  transportHeader = -1;
  /** ifindex of the device the packet came in on or goes out of. */
  ifindex = 0;
  pktType: PktType = PktType.Host;
  /** Ethertype of the payload (ETH_P_IP, ETH_P_ARP). */
  protocol = 0;
  /** IPv4 addresses of the packet, filled by ipRcv / the output path. */
  saddr: Ipv4Addr = 0;
  daddr: Ipv4Addr = 0;
  /** Next hop chosen by routing for output (0: the destination itself). */
  nexthop: Ipv4Addr = 0;
  /** @internal True while the buffer sits in its pool's free list. */
  inPool = false;

  constructor(
    readonly buf: Uint8Array,
    private readonly pool: BufferPool | null,
  ) {}

  /** Prepends n bytes; returns the offset of the new first byte. */
  push(n: number): number {
    if (n > this.head) throw new RangeError(`PacketBuffer.push(${n}): only ${this.head} bytes of headroom`);
    this.head -= n;
    this.len += n;
    return this.head;
  }

  /** Strips n bytes from the front; returns the new head offset. */
  pull(n: number): number {
    if (n > this.len) throw new RangeError(`PacketBuffer.pull(${n}): only ${this.len} bytes`);
    this.head += n;
    this.len -= n;
    return this.head;
  }

  /** Appends n bytes at the tail; returns the offset of the first new byte. */
  put(n: number): number {
    const at = this.head + this.len;
    if (at + n > this.buf.length) throw new RangeError(`PacketBuffer.put(${n}): only ${this.buf.length - at} bytes of tailroom`);
    this.len += n;
    return at;
  }

  /** Cuts the data to `len` bytes (drops link-layer padding after an IP packet). */
  trim(len: number): void {
    if (len < this.len) this.len = len;
  }

  get tailroom(): number {
    return this.buf.length - this.head - this.len;
  }

  /** The data as a view (no copy). */
  data(): Uint8Array {
    return this.buf.subarray(this.head, this.head + this.len);
  }

  /** Returns the buffer to its pool (kfree_skb); the caller must not touch it again. */
  free(): void {
    if (this.pool) this.pool.release(this);
  }

  /** @internal Reset by the pool before reuse. */
  reset(headroom: number): void {
    this.head = headroom;
    this.len = 0;
    this.macHeader = this.networkHeader = this.transportHeader = -1;
    this.ifindex = 0;
    this.pktType = PktType.Host;
    this.protocol = 0;
    this.saddr = this.daddr = this.nexthop = 0;
  }
}

/**
 * BufferPool: a free list of same-sized PacketBuffers. Allocation beyond the
 * free list creates a buffer (counted); release beyond `maxFree` lets the
 * garbage collector have it, so an idle stack gives memory back. Requests
 * larger than the pooled size (a reassembled 64 KiB datagram) get a
 * one-off buffer that is not pooled.
 */
export class BufferPool {
  private free: PacketBuffer[] = [];
  readonly stats = { allocs: 0, created: 0, oversize: 0, inUse: 0 };

  constructor(
    readonly bufferSize = POOL_BUFFER_SIZE,
    readonly maxFree = 8192,
  ) {}

  /** A buffer with `headroom` bytes in front and at least `size` bytes after it. */
  alloc(size: number, headroom = MAX_HEADER): PacketBuffer {
    this.stats.allocs++;
    let pb: PacketBuffer;
    if (headroom + size > this.bufferSize) {
      this.stats.oversize++;
      pb = new PacketBuffer(new Uint8Array(headroom + size), null);
      pb.reset(headroom);
      return pb;
    }
    const cached = this.free.pop();
    if (cached) {
      pb = cached;
      pb.inPool = false;
    }
    else {
      this.stats.created++;
      pb = new PacketBuffer(new Uint8Array(this.bufferSize), this);
    }
    this.stats.inUse++;
    pb.reset(headroom);
    return pb;
  }

  /** @internal */
  release(pb: PacketBuffer): void {
    // A double free would hand one buffer to two owners: fail where it happens.
    if (pb.inPool) throw new Error('PacketBuffer freed twice');
    pb.inPool = true;
    this.stats.inUse--;
    if (this.free.length < this.maxFree) this.free.push(pb);
  }
}
