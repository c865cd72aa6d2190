// When B sends ICMP errors and when it must not (RFC 1122 §3.2.2), and the
// rate limits on them (Linux icmp_msgs_per_sec/burst, icmp_ratelimit).
import { describe, expect, it } from 'vitest';
import { ICMP_DEST_UNREACH } from '../../src/wire/icmp.js';
import { parseIpv4, parseMac } from '../../src/wire/address.js';
import { ETHERTYPE_IPV4 } from '../../src/wire/ethernet.js';
import { echoRequest, ethFrame, fragments, icmpMessage, ipFrame, ipPacket, sniff } from '../helpers/frames.js';
import { A_IP, A_MAC, B_IP, B_MAC, drops, expectNoLeaks, makePair, type Pair } from '../helpers/pair.js';

const BCAST_MAC = 0xffff_ffff_ffff;

/** Sends fragments 0 and 2 of a 3-fragment datagram carrying `body`, lets them expire; returns ICMP errors B sent. */
function expireIncomplete(p: Pair, body: Uint8Array, o: { dst?: number; ethDst?: number; skipFirst?: boolean } = {}) {
  const out = sniff(p.b);
  const frags = fragments({ src: A_IP, dst: o.dst ?? B_IP, ident: 0x5151 }, body, 1480);
  expect(frags).toHaveLength(3);
  const send = o.skipFirst ? [frags[1]!, frags[2]!] : [frags[0]!, frags[2]!];
  for (const f of send) p.link.inject(1, ethFrame(o.ethDst ?? B_MAC, A_MAC, ETHERTYPE_IPV4, f));
  p.rt.advance(30_010);
  expect(p.b.net.snmp.IpReasmTimeout).toBe(1);
  return out.filter((f) => f.icmp);
}

describe('no ICMP error about ...', () => {
  it('(control) an incomplete echo request does get time exceeded', () => {
    const p = makePair();
    expect(expireIncomplete(p, echoRequest(1, 1, new Uint8Array(4000)))).toHaveLength(1);
  });

  it('an ICMP error: a fragmented destination unreachable that expires', () => {
    const p = makePair();
    expect(expireIncomplete(p, icmpMessage(ICMP_DEST_UNREACH, 1, 0, new Uint8Array(4000)))).toHaveLength(0);
    expect(p.b.net.snmp.IcmpOutMsgs).toBe(0);
  });

  it('a datagram sent to the broadcast address', () => {
    const p = makePair();
    expect(expireIncomplete(p, echoRequest(1, 1, new Uint8Array(4000)), { dst: parseIpv4('10.0.0.255')!, ethDst: BCAST_MAC })).toHaveLength(0);
  });

  it('fragments that came in link-layer broadcasts, even when they time out', () => {
    const p = makePair();
    expect(expireIncomplete(p, echoRequest(1, 1, new Uint8Array(4000)), { ethDst: BCAST_MAC })).toHaveLength(0);
  });

  it('a datagram whose first fragment never came (nothing to quote)', () => {
    const p = makePair();
    expect(expireIncomplete(p, echoRequest(1, 1, new Uint8Array(4000)), { skipFirst: true })).toHaveLength(0);
  });

  it('a datagram from a source that is not one host (0.0.0.0)', () => {
    const p = makePair();
    p.link.inject(1, ipFrame(B_MAC, A_MAC, { src: 0, dst: B_IP, protocol: 253 }, new Uint8Array(8)));
    p.rt.advance(10);
    expect(p.b.net.snmp.IpInUnknownProtos).toBe(1);
    expect(p.b.net.snmp.IcmpOutMsgs).toBe(0);
    expectNoLeaks(p.b);
  });

  it('a datagram that came in a link-layer broadcast', () => {
    const p = makePair();
    p.link.inject(1, ipFrame(BCAST_MAC, A_MAC, { src: A_IP, dst: B_IP, protocol: 253 }, new Uint8Array(8)));
    p.rt.advance(10);
    expect(p.b.net.snmp.IpInUnknownProtos).toBe(1);
    expect(p.b.net.snmp.IcmpOutMsgs).toBe(0);
  });
});

