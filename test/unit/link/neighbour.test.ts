// The neighbour table on its own: a fake resolver records solicitations and
// output, so each NUD rule and limit is checked without a link.
import { describe, expect, it } from 'vitest';
import { Net } from '../../../src/core/net.js';
import { POOL_BUFFER_SIZE, SKB_OVERHEAD, type PacketBuffer } from '../../../src/core/packetBuffer.js';
import { VirtualRuntime } from '../../../src/core/runtime.js';
import { DEFAULT_NEIGH_PARAMS, NeighbourTable, type NeighParams } from '../../../src/link/neighbour.js';
import { NetDevice } from '../../../src/nic/device.js';

const MAC = 0x02_00_00_00_00_42;

function table(params: Partial<NeighParams> = {}) {
  const rt = new VirtualRuntime();
  const net = new Net(rt);
  const dev = new NetDevice('eth0', 2, 1500, 0x02_00_00_00_00_01);
  const t = new NeighbourTable(net, { ...DEFAULT_NEIGH_PARAMS, ...params });
  const solicits: Array<{ ip: number; unicast: boolean }> = [];
  const sent: Array<{ tag: number; mac: number }> = [];
  t.ops = {
    solicit: (n, unicast) => solicits.push({ ip: n.ip, unicast }),
    output: (pb, _dev, mac) => {
      sent.push({ tag: pb.buf[pb.head]!, mac });
      pb.free();
    },
  };
  /** A packet of `len` bytes whose first byte is `tag`. */
  const packet = (tag: number, len = 100): PacketBuffer => {
    const pb = net.pool.alloc(len);
    pb.buf[pb.put(len)] = tag;
    return pb;
  };
  const state = (ip: number) => t.show().find((n) => n.ip === `10.0.0.${ip & 0xff}`)?.state;
  return { rt, net, dev, t, solicits, sent, packet, state };
}

const ip = (n: number) => 0x0a000000 + n;

describe('NeighbourTable queue of unresolved packets', () => {
  it('holds packets while INCOMPLETE and sends them in order once resolved', () => {
    const { net, dev, t, sent, packet, state } = table();
    for (let i = 1; i <= 3; i++) t.output(packet(i), dev, ip(5));
    expect(state(ip(5))).toBe('INCOMPLETE');
    expect(sent).toEqual([]);
    t.update(ip(5), dev, MAC, true, false);
    expect(state(ip(5))).toBe('REACHABLE');
    expect(sent).toEqual([1, 2, 3].map((tag) => ({ tag, mac: MAC })));
    expect(net.pool.stats.inUse).toBe(0);
  });

  it('is bounded by unres_qlen_bytes of truesize: the oldest packets are dropped and counted', () => {
    // Room for three pooled buffers (2048 + 256 bytes each), whatever their 100 bytes of data.
    const { net, dev, t, sent, packet } = table({ unresQlenBytes: 3 * (POOL_BUFFER_SIZE + SKB_OVERHEAD) });
    for (let i = 1; i <= 6; i++) t.output(packet(i, 100), dev, ip(5));
    expect(t.lookup(ip(5), dev)!.queue.map((pb) => pb.buf[pb.head])).toEqual([4, 5, 6]);
    expect(net.snmp.ArpUnresolvedDiscards).toBe(3);
    expect(net.drops.get('neigh-queuefull')).toBe(3);
    t.update(ip(5), dev, MAC, true, false);
    expect(sent.map((s) => s.tag)).toEqual([4, 5, 6]);
    expect(net.pool.stats.inUse).toBe(0);
  });

  it('keeps one packet even when it alone is over the limit', () => {
    const { dev, t, packet } = table({ unresQlenBytes: 50 });
    t.output(packet(1, 100), dev, ip(5));
    t.output(packet(2, 100), dev, ip(5));
    expect(t.lookup(ip(5), dev)!.queue.map((pb) => pb.buf[pb.head])).toEqual([2]);
  });
});

