// The netfilter walk, matches, verdicts, counters and REJECT replies
// (src/ipv4/netfilter.ts), driven directly with hand-built IPv4 packets and
// a recording stand-in for the IP layer.
import { beforeEach, describe, expect, it } from 'vitest';
import { Net } from '../../../src/core/net.js';
import type { PacketBuffer } from '../../../src/core/packetBuffer.js';
import { PktType } from '../../../src/core/packetBuffer.js';
import { VirtualRuntime } from '../../../src/core/runtime.js';
import type { IpSendOptions } from '../../../src/ipv4/ip.js';
import { Netfilter, NF_INPUT, NF_OUTPUT, NF_POSTROUTING, NF_PREROUTING, type NfIpLayer } from '../../../src/ipv4/netfilter.js';
import { NetDevice } from '../../../src/nic/device.js';
import { parseIpv4 } from '../../../src/wire/address.js';
import { IPPROTO_TCP, IPPROTO_UDP, Ipv4Packet } from '../../../src/wire/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_HLEN, TCP_PSH, TCP_RST, TCP_SYN, TcpSegment } from '../../../src/wire/tcp.js';
import { UdpDatagram } from '../../../src/wire/udp.js';
import { echoRequest, icmpMessage, ipPacket, type IpOptions } from '../../helpers/frames.js';

const HOST = parseIpv4('10.0.0.1')!;
const ME = parseIpv4('10.0.0.2')!;
const OTHER = parseIpv4('192.168.7.9')!;

function tcpSeg(o: { sport?: number; dport?: number; seq?: number; ack?: number; flags: number; payload?: number; doff?: number }, src = HOST, dst = ME): Uint8Array {
  const payload = o.payload ?? 0;
  const b = new Uint8Array(TCP_HLEN + payload).fill(0x61);
  const t = new TcpSegment().wrap(b);
  t.srcPort = o.sport ?? 40000;
  t.dstPort = o.dport ?? 81;
  t.seq = o.seq ?? 1000;
  t.ack = o.ack ?? 0;
  t.dataOffset = TCP_HLEN;
  t.flags = o.flags;
  t.window = 64240;
  t.urgentPtr = 0;
  t.fillChecksum(src, dst);
  if (o.doff !== undefined) b[12] = (o.doff >>> 2) << 4; // after the checksum: a broken header
  return b;
}

function udpDgram(sport: number, dport: number, payload = 4, src = HOST, dst = ME): Uint8Array {
  const b = new Uint8Array(8 + payload).fill(0x62);
  const u = new UdpDatagram().wrap(b);
  u.srcPort = sport;
  u.dstPort = dport;
  u.length = b.length;
  u.fillChecksum(src, dst);
  return b;
}

interface Sent {
  opts: IpSendOptions;
  bytes: Uint8Array;
}

let net: Net;
let nf: Netfilter;
let sent: Sent[];
let icmpErrors: Array<{ type: number; code: number; quoted: Uint8Array }>;
const eth0 = new NetDevice('eth0', 2, 1500, 0x020000000002);
const eth1 = new NetDevice('eth1', 3, 1500, 0x020000000003);
const lo = new NetDevice('lo', 1, 65536, 0);

beforeEach(() => {
  net = new Net(new VirtualRuntime());
  sent = [];
  icmpErrors = [];
  const ip: NfIpLayer = {
    output(pb: PacketBuffer, opts: IpSendOptions) {
      sent.push({ opts, bytes: pb.data().slice() });
      pb.free();
      return null;
    },
    icmpError(pb, type, code) {
      icmpErrors.push({ type, code, quoted: pb.buf.slice(pb.networkHeader, pb.head + pb.len) });
    },
    allocPayload(len) {
      return net.pool.alloc(len);
    },
  };
  nf = new Netfilter(net, ip);
});

/** A received (or sent) IPv4 packet in a pooled buffer, head at the IP header. */
function packet(o: Partial<IpOptions>, payload: Uint8Array, pktType = PktType.Host): PacketBuffer {
  const bytes = ipPacket({ src: HOST, dst: ME, ...o }, payload);
  const pb = net.pool.alloc(bytes.length);
  pb.buf.set(bytes, pb.put(bytes.length));
  pb.networkHeader = pb.head;
  pb.pktType = pktType;
  return pb;
}