describe('ICMP error rate limits', () => {
  it('per host: a burst of 6, then one per second (IcmpOutRateLimitHost)', () => {
    const p = makePair();
    const bad = ipFrame(B_MAC, A_MAC, { src: A_IP, dst: B_IP, protocol: 253 }, new Uint8Array(8));
    for (let i = 0; i < 10; i++) p.link.inject(1, bad);
    p.rt.advance(10);
    expect(p.b.net.snmp.IcmpOutDestUnreachs).toBe(6);
    expect(p.b.net.snmp.IcmpOutRateLimitHost).toBe(4);
    expect(p.a.net.snmp.IcmpInDestUnreachs).toBe(6);

    p.rt.advance(990); // one token back after 1 s
    for (let i = 0; i < 3; i++) p.link.inject(1, bad);
    p.rt.advance(10);
    expect(p.b.net.snmp.IcmpOutDestUnreachs).toBe(7);
    expect(p.b.net.snmp.IcmpOutRateLimitHost).toBe(6);
    expectNoLeaks(p.a, p.b);
  });

  it('errors to our own addresses (through lo) skip the per-host bucket, as Linux’s icmpv4_xrlim_allow does', () => {
    const p = makePair();
    const u = p.a.createSocket('udp4');
    const errs: string[] = [];
    u.on('error', (e: NodeJS.ErrnoException) => errs.push(e.code!));
    u.connect(4444, '127.0.0.1');
    for (let i = 0; i < 10; i++) {
      u.send('x');
      p.rt.advance(1);
    }
    expect(p.a.net.snmp.IcmpOutDestUnreachs).toBe(10);
    expect(p.a.net.snmp.IcmpOutRateLimitHost).toBe(0);
    expect(errs).toEqual(new Array(10).fill('ECONNREFUSED'));
    u.close();
  });

  it('global: a burst of 50 across all hosts (IcmpOutRateLimitGlobal)', () => {
    const p = makePair();
    for (let i = 0; i < 60; i++) {
      const src = parseIpv4(`10.0.0.${100 + i}`)!;
      const mac = parseMac(`02:00:00:00:01:${(i + 16).toString(16)}`)!;
      p.link.inject(1, ipFrame(B_MAC, mac, { src, dst: B_IP, protocol: 253 }, new Uint8Array(8)));
    }
    p.rt.advance(10);
    expect(p.b.net.snmp.IcmpOutDestUnreachs).toBe(50);
    expect(p.b.net.snmp.IcmpOutRateLimitGlobal).toBe(10);
    expect(p.b.net.snmp.IcmpOutRateLimitHost).toBe(0);
    // Nobody answers B's ARP for those hosts: the errors die in the neighbour queue.
    p.rt.advance(3_000);
    expect(drops(p.b, 'neigh-failed')).toBe(50);
    expectNoLeaks(p.a, p.b);
  });

  it('echo replies are not rate limited', () => {
    const p = makePair();
    const sock = p.a.createPingSocket();
    let n = 0;
    sock.onReply(() => n++);
    // Resolve B first: 100 packets waiting for ARP would overflow the
    // neighbour queue (unres_qlen_bytes holds 92 buffers), which is not what this tests.
    sock.send(B_IP, 100, new Uint8Array(8));
    p.rt.advance(10);
    for (let seq = 0; seq < 100; seq++) sock.send(B_IP, seq, new Uint8Array(8));
    p.rt.advance(10);
    expect(n).toBe(101);
  });
});

describe('ICMP errors reach the sender’s transport', () => {
  it('protocol unreachable is handed to the error handler of the protocol that sent the datagram', () => {
    const p = makePair();
    const seen: Array<{ type: number; code: number; saddr: number; daddr: number; first: number }> = [];
    p.a.icmp.addErrorHandler(253, (e) => seen.push({ type: e.type, code: e.code, saddr: e.saddr, daddr: e.daddr, first: e.buf[e.off]! }));
    const pb = p.a.ip.allocPayload(8);
    pb.buf.fill(0x5a, pb.put(8));
    expect(p.a.ip.output(pb, { daddr: B_IP, protocol: 253 })).toBeNull();
    p.rt.advance(10);
    expect(seen).toEqual([{ type: 3, code: 2, saddr: A_IP, daddr: B_IP, first: 0x5a }]);
  });
});

describe('ICMP input errors', () => {
  it('a bad ICMP checksum: IcmpInCsumErrors and IcmpInErrors, no reply', () => {
    const p = makePair();
    const m = echoRequest(1, 1, new Uint8Array(8));
    m[2]! ^= 0xff;
    p.link.inject(1, ipFrame(B_MAC, A_MAC, { src: A_IP, dst: B_IP }, m));
    p.rt.advance(10);
    expect(p.b.net.snmp.IcmpInCsumErrors).toBe(1);
    expect(p.b.net.snmp.IcmpInErrors).toBe(1);
    expect(p.b.net.snmp.IcmpOutMsgs).toBe(0);
    expect(drops(p.b, 'icmp-csum')).toBe(1);
    expectNoLeaks(p.b);
  });

  it('an ICMP message shorter than its header: IcmpInErrors', () => {
    const p = makePair();
    p.link.inject(1, ethFrame(B_MAC, A_MAC, ETHERTYPE_IPV4, ipPacket({ src: A_IP, dst: B_IP }, new Uint8Array([8, 0, 0xf7]))));
    p.rt.advance(10);
    expect(p.b.net.snmp.IcmpInErrors).toBe(1);
    expect(drops(p.b, 'icmp-inhdr')).toBe(1);
  });

  it('an error quoting less than a header and 8 bytes is dropped as IcmpInErrors', () => {
    const p = makePair();
    p.link.inject(1, ipFrame(B_MAC, A_MAC, { src: A_IP, dst: B_IP }, icmpMessage(3, 1, 0, new Uint8Array(12))));
    p.rt.advance(10);
    expect(p.b.net.snmp.IcmpInDestUnreachs).toBe(1);
    expect(p.b.net.snmp.IcmpInErrors).toBe(1);
  });
});