describe('NeighbourTable size limit (gc_thresh3)', () => {
  it('when full of entries in use, a new neighbour is refused: ArpTableFulls, packet dropped', () => {
    const { net, dev, t, packet } = table({ gcThresh3: 4 });
    for (let i = 1; i <= 4; i++) t.output(packet(i), dev, ip(i)); // 4 INCOMPLETE entries
    t.output(packet(9), dev, ip(9));
    expect(t.size).toBe(4);
    expect(t.lookup(ip(9), dev)).toBeUndefined();
    expect(net.snmp.ArpTableFulls).toBe(1);
    expect(net.drops.get('neigh-tablefull')).toBe(1);
  });

  it('a learned neighbour that does not fit is not learned, and counted', () => {
    const { net, dev, t, packet } = table({ gcThresh3: 2 });
    t.output(packet(1), dev, ip(1));
    t.output(packet(2), dev, ip(2));
    t.update(ip(3), dev, MAC, false, true);
    expect(t.lookup(ip(3), dev)).toBeUndefined();
    expect(net.snmp.ArpTableFulls).toBe(1);
  });

  it('forced gc makes room by evicting STALE and FAILED entries, least recently used first', () => {
    const { rt, net, dev, t, packet } = table({ gcThresh3: 3 });
    t.update(ip(1), dev, MAC, false, true); // STALE, used now
    rt.advance(10);
    t.update(ip(2), dev, MAC, false, true); // STALE, used later
    t.output(packet(3), dev, ip(3)); // INCOMPLETE: in use, never evicted
    t.output(packet(4), dev, ip(4));
    expect(t.lookup(ip(1), dev)).toBeUndefined();
    expect(t.lookup(ip(2), dev)).toBeDefined();
    expect(t.lookup(ip(4), dev)).toBeDefined();
    expect(net.snmp.ArpTableFulls).toBe(0);
  });

  it('permanent entries are never evicted and never change', () => {
    const { dev, t, sent, packet, state } = table({ gcThresh3: 1 });
    t.addPermanent(ip(1), dev, MAC);
    t.update(ip(1), dev, MAC + 1, true, false);
    t.output(packet(7), dev, ip(1));
    expect(sent).toEqual([{ tag: 7, mac: MAC }]);
    t.output(packet(8), dev, ip(2));
    expect(state(ip(1))).toBe('PERMANENT');
    expect(t.lookup(ip(2), dev)).toBeUndefined();
  });
});

describe('NeighbourTable NUD timers', () => {
  it('INCOMPLETE: mcast_solicit broadcast requests retrans_time apart, then FAILED', () => {
    const { rt, net, dev, t, solicits, packet, state } = table({ mcastSolicit: 3, retransMs: 1000 });
    t.output(packet(1), dev, ip(5));
    rt.advance(2999);
    expect(solicits).toEqual([1, 2, 3].map(() => ({ ip: ip(5), unicast: false })));
    expect(state(ip(5))).toBe('INCOMPLETE');
    rt.advance(1);
    expect(state(ip(5))).toBe('FAILED');
    expect(net.drops.get('neigh-failed')).toBe(1);
    expect(net.pool.stats.inUse).toBe(0);
  });

  it('a non-solicited update changes the MAC of a REACHABLE entry and makes it STALE; the same MAC changes nothing', () => {
    const { dev, t, state } = table();
    t.update(ip(5), dev, MAC, false, true);
    expect(state(ip(5))).toBe('STALE');
    t.update(ip(5), dev, MAC, true, false);
    expect(state(ip(5))).toBe('REACHABLE');
    t.update(ip(5), dev, MAC, false, false);
    expect(state(ip(5))).toBe('REACHABLE');
    t.update(ip(5), dev, MAC + 1, false, false);
    expect(state(ip(5))).toBe('STALE');
    expect(t.lookup(ip(5), dev)!.mac).toBe(MAC + 1);
  });

  it('clear drops every entry, its queue and its timers', () => {
    const { rt, net, dev, t, packet } = table();
    t.output(packet(1), dev, ip(5));
    t.update(ip(6), dev, MAC, true, true);
    t.clear();
    expect(t.size).toBe(0);
    expect(rt.timers.size).toBe(0);
    expect(net.pool.stats.inUse).toBe(0);
  });
});
