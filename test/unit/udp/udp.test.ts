// The UDP protocol on its own: the bind table (conflicts, SO_REUSEADDR,
// ephemeral ports), the demultiplexing score, receive-buffer accounting and
// the ICMP error mapping, driven directly through Udp and UdpSock on one
// stack (loopback only) and a virtual clock.
import { describe, expect, it } from 'vitest';
import { SeededRandom, VirtualRuntime } from '../../../src/core/runtime.js';
import type { IcmpErrorInfo } from '../../../src/ipv4/icmp.js';
import { Stack } from '../../../src/stack.js';
import { UDP_MAX_PAYLOAD, UdpSock, type UdpErrno } from '../../../src/udp/udp.js';
import { parseIpv4 } from '../../../src/wire/address.js';
import { UdpDatagram } from '../../../src/wire/udp.js';

const LO = 0x7f000001;
const ETH = parseIpv4('192.168.7.2')!;
const PEER = parseIpv4('192.168.7.9')!;

function stack(seed = 1): { rt: VirtualRuntime; s: Stack } {
  const rt = new VirtualRuntime({ seed });
  const s = new Stack({ runtime: rt });
  // A second local address with no device traffic: a loopback-driven "eth".
  s.fib.addAddress(s.lo, ETH, 24);
  return { rt, s };
}

function sock(o: Partial<UdpSock> = {}): UdpSock {
  return Object.assign(new UdpSock(), o);
}

describe('Udp bind table', () => {
  it('binds, refuses an overlapping address on the same port, and frees it on unhash', () => {
    const { s } = stack();
    const u = s.udp;
    const any = sock();
    expect(u.bind(any, 0, 53)).toBeNull();
    expect(any).toMatchObject({ laddr: 0, lport: 53, bindAddrLocked: false });
    expect(u.bind(sock(), 0, 53)).toBe('EADDRINUSE');
    expect(u.bind(sock(), LO, 53)).toBe('EADDRINUSE');
    expect(u.bind(sock(), LO, 54)).toBeNull();
    expect(u.bind(any, 0, 55)).toBe('EINVAL'); // already bound
    u.unhash(any);
    expect(any.lport).toBe(0);
    const lo = sock();
    const eth = sock();
    expect(u.bind(lo, LO, 53)).toBeNull();
    expect(u.bind(eth, ETH, 53)).toBeNull(); // different addresses share a port
    expect(lo.bindAddrLocked).toBe(true);
    expect(u.bind(sock(), 0, 53)).toBe('EADDRINUSE'); // the wildcard overlaps both
    expect(u.size).toBe(3);
  });

  it('lets SO_REUSEADDR sockets share a port only with each other', () => {
    const { s } = stack();
    const u = s.udp;
    expect(u.bind(sock({ reuseAddr: true }), 0, 67)).toBeNull();
    expect(u.bind(sock({ reuseAddr: true }), 0, 67)).toBeNull();
    expect(u.bind(sock({ reuseAddr: true }), LO, 67)).toBeNull();
    expect(u.bind(sock(), 0, 67)).toBe('EADDRINUSE');
  });

  it('binds only to local or broadcast addresses (EADDRNOTAVAIL)', () => {
    const { s } = stack();
    const u = s.udp;
    expect(u.bind(sock(), PEER, 1000)).toBe('EADDRNOTAVAIL');
    expect(u.bind(sock(), parseIpv4('192.168.7.255')!, 1000)).toBeNull();
    expect(u.bind(sock(), 0xffffffff, 1001)).toBeNull();
  });

  it('draws ephemeral ports from ip_local_port_range and runs out with EADDRINUSE', () => {
    const { s } = stack(42);
    const u = s.udp;
    u.params.localPortRange = [40000, 40003];
    const got: number[] = [];
    for (let i = 0; i < 4; i++) {
      const k = sock();
      expect(u.bind(k, 0, 0)).toBeNull();
      got.push(k.lport);
    }
    expect([...got].sort()).toEqual([40000, 40001, 40002, 40003]);
    const k = sock();
    expect(u.bind(k, 0, 0)).toBe('EADDRINUSE');
    expect(k.lport).toBe(0);
    // Every port is held on 0.0.0.0, which covers each specific address too.
    const onLo = sock();
    expect(u.bind(onLo, LO, 0)).toBe('EADDRINUSE'); // wildcard holders cover every address
  });

  it('starts the ephemeral search at a random port: two seeds, two first ports', () => {
    const p = (seed: number): number => {
      const k = sock();
      stack(seed).s.udp.bind(k, 0, 0);
      return k.lport;
    };
    expect(p(1)).toBe(p(1));
    expect(p(1)).not.toBe(p(2));
  });
});

