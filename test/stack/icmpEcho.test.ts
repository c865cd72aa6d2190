// ICMP echo: the reply is the request with only the type changed, whatever
// the size; broadcasts are ignored; the host's own addresses answer over lo.
import { describe, expect, it } from 'vitest';
import { pingPayload, type EchoReply } from '../../src/ipv4/ping.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { icmpMessage, ipFrame, sniff } from '../helpers/frames.js';
import { A_IP, A_MAC, B_IP, B_MAC, drops, expectNoLeaks, makePair } from '../helpers/pair.js';

describe('ICMP echo', () => {
  it('replies with identical data, identifier and sequence for every size, odd ones included', () => {
    const p = makePair();
    const sock = p.a.createPingSocket();
    const replies: EchoReply[] = [];
    sock.onReply((r) => replies.push(r));
    const sizes = [0, 1, 7, 8, 55, 56, 57, 1471, 1472, 1473, 2961, 8000];
    sizes.forEach((size, seq) => sock.send(B_IP, seq, pingPayload(size, seq)));
    p.rt.advance(10);
    expect(replies.map((r) => r.seq)).toEqual(sizes.map((_, i) => i));
    for (const r of replies) {
      expect(r.data).toEqual(pingPayload(sizes[r.seq]!, r.seq));
      expect(r.from).toBe(B_IP);
      expect(r.ttl).toBe(64);
    }
    expect(p.b.net.snmp.IcmpInEchos).toBe(sizes.length);
    expect(p.b.net.snmp.IcmpOutEchoReps).toBe(sizes.length);
    expectNoLeaks(p.a, p.b);
  });

  it('a reply for another identifier does not reach this socket', () => {
    const p = makePair();
    const s1 = p.a.createPingSocket();
    const s2 = p.a.createPingSocket();
    expect(s1.ident).not.toBe(s2.ident);
    const got: string[] = [];
    s1.onReply(() => got.push('s1'));
    s2.onReply(() => got.push('s2'));
    s2.send(B_IP, 1, pingPayload(8, 1));
    p.rt.advance(10);
    expect(got).toEqual(['s2']);
  });

  it('does not answer an echo sent to the subnet broadcast address', () => {
    const p = makePair();
    const out = sniff(p.b);
    const sock = p.a.createPingSocket();
    let replies = 0;
    sock.onReply(() => replies++);
    sock.send(parseIpv4('10.0.0.255')!, 1, pingPayload(56, 1));
    p.rt.advance(10);
    expect(p.a.net.snmp.IpExtOutBcastPkts).toBe(1);
    expect(p.b.net.snmp.IpExtInBcastPkts).toBe(1);
    expect(p.b.net.snmp.IcmpInEchos).toBe(1);
    expect(drops(p.b, 'icmp-broadcast-echo')).toBe(1);
    expect(replies).toBe(0);
    expect(out).toHaveLength(0);
    expectNoLeaks(p.a, p.b);
  });

  it('answers a ping of its own address over lo, without touching the NIC', () => {
    const p = makePair();
    const sock = p.a.createPingSocket();
    const replies: EchoReply[] = [];
    sock.onReply((r) => replies.push(r));
    const txBefore = p.devA.stats.tx_packets;
    sock.send(A_IP, 1, pingPayload(3000, 1));
    sock.send(parseIpv4('127.0.0.1')!, 2, pingPayload(56, 2));
    p.rt.advance(10);
    expect(replies.map((r) => [r.seq, r.from])).toEqual([
      [1, A_IP],
      [2, parseIpv4('127.0.0.1')],
    ]);
    expect(replies[0]!.data).toEqual(pingPayload(3000, 1));
    expect(p.devA.stats.tx_packets).toBe(txBefore);
    expect(p.a.lo.stats.rx_packets).toBe(4);
    expect(p.a.net.snmp.IpFragCreates).toBe(0); // lo's MTU is 65536
    expectNoLeaks(p.a);
  });

  it('a send with no route fails with ENETUNREACH', () => {
    const p = makePair();
    const sock = p.a.createPingSocket();
    expect(() => sock.send(parseIpv4('192.0.2.1')!, 1, pingPayload(8, 1))).toThrow(expect.objectContaining({ code: 'ENETUNREACH' }));
    expect(p.a.net.snmp.IpOutNoRoutes).toBe(1);
    expectNoLeaks(p.a);
  });
});

describe('ICMP timestamp (RFC 792; Linux icmp_timestamp)', () => {
  /** A timestamp request from A to `dst` with `times` (originate, receive, transmit), cut to `len` data bytes. */
  function tsRequest(dst: number, ethDst: number, ident: number, seq: number, originate: number, len = 12): Uint8Array {
    const data = new Uint8Array(12);
    new DataView(data.buffer).setUint32(0, originate);
    return ipFrame(ethDst, A_MAC, { src: A_IP, dst }, icmpMessage(13, 0, ((ident << 16) | seq) >>> 0, data.subarray(0, len)));
  }

  it('answers with the identifier, sequence and originate time, and its receive and transmit times in ms since midnight UT', () => {
    const p = makePair();
    const out = sniff(p.b);
    p.rt.advance(1234);
    p.link.inject(1, tsRequest(B_IP, B_MAC, 0x4242, 7, 0xdeadbeef));
    p.rt.advance(10);
    const replies = out.filter((f) => f.icmp?.type === 14);
    expect(replies).toHaveLength(1);
    const r = replies[0]!;
    expect(r.ip).toMatchObject({ src: B_IP, dst: A_IP, totalLength: 20 + 20 });
    expect(r.icmp!.rest).toBe(((0x4242 << 16) | 7) >>> 0);
    const t = new DataView(r.icmp!.data.buffer, r.icmp!.data.byteOffset);
    expect(t.getUint32(0)).toBe(0xdeadbeef);
    // The virtual clock: p.rt's start plus the 1234 ms advanced, as ms since midnight UT.
    const midnightMs = Math.floor(p.rt.clock.now() - 10) % 86_400_000;
    expect(t.getUint32(4)).toBe(midnightMs);
    expect(t.getUint32(8)).toBe(midnightMs);
    expect(p.b.net.snmp.IcmpInTimestamps).toBe(1);
    expect(p.b.net.snmp.IcmpOutTimestampReps).toBe(1);
    expect(p.a.net.snmp.IcmpInTimestampReps).toBe(1);
    expectNoLeaks(p.a, p.b);
  });

  it('a request without its originate time is an error; a broadcast one is ignored, as an echo is', () => {
    const p = makePair();
    const out = sniff(p.b);
    p.link.inject(1, tsRequest(B_IP, B_MAC, 1, 1, 5, 2));
    p.link.inject(1, tsRequest(parseIpv4('10.0.0.255')!, 0xffff_ffff_ffff, 1, 2, 5));
    p.rt.advance(10);
    expect(out.filter((f) => f.icmp?.type === 14)).toHaveLength(0);
    expect(p.b.net.snmp.IcmpInTimestamps).toBe(2);
    expect(p.b.net.snmp.IcmpInErrors).toBe(1);
    expect(drops(p.b, 'icmp-too-small')).toBe(1);
    expect(drops(p.b, 'icmp-broadcast-echo')).toBe(1);
    expectNoLeaks(p.b);
  });
});