/** Runs INPUT (in: eth0) on the packet; true if accepted (then frees it). */
function input(pb: PacketBuffer, dev = eth0): boolean {
  const ok = nf.hook(NF_INPUT, pb, dev, null);
  if (ok) pb.free();
  return ok;
}

const ping = () => packet({ protocol: 1 }, echoRequest(1, 1, new Uint8Array(8)));

describe('chains', () => {
  it('start empty, policy ACCEPT, and not active (the hook is not even called)', () => {
    expect(nf.chains.map((c) => [c.name, c.rules.length, c.policy, c.active])).toEqual([
      ['PREROUTING', 0, 'ACCEPT', false],
      ['INPUT', 0, 'ACCEPT', false],
      ['OUTPUT', 0, 'ACCEPT', false],
      ['POSTROUTING', 0, 'ACCEPT', false],
    ]);
  });

  it('become active with a rule or a DROP policy, and inactive again when emptied', () => {
    nf.append('INPUT -p icmp -j DROP');
    expect(nf.chains[NF_INPUT]!.active).toBe(true);
    expect(nf.delete('INPUT', 0)).toBe(true);
    expect(nf.delete('INPUT', 0)).toBe(false);
    expect(nf.chains[NF_INPUT]!.active).toBe(false);
    nf.setPolicy('OUTPUT', 'DROP');
    expect(nf.chains[NF_OUTPUT]!.active).toBe(true);
    nf.setPolicy('OUTPUT', 'ACCEPT');
    expect(nf.chains[NF_OUTPUT]!.active).toBe(false);
    nf.append('PREROUTING -j ACCEPT');
    nf.append('POSTROUTING -j ACCEPT');
    nf.flush();
    expect(nf.chains.some((c) => c.active)).toBe(false);
  });

  it('inserts at a position and rejects bad rules with EINVAL', () => {
    nf.append('INPUT -p udp -j DROP');
    nf.insert('INPUT -p tcp -j DROP', 0);
    expect(nf.chains[NF_INPUT]!.rules.map((r) => r.text)).toEqual(['-p tcp -j DROP', '-p udp -j DROP']);
    expect(() => nf.append('INPUT -p icmp --dport 1')).toThrow(/invalid rule 'INPUT -p icmp --dport 1': --dport needs -p tcp or -p udp/);
    try {
      nf.append('FORWARD -j DROP');
    } catch (e) {
      expect((e as { code?: string }).code).toBe('EINVAL');
    }
    expect(() => nf.setPolicy('INPUT', 'REJECT' as 'DROP')).toThrow(/ACCEPT or DROP/);
  });
});

