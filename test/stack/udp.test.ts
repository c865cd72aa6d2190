// UDP between two stacks over the memory link, on the virtual clock: sizes
// from empty to the largest datagram (fragmented and reassembled), a lossy
// link, and every way a datagram can fail — no port (ICMP port unreachable,
// ECONNREFUSED on a connected socket), a bad checksum, a full receive queue.
import { describe, expect, it } from 'vitest';
import type { Stack } from '../../src/stack.js';
import type { RemoteInfo, UdpSocket } from '../../src/udp/socket.js';
import { startUdpEcho } from '../../src/services/udpEcho.js';
import { ipv4ToString, parseIpv4, type Ipv4Addr } from '../../src/wire/address.js';
import { IPPROTO_UDP } from '../../src/wire/ipv4.js';
import { emitUdp, UdpDatagram } from '../../src/wire/udp.js';
import { A_IP, B_IP, drops, expectNoLeaks, makePair } from '../helpers/pair.js';

const A = ipv4ToString(A_IP);
const B = ipv4ToString(B_IP);

/** Deterministic bytes for datagram `seq` of `size` bytes: a 4-byte sequence number, then a pattern. */
function payload(seq: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seq * 7 + (i >> 8)) & 0xff;
  if (size >= 4) b.writeUInt32BE(seq, 0);
  return b;
}

interface Received {
  msg: Buffer;
  rinfo: RemoteInfo;
}

function collect(sock: UdpSocket): Received[] {
  const got: Received[] = [];
  sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => got.push({ msg, rinfo }));
  return got;
}

/** Sends a hand-made UDP datagram from `s` (source `saddr`) through its IP layer. */
function rawUdp(
  s: Stack,
  o: { saddr: Ipv4Addr; daddr: Ipv4Addr; sport: number; dport: number; data: Uint8Array; checksum: 'good' | 'zero' | 'bad'; lengthField?: number },
): void {
  const len = 8 + o.data.length;
  const pb = s.ip.allocPayload(len);
  const at = pb.put(len);
  const d = new UdpDatagram().wrap(pb.buf, at, len);
  emitUdp({ srcPort: o.sport, dstPort: o.dport, payloadLen: o.data.length }, d);
  pb.buf.set(o.data, at + 8);
  if (o.lengthField !== undefined) d.length = o.lengthField;
  if (o.checksum !== 'zero') d.fillChecksum(o.saddr, o.daddr);
  if (o.checksum === 'bad') d.checksum = d.checksum === 0x1234 ? 0x4321 : 0x1234;
  expect(s.ip.output(pb, { saddr: o.saddr, daddr: o.daddr, protocol: IPPROTO_UDP })).toBeNull();
}

const closeAll = (...socks: UdpSocket[]): void => {
  for (const s of socks) s.close();
};

