// The neighbour layer's bounds, seen through ping: the per-neighbour queue of
// packets awaiting resolution (unres_qlen_bytes) and the table size (gc_thresh3).
import { describe, expect, it } from 'vitest';
import { POOL_BUFFER_SIZE, SKB_OVERHEAD } from '../../src/core/packetBuffer.js';
import { pingPayload } from '../../src/ipv4/ping.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { B_IP, drops, expectNoLeaks, makePair } from '../helpers/pair.js';

describe('ARP queue and table limits', () => {
  it('packets queued for an unresolved neighbour are bounded in bytes: the oldest are dropped', () => {
    // Each queued echo request (20 + 8 + 1000 bytes) holds a pooled 2 KB buffer: room for three.
    const p = makePair({ neigh: { unresQlenBytes: 3 * (POOL_BUFFER_SIZE + SKB_OVERHEAD) } });
    const sock = p.a.createPingSocket();
    const got: number[] = [];
    sock.onReply((r) => got.push(r.seq));
    for (let seq = 1; seq <= 5; seq++) sock.send(B_IP, seq, pingPayload(1000, seq));
    p.rt.advance(10);
    expect(got).toEqual([3, 4, 5]);
    expect(p.a.net.snmp.ArpUnresolvedDiscards).toBe(2);
    expect(drops(p.a, 'neigh-queuefull')).toBe(2);
    expectNoLeaks(p.a, p.b);
  });

  it('a full table of entries being resolved refuses new neighbours (ArpTableFulls) until they fail and can be evicted', () => {
    const p = makePair({ neigh: { gcThresh3: 2 } });
    const sock = p.a.createPingSocket();
    const got: number[] = [];
    sock.onReply((r) => got.push(r.seq));
    sock.send(parseIpv4('10.0.0.50')!, 1, pingPayload(56, 1));
    sock.send(parseIpv4('10.0.0.51')!, 2, pingPayload(56, 2));
    sock.send(B_IP, 3, pingPayload(56, 3)); // no room for B
    p.rt.advance(10);
    expect(p.a.neigh.size).toBe(2);
    expect(p.a.net.snmp.ArpTableFulls).toBe(1);
    expect(drops(p.a, 'neigh-tablefull')).toBe(1);
    expect(got).toEqual([]);

    p.rt.advance(3000); // both ghosts FAILED: evictable
    sock.send(B_IP, 4, pingPayload(56, 4));
    p.rt.advance(10);
    expect(got).toEqual([4]);
    expect(p.a.net.snmp.ArpTableFulls).toBe(1);
    expectNoLeaks(p.a, p.b);
  });
});
