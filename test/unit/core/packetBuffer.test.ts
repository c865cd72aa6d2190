import { describe, expect, it } from 'vitest';
import { BufferPool, MAX_HEADER, PktType, POOL_BUFFER_SIZE } from '../../../src/core/packetBuffer.js';

describe('PacketBuffer', () => {
  it('prepends headers into headroom and strips them again without copying the payload', () => {
    const pool = new BufferPool();
    const pb = pool.alloc(100);
    expect(pb.head).toBe(MAX_HEADER);
    const at = pb.put(4);
    pb.buf.set([1, 2, 3, 4], at);
    const ipAt = pb.push(20);
    expect(ipAt).toBe(MAX_HEADER - 20);
    const ethAt = pb.push(14);
    expect(pb.len).toBe(38);
    expect(pb.data().length).toBe(38);
    expect(pb.data().buffer).toBe(pb.buf.buffer); // a view, not a copy
    pb.pull(14);
    expect(pb.head).toBe(ipAt);
    pb.pull(20);
    expect([...pb.data()]).toEqual([1, 2, 3, 4]);
    expect(ethAt).toBe(MAX_HEADER - 34);
    pb.free();
  });

  it('refuses to push past the headroom, pull past the data or put past the tailroom', () => {
    const pool = new BufferPool();
    const pb = pool.alloc(10, 16);
    expect(() => pb.push(17)).toThrow(RangeError);
    pb.put(10);
    expect(() => pb.pull(11)).toThrow(RangeError);
    expect(() => pb.put(pb.tailroom + 1)).toThrow(RangeError);
    expect(pb.tailroom).toBe(POOL_BUFFER_SIZE - 16 - 10);
    pb.trim(4);
    expect(pb.len).toBe(4);
    pb.trim(100); // trim never grows
    expect(pb.len).toBe(4);
    pb.free();
  });
});

describe('BufferPool', () => {
  it('reuses freed buffers and counts those in use', () => {
    const pool = new BufferPool();
    const a = pool.alloc(100);
    const b = pool.alloc(100);
    expect(pool.stats.inUse).toBe(2);
    a.free();
    b.free();
    expect(pool.stats.inUse).toBe(0);
    const c = pool.alloc(100);
    const d = pool.alloc(100);
    expect(new Set([c, d])).toEqual(new Set([a, b]));
    expect(pool.stats.created).toBe(2);
    expect(pool.stats.allocs).toBe(4);
    c.free();
    d.free();
  });

  it('hands back a reset buffer: no field of the previous packet survives', () => {
    const pool = new BufferPool();
    const a = pool.alloc(10);
    a.put(10);
    a.macHeader = 1;
    a.networkHeader = 2;
    a.transportHeader = 3;
    a.ifindex = 7;
    a.pktType = PktType.Broadcast;
    a.protocol = 0x0800;
    a.saddr = a.daddr = a.nexthop = 99;
    a.free();
    const b = pool.alloc(10, 32);
    expect(b).toBe(a);
    expect([b.head, b.len, b.macHeader, b.networkHeader, b.transportHeader, b.ifindex, b.pktType, b.protocol, b.saddr, b.daddr, b.nexthop]).toEqual([
      32, 0, -1, -1, -1, 0, PktType.Host, 0, 0, 0, 0,
    ]);
    b.free();
  });

  it('throws on a double free instead of handing one buffer to two owners', () => {
    const pool = new BufferPool();
    const a = pool.alloc(10);
    a.free();
    expect(() => a.free()).toThrow(/freed twice/);
    expect(pool.stats.inUse).toBe(0);
  });

  it('gives larger requests a one-off buffer that is not pooled', () => {
    const pool = new BufferPool();
    const big = pool.alloc(65_000);
    expect(big.tailroom).toBeGreaterThanOrEqual(65_000);
    expect(pool.stats.oversize).toBe(1);
    expect(pool.stats.inUse).toBe(0);
    big.free();
    expect(pool.stats.inUse).toBe(0);
    expect(pool.alloc(10)).not.toBe(big);
  });

  it('keeps at most maxFree idle buffers', () => {
    const pool = new BufferPool(POOL_BUFFER_SIZE, 2);
    const bufs = [pool.alloc(1), pool.alloc(1), pool.alloc(1), pool.alloc(1)];
    for (const b of bufs) b.free();
    for (let i = 0; i < 4; i++) pool.alloc(1);
    expect(pool.stats.created).toBe(6); // 4, then 2 reused and 2 new
  });
});
