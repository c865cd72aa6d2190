// RX ring overflow: a burst larger than B's RX ring lands before B's softirq
// runs; the NIC has no descriptor for the excess, drops it and counts
// rx_fifo_errors (ifconfig "overruns") — the stack never sees those frames.
import { describe, expect, it } from 'vitest';
import { pingPayload } from '../../src/ipv4/ping.js';
import { B_IP, expectNoLeaks, makePair } from '../helpers/pair.js';

describe('RX ring overflow', () => {
  it('a burst of 20 frames into an 8-slot ring: 8 processed, 12 counted as rx_fifo_errors', () => {
    const p = makePair({ portB: { rxSlots: 8 } });
    const sock = p.a.createPingSocket();
    const got: number[] = [];
    sock.onReply((r) => got.push(r.seq));
    sock.send(B_IP, 0, pingPayload(56, 0)); // resolve ARP first
    p.rt.advance(10);
    const rxBefore = p.devB.stats.rx_packets;

    // All 20 leave A in one TX doorbell and reach B's ring before B polls.
    for (let seq = 1; seq <= 20; seq++) sock.send(B_IP, seq, pingPayload(56, seq));
    p.rt.advance(10);

    expect(p.devB.stats.rx_fifo_errors).toBe(12);
    expect(p.devB.stats.rx_packets - rxBefore).toBe(8);
    expect(p.b.net.snmp.IcmpInEchos).toBe(1 + 8);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]); // the first 8 of the burst made it
    expectNoLeaks(p.a, p.b);
  });

  it('a ring that keeps up loses nothing: the same burst into the default 256 slots', () => {
    const p = makePair();
    const sock = p.a.createPingSocket();
    let n = 0;
    sock.onReply(() => n++);
    for (let seq = 1; seq <= 20; seq++) sock.send(B_IP, seq, pingPayload(56, seq));
    p.rt.advance(10);
    expect(n).toBe(20);
    expect(p.devB.stats.rx_fifo_errors).toBe(0);
  });
});
