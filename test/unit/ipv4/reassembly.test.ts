// ip_defrag on its own: fragments built with the wire codec, fed in any order.
import { describe, expect, it } from 'vitest';
import { Net } from '../../../src/core/net.js';
import { POOL_BUFFER_SIZE, type PacketBuffer } from '../../../src/core/packetBuffer.js';
import { VirtualRuntime } from '../../../src/core/runtime.js';
import { IpReassembly, type ReassemblyParams } from '../../../src/ipv4/reassembly.js';
import { Ipv4Packet } from '../../../src/wire/ipv4.js';
import { fragments, ipPacket, type IpOptions } from '../../helpers/frames.js';

const HDR: IpOptions = { src: 0x0a000001, dst: 0x0a000002, protocol: 17, ident: 77 };

function setup(params: Partial<ReassemblyParams> = {}) {
  const rt = new VirtualRuntime();
  const net = new Net(rt);
  const r = new IpReassembly(net, { timeoutMs: 30_000, highThresh: 4 << 20, lowThresh: 3 << 20, ...params });
  const timeouts: number[] = [];
  r.onTimeout = (first) => timeouts.push(new Ipv4Packet().wrap(first.buf, first.head, first.len).fragOffset);
  /** A received fragment as ipRcv hands it over: head at the IP header, addresses set. */
  const pb = (bytes: Uint8Array): PacketBuffer => {
    const b = net.pool.alloc(bytes.length, 64);
    b.buf.set(bytes, b.put(bytes.length));
    b.networkHeader = b.head;
    b.saddr = HDR.src;
    b.daddr = HDR.dst;
    return b;
  };
  const feed = (frags: Uint8Array[]): PacketBuffer | null => {
    let whole: PacketBuffer | null = null;
    for (const f of frags) {
      const out = r.defrag(pb(f));
      if (out) {
        expect(whole).toBeNull();
        whole = out;
      }
    }
    return whole;
  };
  return { rt, net, r, feed, timeouts };
}

