// ip_fragment on the send path: what A puts on the wire for a datagram larger
// than the MTU, and what DF does.
import { describe, expect, it } from 'vitest';
import { pingPayload } from '../../src/ipv4/ping.js';
import { IPPROTO_ICMP } from '../../src/wire/ipv4.js';
import { sniff, type Sniffed } from '../helpers/frames.js';
import { B_IP, drops, expectNoLeaks, makePair } from '../helpers/pair.js';

/** Checks that `frags` are the fragments of one datagram of `payloadLen` bytes, each within `mtu`. */
function expectFragmentsOf(frags: Sniffed[], payloadLen: number, mtu: number): void {
  let next = 0;
  for (const [i, f] of frags.entries()) {
    const ip = f.ip!;
    expect(ip.totalLength).toBeLessThanOrEqual(mtu);
    expect(f.frame.length).toBeLessThanOrEqual(mtu + 14);
    expect(ip.fragOffset).toBe(next);
    expect(ip.moreFrags).toBe(i < frags.length - 1);
    if (ip.moreFrags) expect((ip.totalLength - 20) % 8).toBe(0);
    expect(ip.ident).toBe(frags[0]!.ip!.ident);
    next += ip.totalLength - 20;
  }
  expect(next).toBe(payloadLen);
}

describe('fragmentation', () => {
  it('cuts a 4000-byte echo into 3 fragments within the MTU; IpFragOKs 1, IpFragCreates 3', () => {
    const p = makePair();
    const out = sniff(p.a);
    p.a.icmp.sendEcho(B_IP, 1, 1, pingPayload(4000, 1));
    p.rt.advance(10);
    const frags = out.filter((f) => f.ip?.protocol === IPPROTO_ICMP && f.ip.dst === B_IP);
    expect(frags).toHaveLength(3);
    expectFragmentsOf(frags, 8 + 4000, 1500);
    expect(frags.map((f) => f.ip!.totalLength)).toEqual([1500, 1500, 1068]);
    expect(p.a.net.snmp.IpFragOKs).toBe(1);
    expect(p.a.net.snmp.IpFragCreates).toBe(3);
    expect(p.b.net.snmp.IcmpInEchos).toBe(1);
    expectNoLeaks(p.a, p.b);
  });

  it('honours a small MTU on both ends (576)', () => {
    const p = makePair({ mtu: 576 });
    const out = sniff(p.a);
    const sock = p.a.createPingSocket();
    const got: Uint8Array[] = [];
    sock.onReply((r) => got.push(r.data));
    sock.send(B_IP, 1, pingPayload(3000, 1));
    p.rt.advance(10);
    const frags = out.filter((f) => f.ip?.dst === B_IP);
    expectFragmentsOf(frags, 3008, 576);
    expect(frags).toHaveLength(Math.ceil(3008 / 552));
    expect(got).toEqual([pingPayload(3000, 1)]);
    expect(p.b.net.snmp.IpFragCreates).toBe(frags.length);
  });

  it('a datagram that fits the MTU exactly is not fragmented', () => {
    const p = makePair();
    const out = sniff(p.a);
    p.a.icmp.sendEcho(B_IP, 1, 1, pingPayload(1472, 1));
    p.rt.advance(10);
    const ip = out.filter((f) => f.ip)[0]!.ip!;
    expect([ip.totalLength, ip.moreFrags, ip.fragOffset]).toEqual([1500, false, 0]);
    expect(p.a.net.snmp.IpFragOKs).toBe(0);
  });

  it('the largest echo (65507 bytes, a 65535-byte datagram) goes through; one byte more is EMSGSIZE, nothing sent', () => {
    const p = makePair();
    const sock = p.a.createPingSocket();
    const got: Uint8Array[] = [];
    sock.onReply((r) => got.push(r.data));
    sock.send(B_IP, 1, pingPayload(65507, 1));
    p.rt.advance(10);
    expect(got).toEqual([pingPayload(65507, 1)]);
    const out = sniff(p.a);
    // Sent anyway, its fragments would add up to more than 65535 bytes: a ping of death.
    expect(() => sock.send(B_IP, 2, pingPayload(65508, 2))).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    p.rt.advance(10);
    expect(out).toHaveLength(0);
    expect(drops(p.a, 'pkt-too-big')).toBe(1);
    expect(p.b.net.snmp.IpReasmFails).toBe(0);
    expectNoLeaks(p.a, p.b);
  });

  it('DF on a datagram larger than the MTU fails with EMSGSIZE: IpFragFails, nothing sent', () => {
    const p = makePair();
    const out = sniff(p.a);
    const pb = p.a.ip.allocPayload(1600);
    pb.put(1600);
    expect(p.a.ip.output(pb, { daddr: B_IP, protocol: 253, dontFrag: true })).toBe('EMSGSIZE');
    p.rt.advance(10);
    expect(p.a.net.snmp.IpFragFails).toBe(1);
    expect(drops(p.a, 'ip-frag-needed')).toBe(1);
    expect(out).toHaveLength(0);
    expectNoLeaks(p.a);
  });

  it('DF on a datagram that fits is sent whole with DF set', () => {
    const p = makePair();
    const out = sniff(p.a);
    const pb = p.a.ip.allocPayload(1480);
    pb.put(1480);
    expect(p.a.ip.output(pb, { daddr: B_IP, protocol: 253, dontFrag: true })).toBeNull();
    p.rt.advance(10);
    const ip = out.find((f) => f.ip?.dst === B_IP)!.ip!;
    expect([ip.totalLength, ip.dontFrag, ip.moreFrags]).toEqual([1500, true, false]);
  });
});