describe('Udp lookup (compute_score)', () => {
  it('prefers the exact local address, then a connected match, then the latest bound', () => {
    const { s } = stack();
    const u = s.udp;
    const wild = sock({ reuseAddr: true });
    const wildConnected = sock({ reuseAddr: true });
    const exact = sock({ reuseAddr: true });
    u.bind(wild, 0, 9000);
    u.bind(wildConnected, 0, 9000);
    wildConnected.raddr = PEER;
    wildConnected.rport = 1234;
    expect(u.lookup(PEER, 1234, ETH, 9000)).toBe(wildConnected);
    expect(u.lookup(PEER, 1235, ETH, 9000)).toBe(wild); // the connected one must match the peer
    u.bind(exact, ETH, 9000);
    expect(u.lookup(PEER, 1234, ETH, 9000)).toBe(exact); // specific address before any wildcard
    expect(u.lookup(PEER, 1234, LO, 9000)).toBe(wildConnected);
    expect(u.lookup(PEER, 1234, ETH, 9001)).toBeNull();
    const later = sock({ reuseAddr: true });
    u.bind(later, ETH, 9000);
    expect(u.lookup(PEER, 1, ETH, 9000)).toBe(later);
  });

  it('connect takes the route source address and disconnect gives it back', () => {
    const { s } = stack();
    const u = s.udp;
    const k = sock();
    expect(u.connect(k, LO, 7)).toBeNull();
    expect(k.lport).toBeGreaterThanOrEqual(32768);
    expect(k).toMatchObject({ laddr: LO, raddr: LO, rport: 7, connected: true });
    u.disconnect(k);
    expect(k).toMatchObject({ laddr: 0, raddr: 0, rport: 0, connected: false });
    const bound = sock();
    u.bind(bound, ETH, 0);
    u.connect(bound, LO, 7);
    u.disconnect(bound);
    expect(bound.laddr).toBe(ETH); // bound by the user: kept
    expect(u.connect(sock(), parseIpv4('10.9.9.9')!, 7)).toBe('ENETUNREACH');
    const bcast = parseIpv4('192.168.7.255')!;
    expect(u.connect(sock(), bcast, 7)).toBe('EACCES');
    expect(u.connect(sock({ broadcast: true }), bcast, 7)).toBeNull();
    // 255.255.255.255 leaves by the first real device; there is none here.
    expect(u.connect(sock({ broadcast: true }), 0xffffffff, 7)).toBe('ENETUNREACH');
  });
});

describe('Udp send checks', () => {
  it('refuses oversize, unroutable and broadcast sends with the errno Linux gives', () => {
    const { s } = stack();
    const u = s.udp;
    const k = sock();
    u.bind(k, 0, 0);
    const big = new Uint8Array(UDP_MAX_PAYLOAD + 1);
    expect(UDP_MAX_PAYLOAD).toBe(65507);
    expect(u.sendto(k, LO, 9, [big], big.length)).toBe<UdpErrno>('EMSGSIZE');
    expect(u.sendto(k, parseIpv4('10.9.9.9')!, 9, [], 0)).toBe('ENETUNREACH');
    expect(s.net.snmp.IpOutNoRoutes).toBe(1);
    expect(u.sendto(k, parseIpv4('192.168.7.255')!, 9, [], 0)).toBe('EACCES');
    expect(s.net.snmp.UdpOutDatagrams).toBe(0);
    expect(u.sendto(k, LO, 9, [new Uint8Array(3)], 3)).toBeNull();
    expect(s.net.snmp.UdpOutDatagrams).toBe(1);
  });
});

describe('Udp receive queue', () => {
  it('charges each datagram its buffer + 256 and takes one more while at or under sk_rcvbuf', () => {
    const { rt, s } = stack();
    const u = s.udp;
    const rx = sock();
    u.bind(rx, 0, 7777);
    rx.rcvbuf = 2304 * 2; // room for two 2 KiB-buffer datagrams
    let ready = 0;
    rx.dataReady = () => ready++;
    const tx = sock();
    u.bind(tx, 0, 0);
    for (let i = 0; i < 5; i++) u.sendto(tx, LO, 7777, [new Uint8Array([i])], 1);
    rt.run();
    // 0 → 2304 → 4608 (= rcvbuf, still not over) → 6912: three queued, two dropped.
    expect(rx.queue.length).toBe(3);
    expect(rx.rmem).toBe(3 * 2304);
    expect(rx.drops).toBe(2);
    expect(ready).toBe(1); // woken once, when the queue stopped being empty
    expect(s.net.snmp).toMatchObject({ UdpRcvbufErrors: 2, UdpInErrors: 2, UdpInDatagrams: 0 });
    const pb = u.recv(rx)!;
    expect(pb.buf[pb.head + 8]).toBe(0);
    pb.free();
    expect(rx.rmem).toBe(2 * 2304);
    expect(s.net.snmp.UdpInDatagrams).toBe(1);
    u.unhash(rx); // frees the rest
    expect(rx.rmem).toBe(0);
    expect(s.net.pool.stats.inUse).toBe(0);
  });
});

