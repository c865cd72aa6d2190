// The transmit queue (pfifo, txqueuelen): frames wait there while the TX ring
// is full and go out as descriptors complete; past the limit they are dropped
// and counted (tc -s qdisc "dropped", ip -s link TX "dropped").
import { describe, expect, it } from 'vitest';
import { pingPayload } from '../../src/ipv4/ping.js';
import { B_IP, drops, expectNoLeaks, makePair } from '../helpers/pair.js';

describe('qdisc', () => {
  it('8 TX slots and a queue of 4: a burst of 20 sends 12 and drops 8', () => {
    const p = makePair({ portA: { txSlots: 8 }, txQueueLen: 4 });
    const sock = p.a.createPingSocket();
    const got: number[] = [];
    sock.onReply((r) => got.push(r.seq));
    sock.send(B_IP, 0, pingPayload(8, 0)); // resolve ARP first
    p.rt.advance(10);
    const q = p.devA.qdisc.stats;
    const dropsBefore = q.drops;

    for (let seq = 1; seq <= 20; seq++) sock.send(B_IP, seq, pingPayload(8, seq));
    expect(p.devA.qdisc.length).toBe(4); // the ring took 8, the queue holds 4
    p.rt.advance(10);

    expect(q.drops - dropsBefore).toBe(8);
    expect(p.devA.stats.tx_dropped).toBe(8);
    expect(drops(p.a, 'qdisc-drop')).toBe(8);
    expect(p.devA.stats.tx_busy).toBeGreaterThan(0);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(p.devA.qdisc.length).toBe(0);
    expectNoLeaks(p.a, p.b);
  });
});