describe('matching', () => {
  it('on protocol, and the first rule with a target decides', () => {
    nf.append('INPUT -p udp -j DROP');
    nf.append('INPUT -p icmp -j ACCEPT');
    nf.append('INPUT -p icmp -j DROP');
    expect(input(ping())).toBe(true);
    const [udp, acc, drop] = nf.chains[NF_INPUT]!.rules;
    expect([udp!.packets, acc!.packets, drop!.packets]).toEqual([0, 1, 0]);
    expect(input(packet({ protocol: IPPROTO_UDP }, udpDgram(1, 2)))).toBe(false);
    expect(udp!.packets).toBe(1);
  });

  it('on source and destination networks', () => {
    nf.append('INPUT -s 10.0.0.0/24 -d 10.0.0.2 -j DROP');
    expect(input(ping())).toBe(false);
    expect(input(packet({ protocol: 1, src: OTHER }, echoRequest(1, 1, new Uint8Array(0))))).toBe(true);
    expect(input(packet({ protocol: 1, dst: parseIpv4('10.0.0.3')! }, echoRequest(1, 1, new Uint8Array(0))))).toBe(true);
    nf.flush();
    nf.append('INPUT -s 128.0.0.0/1 -j DROP'); // the top bit: signed-int arithmetic must not bite
    expect(input(packet({ protocol: 1, src: OTHER }, echoRequest(1, 1, new Uint8Array(0))))).toBe(false);
    expect(input(ping())).toBe(true);
  });

  it('on ports and port ranges (tcp and udp)', () => {
    nf.append('INPUT -p udp --sport 1000:2000 --dport 53 -j DROP');
    nf.append('INPUT -p tcp --dport 80:81 -j DROP');
    expect(input(packet({ protocol: IPPROTO_UDP }, udpDgram(1500, 53)))).toBe(false);
    expect(input(packet({ protocol: IPPROTO_UDP }, udpDgram(999, 53)))).toBe(true);
    expect(input(packet({ protocol: IPPROTO_UDP }, udpDgram(2000, 54)))).toBe(true);
    expect(input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ dport: 81, flags: TCP_SYN })))).toBe(false);
    expect(input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ dport: 82, flags: TCP_SYN })))).toBe(true);
  });

  it('on ICMP type and code', () => {
    nf.append('INPUT -p icmp --icmp-type port-unreachable -j DROP');
    nf.append('INPUT -p icmp --icmp-type echo-request -j DROP');
    const unreach = (code: number) => packet({ protocol: 1 }, icmpMessage(3, code, 0, new Uint8Array(28)));
    expect(input(unreach(3))).toBe(false);
    expect(input(unreach(1))).toBe(true);
    expect(input(ping())).toBe(false);
    expect(input(packet({ protocol: 1 }, icmpMessage(0, 0, 0, new Uint8Array(4))))).toBe(true);
  });

  it('on TCP flags (mask/comp)', () => {
    nf.append('INPUT -p tcp --tcp-flags SYN,ACK SYN -j DROP');
    expect(input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ flags: TCP_SYN })))).toBe(false);
    expect(input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ flags: TCP_SYN | TCP_ACK })))).toBe(true);
    expect(input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ flags: TCP_ACK | TCP_PSH })))).toBe(true);
    nf.flush();
    nf.append('INPUT -p tcp --syn -j DROP');
    expect(input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ flags: TCP_SYN | TCP_PSH })))).toBe(false); // PSH is not examined
    expect(input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ flags: TCP_SYN | TCP_FIN })))).toBe(true); // FIN is examined and must be clear
  });

  it('on interfaces, with the + wildcard', () => {
    nf.append('PREROUTING -i eth1 -j DROP');
    nf.append('POSTROUTING -o et+ -j DROP');
    const pre = (dev: NetDevice) => {
      const pb = ping();
      const ok = nf.hook(NF_PREROUTING, pb, dev, null);
      if (ok) pb.free();
      return ok;
    };
    expect(pre(eth0)).toBe(true);
    expect(pre(eth1)).toBe(false);
    const post = (dev: NetDevice) => {
      const pb = ping();
      const ok = nf.hook(NF_POSTROUTING, pb, null, dev);
      if (ok) pb.free();
      return ok;
    };
    expect(post(eth0)).toBe(false);
    expect(post(lo)).toBe(true);
  });

  it('a rule without a target counts and the walk goes on to the policy', () => {
    nf.append('INPUT -p icmp');
    nf.setPolicy('INPUT', 'DROP');
    expect(input(ping())).toBe(false);
    const c = nf.chains[NF_INPUT]!;
    expect(c.rules[0]!.packets).toBe(1);
    expect([c.policyPackets, c.policyBytes]).toEqual([1, 20 + 8 + 8]);
    expect(nf.describeLastDrop()).toBe('INPUT policy DROP');
    expect(net.drops.get('netfilter-drop')).toBe(1);
  });

  it('counts packets and IP bytes per rule and per policy; zero() clears them', () => {
    nf.append('INPUT -p icmp -j DROP');
    for (let i = 0; i < 3; i++) input(ping());
    input(packet({ protocol: IPPROTO_UDP }, udpDgram(1, 2, 10)));
    const c = nf.chains[NF_INPUT]!;
    expect([c.rules[0]!.packets, c.rules[0]!.bytes]).toEqual([3, 3 * 36]);
    expect([c.policyPackets, c.policyBytes]).toEqual([1, 38]);
    expect(nf.describeLastDrop()).toBe('INPUT rule 1: -p icmp -j DROP');
    nf.zero();
    expect([c.rules[0]!.packets, c.rules[0]!.bytes, c.policyPackets, c.policyBytes]).toEqual([0, 0, 0, 0]);
  });

  it('never matches a non-first fragment on ports, and hotdrops what it cannot read', () => {
    nf.append('PREROUTING -p tcp --dport 81 -j ACCEPT');
    nf.setPolicy('PREROUTING', 'DROP');
    const pre = (pb: PacketBuffer) => {
      const ok = nf.hook(NF_PREROUTING, pb, eth0, null);
      if (ok) pb.free();
      return ok;
    };
    // A later fragment has no TCP header: the port rule does not match, the policy drops.
    expect(pre(packet({ protocol: IPPROTO_TCP, fragOffset: 16 }, new Uint8Array(16)))).toBe(false);
    expect(nf.chains[NF_PREROUTING]!.policyPackets).toBe(1);
    // A first fragment of 8 bytes cannot hold the TCP header: hotdrop, no counter moves.
    expect(pre(packet({ protocol: IPPROTO_TCP, moreFrags: true }, new Uint8Array(8)))).toBe(false);
    expect(nf.stats.hotdrops).toBe(1);
    expect(nf.describeLastDrop()).toMatch(/^PREROUTING: hotdrop/);
    // "Dropping evil TCP offset=1 frag."
    expect(pre(packet({ protocol: IPPROTO_TCP, fragOffset: 8 }, new Uint8Array(16)))).toBe(false);
    expect(nf.stats.hotdrops).toBe(2);
    // A TCP header whose data offset is below 20.
    expect(pre(packet({ protocol: IPPROTO_TCP }, tcpSeg({ flags: TCP_SYN, doff: 16 })))).toBe(false);
    expect(nf.stats.hotdrops).toBe(3);
    expect(nf.chains[NF_PREROUTING]!.rules[0]!.packets).toBe(0);
    expect(nf.chains[NF_PREROUTING]!.policyPackets).toBe(1);
    expect(pre(packet({ protocol: IPPROTO_TCP }, tcpSeg({ flags: TCP_SYN })))).toBe(true);
    expect(net.pool.stats.inUse).toBe(0);
  });

  it('leaves the packet alone when it accepts it', () => {
    nf.append('INPUT -p icmp --icmp-type echo-reply -j DROP');
    const pb = ping();
    const before = pb.data().slice();
    expect(nf.hook(NF_INPUT, pb, eth0, null)).toBe(true);
    expect(pb.data()).toEqual(before);
    pb.free();
  });
});

