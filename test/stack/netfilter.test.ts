// Netfilter between two stacks over the memory link (virtual clock): every
// hook, every target, the counters, and the replies REJECT sends.
import { describe, expect, it } from 'vitest';
import { pingPayload } from '../../src/ipv4/ping.js';
import { NF_INPUT, NF_OUTPUT, NF_POSTROUTING, NF_PREROUTING } from '../../src/ipv4/netfilter.js';
import type { Stack } from '../../src/stack.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/wire/ipv4.js';
import { TCP_ACK, TCP_HLEN, TCP_RST, TCP_SYN, TcpSegment } from '../../src/wire/tcp.js';
import { UdpDatagram } from '../../src/wire/udp.js';
import { ipFrame, sniff } from '../helpers/frames.js';
import { A_IP, A_MAC, B_IP, B_MAC, drops, expectNoLeaks, makePair } from '../helpers/pair.js';

/** Pings `to` from `from` `n` times (one per virtual second); returns the replies heard. */
function pings(p: ReturnType<typeof makePair>, from: Stack, to: number, n = 1, size = 56): number[] {
  const sock = from.createPingSocket();
  const got: number[] = [];
  sock.onReply((r) => got.push(r.seq));
  for (let seq = 1; seq <= n; seq++) {
    sock.send(to, seq, pingPayload(size, seq));
    p.rt.advance(1000);
  }
  sock.close();
  return got;
}

function tcpSyn(dport: number, seq: number, flags = TCP_SYN, ack = 0): Uint8Array {
  const b = new Uint8Array(TCP_HLEN);
  const t = new TcpSegment().wrap(b);
  t.srcPort = 40001;
  t.dstPort = dport;
  t.seq = seq;
  t.ack = ack;
  t.dataOffset = TCP_HLEN;
  t.flags = flags;
  t.window = 65535;
  t.fillChecksum(A_IP, B_IP);
  return b;
}

function udp(dport: number): Uint8Array {
  const b = new Uint8Array(12);
  const u = new UdpDatagram().wrap(b);
  u.srcPort = 5555;
  u.dstPort = dport;
  u.length = 12;
  u.fillChecksum(A_IP, B_IP);
  return b;
}

/** Sends a hand-built IPv4 datagram from A's side of the wire to B. */
function injectToB(p: ReturnType<typeof makePair>, protocol: number, payload: Uint8Array): void {
  p.link.inject(1, ipFrame(B_MAC, A_MAC, { src: A_IP, dst: B_IP, protocol }, payload));
  p.rt.advance(10);
}

