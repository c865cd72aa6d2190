// IPv4 input validation (ip_rcv): one hand-built datagram per drop reason,
// injected into B's RX ring, each checked against the Linux counter it moves.
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/wire/address.js';
import { ETHERTYPE_IPV4 } from '../../src/wire/ethernet.js';
import { Ipv4Packet } from '../../src/wire/ipv4.js';
import { echoRequest, ethFrame, ipPacket, sniff, type IpOptions } from '../helpers/frames.js';
import { A_IP, A_MAC, B_IP, B_MAC, drops, expectNoLeaks, makePair } from '../helpers/pair.js';

const ip = (s: string) => parseIpv4(s)!;

/** An echo request datagram, optionally damaged by `mangle` (which may refresh the checksum). */
function datagram(o: Partial<IpOptions> = {}, mangle?: (v: Ipv4Packet) => void, refill = false): Uint8Array {
  const d = ipPacket({ src: A_IP, dst: B_IP, ...o }, echoRequest(1, 1, new Uint8Array(16)));
  const v = new Ipv4Packet().wrap(d);
  mangle?.(v);
  if (refill) v.fillChecksum();
  return d;
}

/** Injects `ipBytes` into B as an unpadded Ethernet frame and lets B process it. */
function deliver(ipBytes: Uint8Array, ethDst = B_MAC) {
  const p = makePair();
  p.link.inject(1, ethFrame(ethDst, A_MAC, ETHERTYPE_IPV4, ipBytes));
  p.rt.run();
  return p;
}

describe('IPv4 header validation', () => {
  it('a valid datagram is delivered (control case)', () => {
    const { b } = deliver(datagram());
    expect(b.net.snmp.IpInReceives).toBe(1);
    expect(b.net.snmp.IpInDelivers).toBe(1);
    expect(b.net.snmp.IcmpInEchos).toBe(1);
  });

  it('bad header checksum: IpInHdrErrors and IpExtInCsumErrors', () => {
    const { b } = deliver(datagram({}, (v) => (v.checksum ^= 0x0100)));
    expect(b.net.snmp.IpInHdrErrors).toBe(1);
    expect(b.net.snmp.IpExtInCsumErrors).toBe(1);
    expect(drops(b, 'ip-csum')).toBe(1);
    expect(b.net.snmp.IpInDelivers).toBe(0);
    expectNoLeaks(b);
  });

  it('a corrupted total length is a checksum error, as in Linux (checksum is checked first)', () => {
    const { b } = deliver(datagram({}, (v) => (v.totalLength += 100)));
    expect(b.net.snmp.IpExtInCsumErrors).toBe(1);
    expect(b.net.snmp.IpInHdrErrors).toBe(1);
    expect(b.net.snmp.IpExtInTruncatedPkts).toBe(0);
  });

  it.each([
    ['version 6', (v: Ipv4Packet) => (v.version = 6), 0],
    ['IHL 4 (16-byte header)', (v: Ipv4Packet) => (v.ihl = 4), 0],
    ['total length below the header length', (v: Ipv4Packet) => (v.totalLength = 12), 0],
    ['IHL beyond the bytes present', (v: Ipv4Packet) => (v.ihl = 15), 40],
    // IHL 6 makes the first 4 payload bytes options: type 8 with a length of 0.
    ['malformed options', (v: Ipv4Packet) => (v.ihl = 6), 0],
  ])('%s: IpInHdrErrors', (_name, mangle, cutTo) => {
    const d = datagram({}, mangle, true);
    const { b } = deliver(cutTo ? d.subarray(0, cutTo) : d);
    expect(b.net.snmp.IpInHdrErrors).toBe(1);
    expect(b.net.snmp.IpExtInCsumErrors).toBe(0);
    expect(drops(b, 'ip-inhdr')).toBe(1);
    expectNoLeaks(b);
  });

  it('fewer than 20 bytes: IpInHdrErrors', () => {
    const { b } = deliver(datagram().subarray(0, 12));
    expect(b.net.snmp.IpInHdrErrors).toBe(1);
    expect(drops(b, 'ip-inhdr')).toBe(1);
  });

  it('total length beyond the bytes received: IpExtInTruncatedPkts, not a header error', () => {
    const d = datagram();
    const { b } = deliver(d.subarray(0, d.length - 6));
    expect(b.net.snmp.IpExtInTruncatedPkts).toBe(1);
    expect(b.net.snmp.IpInHdrErrors).toBe(0);
    expect(drops(b, 'ip-truncated')).toBe(1);
    expectNoLeaks(b);
  });

  it('well-formed options are accepted', () => {
    // IHL 6 with four NOPs; the payload moves back by 4 bytes.
    const body = echoRequest(1, 1, new Uint8Array(16));
    const d = new Uint8Array(24 + body.length);
    d.set(ipPacket({ src: A_IP, dst: B_IP }, body).subarray(0, 20));
    d.set([1, 1, 1, 1], 20);
    d.set(body, 24);
    const v = new Ipv4Packet().wrap(d);
    v.ihl = 6;
    v.totalLength = d.length;
    v.fillChecksum();
    const { b } = deliver(d);
    expect(b.net.snmp.IcmpInEchos).toBe(1);
    expect(b.net.snmp.IcmpOutEchoReps).toBe(1);
  });

  it.each([
    ['loose (LSRR, 131)', 131],
    ['strict (SSRR, 137)', 137],
  ])('a %s source route is refused after PREROUTING, with no SNMP counter (accept_source_route = 0, ip_rcv_options)', (_name, type) => {
    // IHL 7: the route option with one address (7 bytes) and an end-of-options byte.
    const body = echoRequest(1, 1, new Uint8Array(16));
    const d = new Uint8Array(28 + body.length);
    d.set(ipPacket({ src: A_IP, dst: B_IP }, body).subarray(0, 20));
    d.set([type, 7, 4, 10, 0, 0, 9, 0], 20);
    d.set(body, 28);
    const v = new Ipv4Packet().wrap(d);
    v.ihl = 7;
    v.totalLength = d.length;
    v.fillChecksum();
    const p = makePair();
    const pre = p.b.netfilter.append('PREROUTING -p icmp');
    p.link.inject(1, ethFrame(B_MAC, A_MAC, ETHERTYPE_IPV4, d));
    p.rt.run();
    expect(pre.packets).toBe(1); // the hook saw it first
    expect(drops(p.b, 'ip-source-route')).toBe(1);
    expect(p.b.net.snmp.IpInHdrErrors).toBe(0);
    expect(p.b.net.snmp.IcmpInEchos).toBe(0);
    expectNoLeaks(p.b);
  });

  it('Ethernet padding after a short datagram is trimmed, not taken as data', () => {
    const p = makePair();
    const frame = new Uint8Array(60).fill(0xee); // padding bytes that would break the ICMP checksum
    frame.set(ethFrame(B_MAC, A_MAC, ETHERTYPE_IPV4, ipPacket({ src: A_IP, dst: B_IP }, echoRequest(1, 1, new Uint8Array([1, 2, 3, 4])))));
    p.link.inject(1, frame);
    p.rt.advance(10);
    expect(p.b.net.snmp.IcmpInErrors).toBe(0);
    expect(p.b.net.snmp.IcmpOutEchoReps).toBe(1);
    expect(p.a.net.snmp.IcmpInEchoReps).toBe(1);
  });
});

