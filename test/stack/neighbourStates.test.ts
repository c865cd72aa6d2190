// Neighbour Unreachability Detection on A's entry for B, driven by real
// traffic: REACHABLE ─reachable_time─▶ STALE ─use─▶ DELAY ─5 s─▶ PROBE
// (unicast requests) ─reply─▶ REACHABLE, or ─3 unanswered─▶ FAILED.
import { describe, expect, it } from 'vitest';
import { pingPayload } from '../../src/ipv4/ping.js';
import { ARP_OP_REQUEST } from '../../src/wire/arp.js';
import { decode } from '../helpers/frames.js';
import { B_IP, B_MAC, expectNoLeaks, makePair, type Pair } from '../helpers/pair.js';

function stateOfB(p: Pair): string | undefined {
  return p.a.neigh.show().find((n) => n.ip === '10.0.0.2')?.state;
}

/** A resolved pair, and a log of the ARP requests A sends from then on (absolute times). */
function resolved() {
  const p = makePair();
  const sock = p.a.createPingSocket();
  const replies: number[] = [];
  sock.onReply((r) => replies.push(r.seq));
  sock.send(B_IP, 1, pingPayload(56, 1));
  p.rt.advance(10);
  expect(stateOfB(p)).toBe('REACHABLE');
  const requests: Array<{ at: number; ethDst: number; targetMac: number }> = [];
  p.a.addTap((_d, buf, off, len, dir) => {
    const f = decode(buf.slice(off, off + len));
    if (dir === 'out' && f.arp?.op === ARP_OP_REQUEST) requests.push({ at: p.rt.clock.now(), ethDst: f.ethDst, targetMac: f.arp.targetMac });
  });
  return { p, sock, replies, requests };
}

describe('neighbour states', () => {
  it('REACHABLE turns STALE after the reachable time, a random 15..45 s', () => {
    const { p } = resolved();
    p.rt.advance(14_900);
    expect(stateOfB(p)).toBe('REACHABLE');
    p.rt.advance(30_100);
    expect(stateOfB(p)).toBe('STALE');
  });

  it('using a STALE entry sends at once (DELAY), then probes by unicast (PROBE), and a reply makes it REACHABLE', () => {
    const { p, sock, replies, requests } = resolved();
    p.rt.advance(45_000);
    expect(stateOfB(p)).toBe('STALE');
    const tStale = p.rt.clock.now();
    sock.send(B_IP, 2, pingPayload(56, 2));
    p.rt.run();
    expect(stateOfB(p)).toBe('DELAY');
    p.rt.advance(1);
    expect(replies).toEqual([1, 2]); // the stale address was used without asking first
    expect(requests).toEqual([]);

    p.rt.advance(4_998);
    expect(stateOfB(p)).toBe('DELAY');
    p.rt.advance(1);
    // The probe left 5 s after the use, unicast to the cached MAC, and B answered it at once.
    expect(requests).toEqual([{ at: tStale + 5_000, ethDst: B_MAC, targetMac: B_MAC }]);
    expect(stateOfB(p)).toBe('REACHABLE');
    expectNoLeaks(p.a, p.b);
  });

  it('a PROBE that is never answered sends three unicast requests 1 s apart, then FAILED', () => {
    const { p, sock, requests } = resolved();
    p.rt.advance(45_000);
    p.link.wires[0].config = { loss: 1 }; // B is gone
    const t = p.rt.clock.now();
    sock.send(B_IP, 2, pingPayload(56, 2));
    p.rt.advance(5_000);
    expect(stateOfB(p)).toBe('PROBE');
    p.rt.advance(2_999);
    expect(stateOfB(p)).toBe('PROBE');
    p.rt.advance(1);
    expect(stateOfB(p)).toBe('FAILED');
    expect(requests.map((r) => r.at - t)).toEqual([5_000, 6_000, 7_000]);
    expect(requests.every((r) => r.ethDst === B_MAC)).toBe(true);
  });
});
