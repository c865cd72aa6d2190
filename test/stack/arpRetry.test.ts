// Resolution of a neighbour that never answers: INCOMPLETE, three broadcast
// requests one second apart (mcast_solicit 3, retrans_time 1 s), then FAILED
// and everything queued for it dropped.
import { describe, expect, it } from 'vitest';
import { pingPayload } from '../../src/ipv4/ping.js';
import { MAC_BROADCAST, parseIpv4 } from '../../src/wire/address.js';
import { decode } from '../helpers/frames.js';
import { drops, expectNoLeaks, makePair, type Pair } from '../helpers/pair.js';

const GHOST = parseIpv4('10.0.0.50')!;

/** ARP requests A sends, with the time (ms since the start) each left. */
function arpLog(p: Pair) {
  const t0 = p.rt.clock.now();
  const log: Array<{ at: number; ethDst: number; targetIp: number }> = [];
  p.a.addTap((_d, buf, off, len, dir) => {
    const f = decode(buf.slice(off, off + len));
    if (dir === 'out' && f.arp) log.push({ at: p.rt.clock.now() - t0, ethDst: f.ethDst, targetIp: f.arp.targetIp });
  });
  return log;
}

function state(p: Pair, ip: string): string | undefined {
  return p.a.neigh.show().find((n) => n.ip === ip)?.state;
}

describe('ARP retry and failure', () => {
  it('sends three broadcast requests 1 s apart, then FAILED drops and counts the queued packets', () => {
    const p = makePair();
    const log = arpLog(p);
    const sock = p.a.createPingSocket();
    for (let seq = 1; seq <= 3; seq++) sock.send(GHOST, seq, pingPayload(56, seq));
    p.rt.run();
    expect(state(p, '10.0.0.50')).toBe('INCOMPLETE');
    expect(p.a.neigh.lookup(GHOST, p.devA)?.queue).toHaveLength(3);

    p.rt.advance(2999);
    expect(log).toEqual([0, 1000, 2000].map((at) => ({ at, ethDst: MAC_BROADCAST, targetIp: GHOST })));
    expect(state(p, '10.0.0.50')).toBe('INCOMPLETE');
    expect(drops(p.a, 'neigh-failed')).toBe(0);

    p.rt.advance(1);
    expect(state(p, '10.0.0.50')).toBe('FAILED');
    expect(drops(p.a, 'neigh-failed')).toBe(3);
    expect(log).toHaveLength(3); // no fourth request
    expect(p.b.net.snmp.IcmpInEchos).toBe(0);
    expectNoLeaks(p.a, p.b);
  });

  it('a send to a FAILED neighbour starts resolution again', () => {
    const p = makePair();
    const log = arpLog(p);
    p.a.icmp.sendEcho(GHOST, 1, 1, new Uint8Array(8));
    p.rt.advance(3000);
    expect(state(p, '10.0.0.50')).toBe('FAILED');
    p.a.icmp.sendEcho(GHOST, 1, 2, new Uint8Array(8));
    p.rt.run();
    expect(state(p, '10.0.0.50')).toBe('INCOMPLETE');
    expect(log.map((l) => l.at)).toEqual([0, 1000, 2000, 3000]);
  });

  it('resolves on a late answer: a host that replies to the third request gets the queued packets', () => {
    // A→B frames are lost for the first 2.5 s: B hears only the third request.
    const p = makePair();
    p.link.wires[0].config = { loss: 1 };
    const sock = p.a.createPingSocket();
    const got: number[] = [];
    sock.onReply((r) => got.push(r.seq));
    sock.send(parseIpv4('10.0.0.2')!, 7, pingPayload(56, 7));
    p.rt.advance(1500);
    p.link.wires[0].config = {};
    p.rt.advance(1000);
    expect(got).toEqual([7]);
    expect(state(p, '10.0.0.2')).toBe('REACHABLE');
    expectNoLeaks(p.a, p.b);
  });

  it('the periodic garbage collection removes the FAILED entry', () => {
    const p = makePair();
    p.a.icmp.sendEcho(GHOST, 1, 1, new Uint8Array(8));
    p.rt.advance(3000);
    expect(p.a.neigh.size).toBe(1);
    p.rt.advance(60_000); // gc runs every gc_stale_time / 2
    expect(p.a.neigh.size).toBe(0);
  });
});