function payload(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

/** Checks `whole` is the original datagram: header fixed up, data in place. */
function expectWhole(whole: PacketBuffer | null, data: Uint8Array, o: IpOptions = HDR): void {
  expect(whole).not.toBeNull();
  const v = new Ipv4Packet().wrap(whole!.buf, whole!.head, whole!.len);
  expect(v.check()).toBeNull();
  expect([v.totalLength, v.moreFrags, v.fragOffset, v.ident, v.src, v.dst]).toEqual([20 + data.length, false, 0, o.ident, o.src, o.dst]);
  expect(whole!.buf.subarray(whole!.head + 20, whole!.head + whole!.len)).toEqual(data);
  whole!.free();
}

describe('IpReassembly', () => {
  it('joins fragments that arrive in any order', () => {
    const data = payload(5000);
    for (const order of [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]]) {
      const { net, r, feed } = setup();
      const frags = fragments(HDR, data, 1480);
      expectWhole(feed(order.map((i) => frags[i]!)), data);
      expect(net.snmp.IpReasmOKs).toBe(1);
      expect(net.snmp.IpReasmReqds).toBe(4);
      expect(r.mem).toBe(0);
      expect(r.queueCount).toBe(0);
      expect(net.pool.stats.inUse).toBe(0);
    }
  });

  it('keeps datagrams apart by source, destination, identification and protocol', () => {
    const { r, feed } = setup();
    const d1 = payload(3000, 1);
    const d2 = payload(3000, 2);
    const f1 = fragments(HDR, d1, 1000);
    const f2 = fragments({ ...HDR, ident: 78 }, d2, 1000);
    expect(feed([f1[0]!, f2[2]!, f1[1]!, f2[0]!])).toBeNull();
    expect(r.queueCount).toBe(2);
    expectWhole(feed([f2[1]!]), d2, { ...HDR, ident: 78 });
    expectWhole(feed([f1[2]!]), d1);
  });

  it('tolerates exact duplicates: dropped alone, the datagram completes', () => {
    const { net, feed } = setup();
    const data = payload(4000);
    const frags = fragments(HDR, data, 1480);
    expectWhole(feed([frags[0]!, frags[0]!, frags[2]!, frags[1]!]), data);
    expect(net.drops.get('ip-frag-dup')).toBe(1);
    expect(net.snmp.IpReasmFails).toBe(0);
    expect(net.pool.stats.inUse).toBe(0);
  });

  const f = fragments(HDR, payload(4000), 1480); // 0-1480, 1480-2960, 2960-4000 (last)
  it.each([
    ['a partial overlap', [f[0]!], ipPacket({ ...HDR, fragOffset: 1000, moreFrags: true }, payload(480))],
    ['same offset, different length', [f[0]!, f[1]!], ipPacket({ ...HDR, fragOffset: 1480, moreFrags: true }, payload(800))],
    ['a second last fragment that ends elsewhere', [f[0]!, f[2]!], ipPacket({ ...HDR, fragOffset: 2960 }, payload(64))],
    ['data beyond the last fragment', [f[0]!, f[2]!], ipPacket({ ...HDR, fragOffset: 4000, moreFrags: true }, payload(8))],
    ['a last fragment ending before data already held', [f[0]!, f[1]!], ipPacket({ ...HDR, fragOffset: 1480 - 8 }, payload(8))],
  ])('%s kills the whole datagram (IpReasmFails) and frees every fragment', (_name, held, offender) => {
    const { net, r, feed } = setup();
    expect(feed(held)).toBeNull();
    expect(feed([offender])).toBeNull();
    expect(net.snmp.IpReasmFails).toBe(1);
    expect(net.drops.get('ip-frag-overlap')).toBe(held.length + 1);
    expect(r.queueCount).toBe(0);
    expect(r.mem).toBe(0);
    expect(net.pool.stats.inUse).toBe(0);
    // The missing fragments, arriving later, start a new datagram that never completes.
    expect(feed([f[1]!])).toBeNull();
  });

  it('rejects a fragment that would make the datagram larger than 65535 bytes (ping of death)', () => {
    const { net, r, feed } = setup();
    expect(feed([ipPacket({ ...HDR, fragOffset: 0, moreFrags: true }, payload(1480))])).toBeNull();
    expect(feed([ipPacket({ ...HDR, fragOffset: 65520 }, payload(100))])).toBeNull();
    expect(net.snmp.IpReasmFails).toBe(1);
    expect(net.drops.get('ip-frag-too-far')).toBe(2);
    expect(r.queueCount).toBe(0);
    expect(net.pool.stats.inUse).toBe(0);
  });

  it('accepts the largest legal datagram, 65535 bytes', () => {
    const { feed } = setup();
    const data = payload(65535 - 20);
    expectWhole(feed(fragments(HDR, data, 1480).reverse()), data);
  });

  it('times out after 30 s: IpReasmTimeout, memory freed, the first fragment handed up for ICMP', () => {
    const { rt, net, r, feed, timeouts } = setup();
    const frags = fragments(HDR, payload(4000), 1480);
    feed([frags[0]!, frags[2]!]);
    expect(r.mem).toBe(2 * POOL_BUFFER_SIZE);
    expect(net.pool.stats.inUse).toBe(2);
    rt.advance(29_999);
    expect(r.queueCount).toBe(1);
    rt.advance(1);
    expect(net.snmp.IpReasmTimeout).toBe(1);
    expect(net.snmp.IpReasmFails).toBe(1);
    expect(net.drops.get('ip-frag-timeout')).toBe(2);
    expect(timeouts).toEqual([0]);
    expect([r.mem, r.queueCount, net.pool.stats.inUse]).toEqual([0, 0, 0]);
  });

  it('a timed-out datagram whose first fragment never came is not reported', () => {
    const { rt, net, feed, timeouts } = setup();
    const frags = fragments(HDR, payload(4000), 1480);
    feed([frags[1]!, frags[2]!]);
    rt.advance(30_000);
    expect(net.snmp.IpReasmTimeout).toBe(1);
    expect(timeouts).toEqual([]);
    expect(net.pool.stats.inUse).toBe(0);
  });

  it('over the memory cap, the oldest datagrams are evicted down to the low threshold', () => {
    // Room for 4 fragment buffers; eviction goes down to 2.
    const { net, r, feed } = setup({ highThresh: 4 * POOL_BUFFER_SIZE, lowThresh: 2 * POOL_BUFFER_SIZE });
    const dgram = (ident: number) => fragments({ ...HDR, ident }, payload(3000), 1480);
    for (let ident = 1; ident <= 4; ident++) feed([dgram(ident)[0]!]);
    expect(r.queueCount).toBe(4);
    feed([dgram(5)[0]!]);
    expect(r.queueCount).toBe(3); // 1 and 2 evicted, 5 added
    expect(net.snmp.IpReasmFails).toBe(2);
    expect(net.drops.get('ip-frag-memory')).toBe(2);
    expect(r.mem).toBe(3 * POOL_BUFFER_SIZE);
    // The oldest survivor still completes: eviction spares the datagram a fragment is for.
    expectWhole(feed(dgram(3).slice(1)), payload(3000), { ...HDR, ident: 3 });
    expect(net.snmp.IpReasmFails).toBe(4); // 4 and 5 made room for it
    expect([r.mem, r.queueCount, net.pool.stats.inUse]).toEqual([0, 0, 0]);
  });
});