describe('REJECT', () => {
  it('sends the ICMP destination unreachable code of --reject-with (port unreachable by default)', () => {
    nf.append('INPUT -p udp --dport 7 -j REJECT');
    nf.append('INPUT -p udp --dport 8 -j REJECT --reject-with icmp-admin-prohibited');
    nf.append('INPUT -p icmp -j REJECT --reject-with icmp-host-unreachable');
    expect(input(packet({ protocol: IPPROTO_UDP }, udpDgram(5, 7)))).toBe(false);
    expect(input(packet({ protocol: IPPROTO_UDP }, udpDgram(5, 8)))).toBe(false);
    expect(input(ping())).toBe(false);
    expect(icmpErrors.map((e) => [e.type, e.code])).toEqual([[3, 3], [3, 13], [3, 1]]);
    // The quote is the offending datagram from its IP header.
    expect(new Ipv4Packet().wrap(icmpErrors[0]!.quoted).protocol).toBe(IPPROTO_UDP);
    expect(nf.stats.rejectIcmp).toBe(3);
    expect(net.drops.get('netfilter-drop')).toBe(3);
    expect(net.pool.stats.inUse).toBe(0);
  });

  it('sends no ICMP about a datagram whose transport checksum is wrong', () => {
    nf.append('INPUT -p udp -j REJECT');
    const d = udpDgram(5, 7);
    d[6]! ^= 0xff;
    expect(input(packet({ protocol: IPPROTO_UDP }, d))).toBe(false);
    expect(icmpErrors).toHaveLength(0);
  });

  it('tcp-reset: a segment with ACK gets <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.1)', () => {
    nf.append('INPUT -p tcp --dport 81 -j REJECT --reject-with tcp-reset');
    expect(input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ sport: 40000, dport: 81, seq: 5000, ack: 0xfffffff0, flags: TCP_ACK | TCP_PSH, payload: 10 })))).toBe(false);
    expect(sent).toHaveLength(1);
    const { opts, bytes } = sent[0]!;
    expect(opts).toMatchObject({ saddr: ME, daddr: HOST, protocol: IPPROTO_TCP, dontFrag: true, tos: 0 });
    const t = new TcpSegment().wrap(bytes);
    expect(t.check()).toBeNull();
    expect([t.srcPort, t.dstPort, t.seq, t.flags, t.window, t.dataOffset, bytes.length]).toEqual([81, 40000, 0xfffffff0, TCP_RST, 0, 20, 20]);
    expect(t.verifyChecksum(ME, HOST)).toBe(true);
  });

  it('tcp-reset: a SYN gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SEG.LEN counting SYN, FIN and data', () => {
    nf.append('INPUT -p tcp -j REJECT --reject-with tcp-reset');
    input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ seq: 0xffffffff, flags: TCP_SYN })));
    input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ seq: 100, flags: TCP_FIN | TCP_PSH, payload: 7 })));
    const rsts = sent.map((s) => new TcpSegment().wrap(s.bytes));
    expect(rsts.map((t) => [t.seq, t.ack, t.flags])).toEqual([
      [0, 0, TCP_RST | TCP_ACK], // 0xffffffff + 1 wraps to 0
      [0, 108, TCP_RST | TCP_ACK],
    ]);
    for (const s of sent) expect(new TcpSegment().wrap(s.bytes).verifyChecksum(ME, HOST)).toBe(true);
  });

  it('tcp-reset: never about a RST, a bad checksum, a fragment or a broadcast', () => {
    nf.append('INPUT -p tcp -j REJECT --reject-with tcp-reset');
    input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ flags: TCP_RST })));
    const bad = tcpSeg({ flags: TCP_SYN });
    bad[16]! ^= 1;
    input(packet({ protocol: IPPROTO_TCP }, bad));
    input(packet({ protocol: IPPROTO_TCP, fragOffset: 24 }, new Uint8Array(8)));
    input(packet({ protocol: IPPROTO_TCP }, tcpSeg({ flags: TCP_SYN }), PktType.Broadcast));
    expect(sent).toHaveLength(0);
    expect(nf.chains[NF_INPUT]!.rules[0]!.packets).toBe(4); // each matched and was dropped
    expect(net.drops.get('netfilter-drop')).toBe(4);
    expect(net.pool.stats.inUse).toBe(0);
  });
});