describe('IPv4 addressing', () => {
  it('a datagram for an address that is not ours: IpInAddrErrors (no forwarding)', () => {
    const { b } = deliver(datagram({ dst: ip('10.0.0.99') }));
    expect(b.net.snmp.IpInAddrErrors).toBe(1);
    expect(drops(b, 'ip-not-for-us')).toBe(1);
    expect(b.net.snmp.IcmpInEchos).toBe(0);
    expectNoLeaks(b);
  });

  it.each(['224.0.0.1', '255.255.255.255', '240.0.0.1', '127.0.0.1', '10.0.0.255'])(
    'martian source %s: IpInAddrErrors, dropped before delivery',
    (src) => {
      const { b } = deliver(datagram({ src: ip(src) }));
      expect(b.net.snmp.IpInAddrErrors).toBe(1);
      expect(drops(b, 'ip-invalid-source')).toBe(1);
      expect(b.net.snmp.IcmpInEchos).toBe(0);
      expectNoLeaks(b);
    },
  );

  it('a loopback destination arriving on the wire: IpInAddrErrors', () => {
    const { b } = deliver(datagram({ dst: ip('127.0.0.1') }));
    expect(b.net.snmp.IpInAddrErrors).toBe(1);
    expect(drops(b, 'ip-invalid-dest')).toBe(1);
  });

  it('a multicast destination (no group joined): IpInAddrErrors', () => {
    const { b } = deliver(datagram({ dst: ip('224.0.0.251') }));
    expect(b.net.snmp.IpInAddrErrors).toBe(1);
    expect(drops(b, 'ip-invalid-dest')).toBe(1);
  });

  it.each(['10.0.0.255', '255.255.255.255'])('broadcast to %s is delivered and counted, but an echo is not answered', (dst) => {
    const p = deliver(datagram({ dst: ip(dst) }), 0xffff_ffff_ffff);
    expect(p.b.net.snmp.IpExtInBcastPkts).toBe(1);
    expect(p.b.net.snmp.IcmpInEchos).toBe(1);
    expect(p.b.net.snmp.IcmpOutEchoReps).toBe(0);
    expect(drops(p.b, 'icmp-broadcast-echo')).toBe(1);
    expectNoLeaks(p.b);
  });
});

describe('IPv4 protocol demux', () => {
  it('an unknown protocol: IpInUnknownProtos and ICMP protocol unreachable back to the sender', () => {
    const p = makePair();
    const out = sniff(p.b);
    const d = ipPacket({ src: A_IP, dst: B_IP, protocol: 253 }, new Uint8Array(32).fill(7));
    p.link.inject(1, ethFrame(B_MAC, A_MAC, ETHERTYPE_IPV4, d));
    p.rt.advance(10);
    const err = out.find((f) => f.icmp)!;
    expect(err.ip).toMatchObject({ src: B_IP, dst: A_IP });
    expect([err.icmp!.type, err.icmp!.code]).toEqual([3, 2]);
    expect(err.icmp!.data).toEqual(d); // the whole offending datagram is quoted (it is under 548 bytes)
    expect(p.b.net.snmp.IpInUnknownProtos).toBe(1);
    expect(drops(p.b, 'ip-noproto')).toBe(1);
    expect(p.b.net.snmp.IcmpOutDestUnreachs).toBe(1);
    expect(p.a.net.snmp.IcmpInDestUnreachs).toBe(1);
    expectNoLeaks(p.a, p.b);
  });

  it('no protocol unreachable for a broadcast datagram', () => {
    const p = deliver(ipPacket({ src: A_IP, dst: ip('10.0.0.255'), protocol: 253 }, new Uint8Array(8)), 0xffff_ffff_ffff);
    expect(p.b.net.snmp.IpInUnknownProtos).toBe(1);
    expect(p.b.net.snmp.IcmpOutMsgs).toBe(0);
  });
});