describe('netfilter between two stacks', () => {
  it('with no rules, nothing changes and every chain stays off the hook', () => {
    const p = makePair();
    expect(pings(p, p.a, B_IP, 2)).toEqual([1, 2]);
    for (const c of p.b.netfilter.chains) expect([c.active, c.policyPackets]).toEqual([false, 0]);
    expect(drops(p.b, 'netfilter-drop')).toBe(0);
  });

  it('INPUT DROP: the echo request dies before ICMP sees it; only the rule counts it', () => {
    const p = makePair();
    const rule = p.b.netfilter.append('INPUT -p icmp --icmp-type echo-request -j DROP');
    expect(pings(p, p.a, B_IP, 3)).toEqual([]);
    expect([rule.packets, rule.bytes]).toEqual([3, 3 * 84]);
    expect(drops(p.b, 'netfilter-drop')).toBe(3);
    const s = p.b.net.snmp;
    expect([s.IpInReceives, s.IpInDelivers, s.IcmpInMsgs, s.IcmpInEchos]).toEqual([3, 0, 0, 0]);
    // Linux counts no SNMP error for a netfilter drop: IpInDiscards and friends stay 0.
    expect([s.IpInDiscards, s.IpInHdrErrors, s.IpInAddrErrors]).toEqual([0, 0, 0]);
    // Other ICMP is untouched: B's own ping of A still gets its replies.
    expect(pings(p, p.b, A_IP, 1)).toEqual([1]);
    expectNoLeaks(p.a, p.b);
  });

  it('PREROUTING DROP by source network, before routing', () => {
    const p = makePair();
    const rule = p.b.netfilter.append('PREROUTING -i eth0 -s 10.0.0.0/30 -j DROP');
    expect(pings(p, p.a, B_IP, 2)).toEqual([]);
    // ARP is not IPv4: resolution still works, so only the two requests were dropped.
    expect(rule.packets).toBe(2);
    expect(p.b.net.snmp.IpInReceives).toBe(2);
    expect(p.b.netfilter.describeLastDrop()).toBe('PREROUTING rule 1: -i eth0 -s 10.0.0.0/30 -j DROP');
    p.b.netfilter.flush('PREROUTING');
    expect(pings(p, p.a, B_IP, 1)).toEqual([1]);
  });

  it('OUTPUT DROP: the reply is never sent; the sender of a dropped packet gets EPERM', () => {
    const p = makePair();
    const rule = p.b.netfilter.append('OUTPUT -p icmp --icmp-type echo-reply -j DROP');
    expect(pings(p, p.a, B_IP, 2)).toEqual([]);
    expect(rule.packets).toBe(2);
    expect(p.b.net.snmp.IcmpInEchos).toBe(2);
    // A's own OUTPUT: ping gets "sendmsg: Operation not permitted".
    p.a.netfilter.append('OUTPUT -d 10.0.0.2 -j DROP');
    const sock = p.a.createPingSocket();
    expect(() => sock.send(B_IP, 1, pingPayload(8, 1))).toThrow(expect.objectContaining({ code: 'EPERM' }));
    sock.close();
    expectNoLeaks(p.a, p.b);
  });

  it('POSTROUTING -o eth0 DROP stops traffic to the wire but not over lo', () => {
    const p = makePair();
    const rule = p.b.netfilter.append('POSTROUTING -o eth0 -p icmp -j DROP');
    const wire = sniff(p.b, 'out');
    expect(pings(p, p.a, B_IP, 1)).toEqual([]);
    expect(rule.packets).toBe(1);
    expect(wire.filter((f) => f.ip !== null)).toEqual([]);
    // B pinging itself goes out through lo: OUTPUT and POSTROUTING with out=lo, then PREROUTING and INPUT with in=lo.
    const count = p.b.netfilter.append('INPUT -i lo -p icmp');
    expect(pings(p, p.b, B_IP, 1)).toEqual([1]);
    expect(pings(p, p.b, parseIpv4('127.0.0.1')!, 1)).toEqual([1]);
    expect(count.packets).toBe(4); // two requests, two replies
    expect(rule.packets).toBe(1);
  });

  it('the chain policy: DROP with an ACCEPT exception, counted in the policy counters', () => {
    const p = makePair();
    const nf = p.b.netfilter;
    nf.append('INPUT -p icmp --icmp-type echo-request -s 10.0.0.1 -j ACCEPT');
    nf.setPolicy('INPUT', 'DROP');
    expect(pings(p, p.a, B_IP, 1)).toEqual([1]);
    injectToB(p, IPPROTO_UDP, udp(9));
    const c = nf.chains[NF_INPUT]!;
    expect(c.rules[0]!.packets).toBe(1);
    expect([c.policyPackets, c.policyBytes]).toEqual([1, 32]);
    expect(nf.describeLastDrop()).toBe('INPUT policy DROP');
  });

  it('REJECT in INPUT answers with ICMP port unreachable by default', () => {
    const p = makePair();
    p.b.netfilter.append('INPUT -p icmp --icmp-type echo-request -j REJECT');
    const heard = sniff(p.a, 'in');
    expect(pings(p, p.a, B_IP, 1)).toEqual([]);
    const errs = heard.filter((f) => f.icmp?.type === 3);
    expect(errs.map((f) => [f.icmp!.code, f.ip!.src, f.ip!.dst])).toEqual([[3, B_IP, A_IP]]);
    expect(p.a.net.snmp.IcmpInDestUnreachs).toBe(1);
    expect(p.b.net.snmp.IcmpOutDestUnreachs).toBe(1);
    expect(p.b.netfilter.stats.rejectIcmp).toBe(1);
    expect(drops(p.b, 'netfilter-drop')).toBe(1);
    expectNoLeaks(p.a, p.b);
  });

  it('REJECT --reject-with picks the ICMP code', () => {
    const p = makePair();
    p.b.netfilter.append('INPUT -p udp --dport 9 -j REJECT --reject-with icmp-admin-prohibited');
    p.b.netfilter.append('INPUT -p udp --dport 10 -j REJECT --reject-with icmp-net-unreachable');
    const heard = sniff(p.a, 'in');
    injectToB(p, IPPROTO_UDP, udp(9));
    injectToB(p, IPPROTO_UDP, udp(10));
    expect(heard.filter((f) => f.icmp?.type === 3).map((f) => f.icmp!.code)).toEqual([13, 0]);
    expect(p.a.net.snmp.IcmpInDestUnreachs).toBe(2);
  });

  it('REJECT --reject-with tcp-reset answers a SYN with RST,ACK (seq 0, ack SEG.SEQ+1)', () => {
    const p = makePair();
    const rule = p.b.netfilter.append('INPUT -p tcp --dport 81 -j REJECT --reject-with tcp-reset');
    const out = sniff(p.b, 'out');
    injectToB(p, IPPROTO_TCP, tcpSyn(81, 0x12345678));
    const rst = out.filter((f) => f.ip?.protocol === IPPROTO_TCP);
    expect(rst).toHaveLength(1);
    const f = rst[0]!;
    expect([f.ip!.src, f.ip!.dst, f.ip!.dontFrag]).toEqual([B_IP, A_IP, true]);
    const t = new TcpSegment().wrap(f.frame, 14 + 20, f.ip!.totalLength - 20);
    expect([t.srcPort, t.dstPort, t.seq, t.ack, t.flags]).toEqual([81, 40001, 0, 0x12345679, TCP_RST | TCP_ACK]);
    expect(t.verifyChecksum(B_IP, A_IP)).toBe(true);
    expect(rule.packets).toBe(1);
    expect(p.b.netfilter.stats.rejectReset).toBe(1);
    // A segment with ACK gets <SEQ=SEG.ACK><CTL=RST>.
    injectToB(p, IPPROTO_TCP, tcpSyn(81, 7, TCP_ACK, 0xdeadbeef));
    const t2 = new TcpSegment().wrap(out.at(-1)!.frame, 34, 20);
    expect([t2.seq, t2.flags]).toEqual([0xdeadbeef, TCP_RST]);
    // Another port is not the rule's.
    injectToB(p, IPPROTO_TCP, tcpSyn(82, 1));
    expect(rule.packets).toBe(2);
    expectNoLeaks(p.a, p.b);
  });

  it('REJECT in OUTPUT: the ICMP error goes to ourselves over lo; the sender gets EPERM', () => {
    const p = makePair();
    p.a.netfilter.append('OUTPUT -o eth0 -p icmp --icmp-type echo-request -j REJECT --reject-with icmp-host-unreachable');
    const sock = p.a.createPingSocket();
    expect(() => sock.send(B_IP, 1, pingPayload(8, 1))).toThrow(expect.objectContaining({ code: 'EPERM' }));
    sock.close();
    p.rt.advance(10);
    expect(p.a.net.snmp.IcmpOutDestUnreachs).toBe(1);
    expect(p.a.net.snmp.IcmpInDestUnreachs).toBe(1); // it came back through lo
    expect(p.b.net.snmp.IpInReceives).toBe(0);
    expectNoLeaks(p.a, p.b);
  });

  it('INPUT sees the reassembled datagram; PREROUTING every fragment', () => {
    const p = makePair();
    const pre = p.b.netfilter.append('PREROUTING -p icmp');
    const inp = p.b.netfilter.append('INPUT -p icmp --icmp-type echo-request -j DROP');
    expect(pings(p, p.a, B_IP, 1, 3000)).toEqual([]);
    expect(pre.packets).toBe(3); // 1480 + 1480 + 48 payload bytes
    expect([inp.packets, inp.bytes]).toEqual([1, 20 + 8 + 3000]);
    expect(p.b.net.snmp.IpReasmOKs).toBe(1);
  });

  it('each hook is where Linux has it: the counters of one ping round trip', () => {
    const p = makePair();
    const nf = p.b.netfilter;
    for (const c of ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'] as const) nf.append(`${c} -p icmp`);
    expect(pings(p, p.a, B_IP, 1)).toEqual([1]);
    expect([NF_PREROUTING, NF_INPUT, NF_OUTPUT, NF_POSTROUTING].map((h) => nf.chains[h]!.rules[0]!.packets)).toEqual([1, 1, 1, 1]);
    expect(nf.listing()).toMatch(/Chain OUTPUT \(policy ACCEPT 1 packets, 84 bytes\)/);
  });
});