describe('listing', () => {
  it('prints every chain like iptables -L -v -n -x --line-numbers', () => {
    nf.append('INPUT -p icmp --icmp-type echo-request -j DROP');
    nf.append('INPUT -s 10.0.0.0/24 -p tcp --dport 81 -j REJECT --reject-with tcp-reset');
    for (let i = 0; i < 5; i++) input(ping());
    const text = nf.listing();
    expect(text).toContain('Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)');
    expect(text).toContain('Chain POSTROUTING (policy ACCEPT 0 packets, 0 bytes)');
    const lines = text.split('\n');
    const i = lines.indexOf('Chain INPUT (policy ACCEPT 0 packets, 0 bytes)');
    expect(lines[i + 1]).toMatch(/^num\s+pkts\s+bytes\s+target\s+prot\s+opt\s+in\s+out\s+source\s+destination$/);
    expect(lines[i + 2]).toMatch(/^\s*1\s+5\s+180\s+DROP\s+icmp\s+--\s+\*\s+\*\s+0\.0\.0\.0\/0\s+0\.0\.0\.0\/0\s+icmptype 8$/);
    expect(lines[i + 3]).toMatch(/^\s*2\s+0\s+0\s+REJECT\s+tcp\s+--\s+\*\s+\*\s+10\.0\.0\.0\/24\s+0\.0\.0\.0\/0\s+tcp dpt:81 reject-with tcp-reset$/);
  });
});