describe('Udp ICMP errors', () => {
  function info(type: number, code: number, local: number, lport: number, remote: number, rport: number): IcmpErrorInfo {
    const buf = new Uint8Array(8);
    const d = new UdpDatagram().wrap(buf);
    d.srcPort = lport;
    d.dstPort = rport;
    d.length = 8;
    return { type, code, mtu: 0, saddr: local, daddr: remote, buf, off: 0, len: 8 };
  }

  it('reports hard errors to a connected socket only, as Linux without IP_RECVERR', () => {
    const { s } = stack();
    const u = s.udp;
    const conn = sock();
    const open = sock();
    const heard: Array<[string, UdpErrno]> = [];
    conn.errorReport = (e) => heard.push(['conn', e]);
    open.errorReport = (e) => heard.push(['open', e]);
    u.bind(open, 0, 5000);
    u.connect(conn, PEER, 53);
    const cases: Array<[number, number, UdpErrno | null]> = [
      [3, 3, 'ECONNREFUSED'], // port unreachable
      [3, 2, 'ENOPROTOOPT'], // protocol unreachable
      [3, 13, 'EHOSTUNREACH'], // administratively prohibited
      [12, 0, 'EPROTO'], // parameter problem
      [3, 0, null], // net unreachable: soft
      [3, 1, null], // host unreachable: soft
      [3, 4, null], // fragmentation needed: no DF sent, ignored
      [11, 0, null], // time exceeded: soft
    ];
    for (const [type, code, want] of cases) {
      heard.length = 0;
      u.err(info(type, code, conn.laddr, conn.lport, PEER, 53));
      u.err(info(type, code, ETH, 5000, PEER, 53));
      expect(heard, `type ${type} code ${code}`).toEqual(want ? [['conn', want]] : []);
    }
    // An error about a datagram of a socket that no longer exists: IcmpInErrors, as Linux counts it.
    const before = s.net.snmp.IcmpInErrors;
    u.err(info(3, 3, ETH, 5999, PEER, 53));
    expect(s.net.snmp.IcmpInErrors).toBe(before + 1);
  });
});

describe('Udp input fuzz', () => {
  it('takes any bytes without throwing, and accounts for every datagram exactly once', () => {
    const { rt, s } = stack(99);
    const rand = new SeededRandom(1234);
    const socks = [s.createSocket('udp4'), s.createSocket('udp4')];
    socks[0]!.bind(1000);
    socks[1]!.bind(1001, '127.0.0.1');
    let delivered = 0;
    for (const k of socks) k.on('message', () => delivered++);
    rt.run();
    const N = 3000;
    for (let i = 0; i < N; i++) {
      const len = rand.u32() % 120;
      const pb = s.ip.allocPayload(len);
      const at = pb.put(len);
      for (let j = 0; j < len; j++) pb.buf[at + j] = rand.u32() & 0xff;
      if (len >= 8) {
        const d = new UdpDatagram().wrap(pb.buf, at, len);
        // Mostly plausible headers, so that every branch is reached.
        if (rand.u32() % 4 !== 0) d.length = len - (rand.u32() % 3 === 0 ? rand.u32() % (len - 7) : 0);
        if (rand.u32() % 3 !== 0) d.dstPort = 1000 + (rand.u32() % 3);
        const c = rand.u32() % 3;
        if (c === 0) d.checksum = 0;
        else if (c === 1 && d.length >= 8 && d.length <= len) d.fillChecksum(LO, LO);
      }
      s.ip.output(pb, { saddr: LO, daddr: LO, protocol: 17 });
      if (i % 50 === 49) rt.run();
    }
    rt.run();
    const n = s.net.snmp;
    expect(delivered).toBe(n.UdpInDatagrams);
    expect(n.UdpInDatagrams + n.UdpInErrors + n.UdpNoPorts).toBe(N);
    expect(n.UdpInDatagrams).toBeGreaterThan(0);
    expect(n.UdpInCsumErrors).toBeGreaterThan(0);
    expect(n.UdpNoPorts).toBeGreaterThan(0);
    for (const k of socks) k.close();
    rt.run();
    expect(s.net.pool.stats.inUse).toBe(0);
  });
});