describe('UDP between two stacks', () => {
  const SIZES = [0, 1, 512, 1472, 1473, 8000, 65507];

  it('carries datagrams of every size byte for byte, fragmenting those over the MTU', () => {
    const { rt, a, b } = makePair();
    const srv = b.createSocket('udp4');
    const got = collect(srv);
    srv.bind(5000);
    const cli = a.createSocket('udp4');
    const sent: Array<Error | null> = [];
    SIZES.forEach((n, i) => cli.send(payload(i, n), 5000, B, (e) => sent.push(e)));
    rt.advance(50);

    expect(sent).toEqual(SIZES.map(() => null));
    expect(got.map((g) => g.msg.length)).toEqual(SIZES);
    const port = cli.address().port;
    got.forEach((g, i) => {
      expect(g.msg.equals(payload(i, SIZES[i]!)), `datagram of ${SIZES[i]} bytes`).toBe(true);
      expect(g.rinfo).toEqual({ address: A, family: 'IPv4', port, size: SIZES[i] });
    });
    // 1473, 8000 and 65507 bytes exceed 1500 - 28: 2 + 6 + 45 fragments.
    expect(a.net.snmp.IpFragOKs).toBe(3);
    expect(a.net.snmp.IpFragCreates).toBe(2 + 6 + 45);
    expect(b.net.snmp.IpReasmOKs).toBe(3);
    expect(a.net.snmp.UdpOutDatagrams).toBe(SIZES.length);
    expect(b.net.snmp.UdpInDatagrams).toBe(SIZES.length);
    expect(b.net.snmp.UdpInErrors).toBe(0);
    closeAll(srv, cli);
    rt.run();
    expectNoLeaks(a, b);
  });

  it('echoes every size back (the reply fragmented by the other side)', () => {
    const { rt, a, b } = makePair();
    const srv = b.createSocket('udp4', (msg, rinfo) => srv.send(msg, rinfo.port, rinfo.address));
    srv.bind(7000);
    const cli = a.createSocket('udp4');
    const got = collect(cli);
    SIZES.forEach((n, i) => cli.send(payload(i, n), 7000, B));
    rt.advance(50);
    expect(got.map((g) => g.msg.length)).toEqual(SIZES);
    got.forEach((g, i) => expect(g.msg.equals(payload(i, SIZES[i]!))).toBe(true));
    expect(b.net.snmp.IpFragOKs).toBe(3);
    closeAll(srv, cli);
    rt.run();
    expectNoLeaks(a, b);
  });

  it('delivers what survives a 10% lossy link intact, and loses the rest whole', () => {
    const { rt, a, b, link } = makePair({ faults: { loss: 0.1 }, seed: 7 });
    const srv = b.createSocket('udp4');
    const got = collect(srv);
    srv.bind(5001);
    const cli = a.createSocket('udp4');
    const sizes = [1, 512, 1472, 1473, 3000, 8000];
    const N = 300;
    for (let seq = 0; seq < N; seq++) {
      cli.send(payload(seq, sizes[seq % sizes.length]!), 5001, B);
      rt.advance(1);
    }
    rt.advance(100);

    const seen = new Set<number>();
    for (const { msg } of got) {
      const seq = msg.length >= 4 ? msg.readUInt32BE(0) : -1;
      if (msg.length < 4) continue; // the 1-byte datagrams carry no sequence number
      expect(seq).toBeLessThan(N);
      expect(msg.length).toBe(sizes[seq % sizes.length]);
      expect(msg.equals(payload(seq, msg.length)), `datagram ${seq} corrupted`).toBe(true);
      expect(seen.has(seq), `datagram ${seq} twice`).toBe(false);
      seen.add(seq);
    }
    expect(link.wires[0].stats.lost).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(N);
    expect(got.length).toBeGreaterThan(N / 2);
    // A one-frame datagram gets through 90% of the time; one of 6 fragments only if all 6 do.
    const rate = (size: number): number => [...seen].filter((s) => sizes[s % sizes.length] === size).length / (N / sizes.length);
    expect(rate(512)).toBeGreaterThan(rate(8000));
    expect(rate(1472)).toBeGreaterThan(rate(8000));
    expect(b.net.snmp.UdpInErrors).toBe(0);
    // Lost fragments leave reassembly queues behind; they time out (30 s) and free everything.
    closeAll(srv, cli);
    rt.advance(31_000);
    expectNoLeaks(a, b);
  });

  it('refuses more than 65507 bytes with EMSGSIZE and sends nothing', () => {
    const { rt, a } = makePair();
    const cli = a.createSocket('udp4');
    const errs: Array<Error | null> = [];
    cli.send(Buffer.alloc(65508), 5000, B, (e) => errs.push(e));
    cli.send([Buffer.alloc(65000), Buffer.alloc(508)], 5000, B, (e) => errs.push(e));
    const before = a.net.snmp.IpOutRequests;
    rt.advance(10);
    expect(errs).toHaveLength(2);
    for (const e of errs) {
      expect(e).toBeInstanceOf(Error);
      expect(e).toMatchObject({ code: 'EMSGSIZE', syscall: 'send', errno: -90, address: B, port: 5000, message: `send EMSGSIZE ${B}:5000` });
    }
    expect(a.net.snmp.IpOutRequests).toBe(before);
    expect(a.net.snmp.UdpOutDatagrams).toBe(0);
    cli.close();
  });

  it('answers a closed port with ICMP port unreachable and counts UdpNoPorts', () => {
    const { rt, a, b } = makePair();
    const seen: Array<{ type: number; code: number; sport: number; dport: number }> = [];
    a.addTap((_dev, f, off, _len, dir) => {
      if (dir !== 'in' || f[off + 12] !== 0x08 || f[off + 13] !== 0x00 || f[off + 23] !== 1) return;
      const icmp = off + 14 + (f[off + 14]! & 0xf) * 4;
      const inner = icmp + 8;
      const udp = inner + (f[inner]! & 0xf) * 4;
      seen.push({ type: f[icmp]!, code: f[icmp + 1]!, sport: (f[udp]! << 8) | f[udp + 1]!, dport: (f[udp + 2]! << 8) | f[udp + 3]! });
    });
    const cli = a.createSocket('udp4');
    let errors = 0;
    cli.on('error', () => errors++);
    cli.send('anyone there?', 9999, B);
    rt.advance(10);
    expect(b.net.snmp.UdpNoPorts).toBe(1);
    expect(drops(b, 'udp-noport')).toBe(1);
    expect(b.net.snmp.IcmpOutDestUnreachs).toBe(1);
    expect(a.net.snmp.IcmpInDestUnreachs).toBe(1);
    expect(seen).toEqual([{ type: 3, code: 3, sport: cli.address().port, dport: 9999 }]);
    // An unconnected socket does not hear of it (Linux without IP_RECVERR).
    expect(errors).toBe(0);
    cli.close();
    rt.run();
    expectNoLeaks(a, b);
  });

  it('reports ECONNREFUSED on a connected socket, from recvmsg like Linux', () => {
    const { rt, a, b } = makePair();
    const cli = a.createSocket('udp4');
    const errs: Error[] = [];
    cli.on('error', (e) => errs.push(e));
    let connected = false;
    cli.connect(9999, B, () => (connected = true));
    rt.run();
    expect(connected).toBe(true);
    expect(cli.address()).toEqual({ address: A, family: 'IPv4', port: expect.any(Number) });
    expect(cli.remoteAddress()).toEqual({ address: B, family: 'IPv4', port: 9999 });
    cli.send('knock');
    rt.advance(10);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ code: 'ECONNREFUSED', syscall: 'recvmsg', errno: -111, message: 'recvmsg ECONNREFUSED' });
    // The socket stays usable: it still sends, and hears the next refusal too.
    cli.send('knock again');
    rt.advance(10);
    expect(errs).toHaveLength(2);
    expect(b.net.snmp.UdpNoPorts).toBe(2);
    cli.close();
  });

  it('reports ECONNREFUSED for its own closed port over loopback', () => {
    const { rt, a } = makePair();
    const cli = a.createSocket('udp4');
    const errs: Error[] = [];
    cli.on('error', (e) => errs.push(e));
    cli.connect(4444, '127.0.0.1');
    cli.send('x');
    rt.advance(5);
    expect(cli.address().address).toBe('127.0.0.1');
    expect(errs.map((e) => (e as Error & { code: string }).code)).toEqual(['ECONNREFUSED']);
    expect(a.net.snmp.UdpNoPorts).toBe(1);
    cli.close();
  });

  it('drops a datagram with a bad checksum (UdpInCsumErrors + UdpInErrors), without an ICMP error', () => {
    const { rt, a, b } = makePair();
    const srv = b.createSocket('udp4');
    const got = collect(srv);
    srv.bind(6000);
    rt.run();
    rawUdp(a, { saddr: A_IP, daddr: B_IP, sport: 1234, dport: 6000, data: payload(1, 100), checksum: 'bad' });
    rawUdp(a, { saddr: A_IP, daddr: B_IP, sport: 1234, dport: 6001, data: payload(1, 100), checksum: 'bad' });
    rt.advance(10);
    expect(got).toHaveLength(0);
    expect(b.net.snmp.UdpInCsumErrors).toBe(2);
    expect(b.net.snmp.UdpInErrors).toBe(2);
    expect(b.net.snmp.UdpNoPorts).toBe(0);
    expect(b.net.snmp.IcmpOutMsgs).toBe(0);
    expect(drops(b, 'udp-csum')).toBe(2);
    srv.close();
    rt.run();
    expectNoLeaks(a, b);
  });

  it('accepts a zero checksum (none computed, RFC 768) and a good one', () => {
    const { rt, a, b } = makePair();
    const srv = b.createSocket('udp4');
    const got = collect(srv);
    srv.bind(6000);
    rt.run();
    rawUdp(a, { saddr: A_IP, daddr: B_IP, sport: 1234, dport: 6000, data: payload(2, 300), checksum: 'zero' });
    rawUdp(a, { saddr: A_IP, daddr: B_IP, sport: 1235, dport: 6000, data: payload(3, 3000), checksum: 'zero' });
    rawUdp(a, { saddr: A_IP, daddr: B_IP, sport: 1236, dport: 6000, data: payload(4, 20), checksum: 'good' });
    rt.advance(10);
    expect(got.map((g) => [g.rinfo.port, g.msg.length])).toEqual([[1234, 300], [1235, 3000], [1236, 20]]);
    expect(got[0]!.msg.equals(payload(2, 300))).toBe(true);
    expect(got[1]!.msg.equals(payload(3, 3000))).toBe(true);
    expect(b.net.snmp.UdpInCsumErrors).toBe(0);
    srv.close();
  });

  it('drops a datagram whose length field is wrong (UdpInErrors), and ignores bytes past a short one', () => {
    const { rt, a, b } = makePair();
    const srv = b.createSocket('udp4');
    const got = collect(srv);
    srv.bind(6000);
    rt.run();
    // Claims more than IP carried, then less than a header.
    rawUdp(a, { saddr: A_IP, daddr: B_IP, sport: 1, dport: 6000, data: payload(1, 10), checksum: 'zero', lengthField: 19 });
    rawUdp(a, { saddr: A_IP, daddr: B_IP, sport: 1, dport: 6000, data: payload(1, 10), checksum: 'zero', lengthField: 7 });
    // Claims 8 + 4: the 6 bytes after them are not part of the datagram.
    rawUdp(a, { saddr: A_IP, daddr: B_IP, sport: 2, dport: 6000, data: payload(9, 10), checksum: 'zero', lengthField: 12 });
    rt.advance(10);
    expect(b.net.snmp.UdpInErrors).toBe(2);
    expect(drops(b, 'pkt-too-small')).toBe(2);
    expect(got.map((g) => g.msg)).toEqual([payload(9, 10).subarray(0, 4)]);
    srv.close();
  });

  it('drops what does not fit the receive buffer (UdpRcvbufErrors + UdpInErrors)', () => {
    const { rt, a, b } = makePair();
    const srv = b.createSocket('udp4');
    const got = collect(srv);
    srv.bind(6000);
    srv.setRecvBufferSize(4096);
    expect(srv.getRecvBufferSize()).toBe(8192); // Linux doubles SO_RCVBUF
    const cli = a.createSocket('udp4');
    cli.send('warm up ARP', 6000, B);
    rt.advance(10);
    expect(got).toHaveLength(1);
    // A burst that arrives in one softirq round, before the reader runs.
    const N = 20;
    for (let i = 0; i < N; i++) cli.send(payload(i, 1000), 6000, B);
    rt.advance(10);
    const delivered = got.length - 1;
    const dropped = b.net.snmp.UdpRcvbufErrors;
    expect(dropped).toBeGreaterThan(0);
    expect(delivered + dropped).toBe(N);
    // Each 1000-byte datagram is charged its 2 KiB buffer + 256: at least 8192 / 2304 fit.
    expect(delivered).toBeGreaterThanOrEqual(3);
    expect(b.net.snmp.UdpInErrors).toBe(dropped);
    expect(drops(b, 'udp-rcvbuf')).toBe(dropped);
    expect(srv.drops).toBe(dropped);
    // What did arrive is whole and in order.
    const seqs = got.slice(1).map((g) => g.msg.readUInt32BE(0));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    for (const g of got.slice(1)) expect(g.msg.equals(payload(g.msg.readUInt32BE(0), 1000))).toBe(true);
    closeAll(srv, cli);
    rt.run();
    expectNoLeaks(a, b);
  });

  it('counts what the qdisc refuses as UdpSndbufErrors and, like Linux, does not fail the send', () => {
    const { rt, a, b, devA } = makePair({ txQueueLen: 2 });
    const srv = b.createSocket('udp4');
    srv.bind(5000);
    const cli = a.createSocket('udp4');
    cli.send('warm up ARP', 5000, B);
    rt.advance(5);
    const results: Array<Error | null> = [];
    const N = 600;
    for (let i = 0; i < N; i++) cli.send(Buffer.alloc(100), 5000, B, (e) => results.push(e));
    rt.advance(10);
    const s = a.net.snmp;
    expect(results).toEqual(new Array(N).fill(null)); // ENOBUFS is hidden without IP_RECVERR
    expect(s.UdpSndbufErrors).toBeGreaterThan(0);
    expect(s.UdpSndbufErrors).toBe(devA.qdisc.stats.drops);
    expect(s.UdpOutDatagrams + s.UdpSndbufErrors).toBe(N + 1);
    closeAll(srv, cli);
    rt.run();
    expectNoLeaks(a, b);
  });

  it('gives a datagram to the socket bound to its address before the one bound to 0.0.0.0', () => {
    const { rt, a } = makePair();
    const any = a.createSocket({ type: 'udp4', reuseAddr: true });
    const specific = a.createSocket({ type: 'udp4', reuseAddr: true });
    const gotAny = collect(any);
    const gotSpecific = collect(specific);
    specific.bind(5353, A); // bound first: order must not matter
    any.bind(5353);
    const cli = a.createSocket('udp4');
    cli.send('to 10.0.0.1', 5353, A);
    cli.send('to 127.0.0.1', 5353, '127.0.0.1');
    rt.advance(5);
    expect(gotSpecific.map((g) => g.msg.toString())).toEqual(['to 10.0.0.1']);
    expect(gotAny.map((g) => g.msg.toString())).toEqual(['to 127.0.0.1']);
    closeAll(any, specific, cli);
  });

  it('gives a connected socket the datagrams of its peer, and only those', () => {
    const { rt, a, b } = makePair();
    const open = b.createSocket({ type: 'udp4', reuseAddr: true });
    const peer = b.createSocket({ type: 'udp4', reuseAddr: true });
    const gotOpen = collect(open);
    const gotPeer = collect(peer);
    open.bind(5353, B);
    peer.bind(5353);
    const c1 = a.createSocket('udp4');
    const c2 = a.createSocket('udp4');
    c1.bind(40001);
    c2.bind(40002);
    peer.connect(40001, A);
    rt.run();
    c1.send('from 40001', 5353, B);
    c2.send('from 40002', 5353, B);
    rt.advance(10);
    // The connected wildcard socket scores higher than the unconnected specific one for its peer.
    expect(gotPeer.map((g) => g.msg.toString())).toEqual(['from 40001']);
    expect(gotOpen.map((g) => g.msg.toString())).toEqual(['from 40002']);
    // connect() gave it the route's source address.
    expect(peer.address().address).toBe(B);
    peer.disconnect();
    expect(peer.address().address).toBe('0.0.0.0');
    closeAll(open, peer, c1, c2);
  });

  it('refuses a taken port with EADDRINUSE, and shares it between different addresses', () => {
    const { rt, a } = makePair();
    const first = a.createSocket('udp4');
    first.bind(5000);
    const second = a.createSocket('udp4');
    const errs: Error[] = [];
    second.on('error', (e) => errs.push(e));
    second.bind(5000);
    const third = a.createSocket('udp4');
    third.on('error', (e) => errs.push(e));
    third.bind(5000, A); // 0.0.0.0:5000 covers 10.0.0.1:5000 too
    rt.run();
    expect(errs.map((e) => e.message)).toEqual(['bind EADDRINUSE 0.0.0.0:5000', `bind EADDRINUSE ${A}:5000`]);
    expect(errs[0]).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind', errno: -98, address: '0.0.0.0', port: 5000 });
    // A failed bind leaves the socket unbound: it may try again.
    let listening = false;
    second.bind(5001, () => (listening = true));
    rt.run();
    expect(listening).toBe(true);

    const lo = a.createSocket('udp4');
    const eth = a.createSocket('udp4');
    lo.bind(6000, '127.0.0.1');
    eth.bind(6000, A);
    const bindErrs: Error[] = [];
    lo.on('error', (e) => bindErrs.push(e));
    eth.on('error', (e) => bindErrs.push(e));
    rt.run();
    expect(bindErrs).toEqual([]);
    expect(eth.address()).toEqual({ address: A, family: 'IPv4', port: 6000 });
    // Closing frees the port.
    first.close();
    const again = a.createSocket('udp4');
    again.bind(5000);
    rt.run();
    expect(again.address().port).toBe(5000);
    closeAll(second, third, lo, eth, again);
  });

  it('delivers a broadcast to every socket bound to 0.0.0.0 on its port, never with an ICMP error', () => {
    const { rt, a, b } = makePair();
    const s1 = b.createSocket({ type: 'udp4', reuseAddr: true });
    const s2 = b.createSocket({ type: 'udp4', reuseAddr: true });
    const s3 = b.createSocket({ type: 'udp4', reuseAddr: true });
    const g1 = collect(s1);
    const g2 = collect(s2);
    const g3 = collect(s3);
    s1.bind(6767);
    s2.bind(6767);
    s3.bind(6767, B); // a unicast address does not get broadcasts
    const cli = a.createSocket('udp4');
    const errs: Array<Error | null> = [];
    cli.send('hello all', 6767, '10.0.0.255', (e) => errs.push(e));
    rt.advance(5);
    expect(errs[0]).toMatchObject({ code: 'EACCES', syscall: 'send' }); // no SO_BROADCAST
    cli.setBroadcast(true);
    cli.send('hello all', 6767, '10.0.0.255', (e) => errs.push(e));
    cli.send('hello all', 6767, '255.255.255.255', (e) => errs.push(e));
    cli.send('nobody', 6768, '10.0.0.255', (e) => errs.push(e));
    rt.advance(5);
    expect(errs.slice(1)).toEqual([null, null, null]);
    expect(g1.map((g) => g.msg.toString())).toEqual(['hello all', 'hello all']);
    expect(g2.map((g) => g.msg.toString())).toEqual(['hello all', 'hello all']);
    expect(g3).toEqual([]);
    expect(b.net.snmp.UdpIgnoredMulti).toBe(1);
    expect(b.net.snmp.UdpNoPorts).toBe(0);
    expect(b.net.snmp.IcmpOutMsgs).toBe(0);
    closeAll(s1, s2, s3, cli);
    rt.run();
    expectNoLeaks(a, b);
  });

  it('reports ENETUNREACH when there is no route', () => {
    const { rt, a } = makePair();
    const cli = a.createSocket('udp4');
    const errs: Array<Error | null> = [];
    cli.send('x', 53, '192.0.2.1', (e) => errs.push(e));
    cli.on('error', (e) => errs.push(e));
    cli.connect(53, '192.0.2.1');
    rt.run();
    expect(errs).toHaveLength(2);
    expect(errs[0]).toMatchObject({ code: 'ENETUNREACH', syscall: 'send', message: 'send ENETUNREACH 192.0.2.1:53' });
    expect(errs[1]).toMatchObject({ code: 'ENETUNREACH', syscall: 'connect', message: 'connect ENETUNREACH 192.0.2.1:53' });
    expect(a.net.snmp.IpOutNoRoutes).toBe(2);
    expect(() => cli.remoteAddress()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' }));
    cli.close();
  });

  it('picks ephemeral ports in 32768-60999 from the seeded generator, never twice', () => {
    const { rt, a } = makePair();
    const socks: UdpSocket[] = [];
    const ports = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const s = a.createSocket('udp4');
      s.bind(0);
      const p = s.address().port;
      expect(p).toBeGreaterThanOrEqual(32768);
      expect(p).toBeLessThanOrEqual(60999);
      ports.add(p);
      socks.push(s);
    }
    expect(ports.size).toBe(2000);
    // The same seed, the same ports.
    const again = makePair();
    const s = again.a.createSocket('udp4');
    s.bind();
    expect(s.address().port).toBe(socks[0]!.address().port);
    closeAll(...socks, s);
    rt.run();
  });

  it('runs the echo service (RFC 862): every datagram comes back unchanged', async () => {
    const { rt, a, b } = makePair();
    const started = startUdpEcho(b);
    rt.run();
    const echo = await started;
    expect(echo.port).toBe(7);
    const cli = a.createSocket('udp4');
    const got = collect(cli);
    const sizes = [0, 1, 512, 1472, 8000];
    sizes.forEach((n, i) => cli.send(payload(i, n), 7, B));
    rt.advance(20);
    expect(got.map((g) => g.msg.length)).toEqual(sizes);
    got.forEach((g, i) => {
      expect(g.msg.equals(payload(i, sizes[i]!))).toBe(true);
      expect(g.rinfo).toMatchObject({ address: B, port: 7 });
    });
    expect(echo.stats).toMatchObject({ echoed: sizes.length, bytes: sizes.reduce((x, y) => x + y, 0), refused: 0 });
    // It does not answer another small service (no echo/chargen ping-pong).
    const chargen = a.createSocket('udp4');
    const loops = collect(chargen);
    chargen.bind(19);
    chargen.send('loop?', 7, B);
    rt.advance(20);
    expect(loops).toEqual([]);
    expect(echo.stats.refused).toBe(1);
    // A second echo service on the same port cannot start.
    const dup = startUdpEcho(b);
    rt.run();
    await expect(dup).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const closed = echo.close();
    rt.run();
    await closed;
    closeAll(cli, chargen);
    rt.run();
    expectNoLeaks(a, b);
  });

  it('moves many small datagrams both ways without losing any on a clean link', () => {
    const { rt, a, b } = makePair();
    const sa = a.createSocket('udp4');
    const sb = b.createSocket('udp4');
    sa.bind(1111);
    sb.bind(2222);
    const ga = collect(sa);
    const gb = collect(sb);
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 50; i++) {
        sa.send(payload(round * 50 + i, 64), 2222, B);
        sb.send(payload(round * 50 + i, 64), 1111, A);
      }
      rt.advance(2);
    }
    rt.advance(10);
    expect(ga).toHaveLength(500);
    expect(gb).toHaveLength(500);
    expect(gb.map((g) => g.msg.readUInt32BE(0))).toEqual([...Array(500).keys()]);
    expect(parseIpv4(ga[0]!.rinfo.address)).toBe(B_IP);
    closeAll(sa, sb);
    rt.run();
    expectNoLeaks(a, b);
  });
});
