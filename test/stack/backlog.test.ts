// The backlog queue (netif_rx) that carries loopback traffic: over
// netdev_max_backlog frames are dropped and counted in softnet_stat.
import { describe, expect, it } from 'vitest';
import { pingPayload } from '../../src/ipv4/ping.js';
import { A_IP, expectNoLeaks, makePair } from '../helpers/pair.js';

describe('softnet backlog', () => {
  it('20 pings of our own address with maxBacklog 10: 10 answered, 10 dropped and counted', () => {
    const p = makePair({ softnet: { maxBacklog: 10 } });
    const sock = p.a.createPingSocket();
    const got: number[] = [];
    sock.onReply((r) => got.push(r.seq));
    for (let seq = 1; seq <= 20; seq++) sock.send(A_IP, seq, pingPayload(56, seq));
    expect(p.a.net.softnet.backlogLength).toBe(10);
    p.rt.run();
    expect(p.a.net.softnet.stats.dropped).toBe(10);
    expect(p.a.lo.stats.rx_dropped).toBe(10);
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(p.a.net.softnet.backlogLength).toBe(0);
    expectNoLeaks(p.a);
  });

  it('within the limit nothing is dropped', () => {
    const p = makePair();
    const sock = p.a.createPingSocket();
    let n = 0;
    sock.onReply(() => n++);
    for (let seq = 1; seq <= 20; seq++) sock.send(A_IP, seq, pingPayload(56, seq));
    p.rt.run();
    expect(n).toBe(20);
    expect(p.a.net.softnet.stats.dropped).toBe(0);
  });
});
