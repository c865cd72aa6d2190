// udp: the User Datagram Protocol (RFC 768; RFC 1122 §4.1.3; Linux
// net/ipv4/udp.c). Holds the table of bound sockets (UdpSock, Linux's
// struct udp_sock), demultiplexes arriving datagrams to them, sends
// datagrams for them, and passes ICMP errors about what they sent back up.
//
//   rcv ─ header/length check (UdpInErrors) ─ trim to the UDP length
//       ─ checksum, 0 = none (UdpInCsumErrors + UdpInErrors)
//       ─ broadcast? → every matching socket gets a copy (UdpIgnoredMulti if none)
//       ─ lookup: specific local address, then 0.0.0.0; connected sockets
//         score higher (compute_score) ─ none → UdpNoPorts + ICMP port unreachable
//       ─ receive queue, bounded by sk_rcvbuf in bytes (UdpRcvbufErrors + UdpInErrors)
//       ─ sk_data_ready → the socket layer reads the queue
//   send ─ EMSGSIZE over 65507 bytes ─ route and source address ─ UDP header
//        ─ checksum ─ Ipv4.output (fragments if over the MTU) ─ UdpOutDatagrams

import type { Net } from '../core/net.js';
import { Fifo } from '../core/fifo.js';
import { truesize, type PacketBuffer } from '../core/packetBuffer.js';
import type { NetDevice } from '../nic/device.js';
import type { Ipv4 } from '../ipv4/ip.js';
import type { Icmp, IcmpErrorInfo } from '../ipv4/icmp.js';
import type { Ipv4Addr } from '../wire/address.js';
import { ICMP_DEST_UNREACH, ICMP_PARAM_PROBLEM } from '../wire/icmp.js';
import { IPPROTO_UDP, IPV4_DEFAULT_TTL, IPV4_HEADER_LEN, isLimitedBroadcast, isLoopbackIpv4 } from '../wire/ipv4.js';
import { emitUdp, UDP_HLEN, UdpDatagram, type UdpRepr } from '../wire/udp.js';

/** The largest payload of one datagram: 65535 - 20 (IPv4 header) - 8 (UDP header). */
export const UDP_MAX_PAYLOAD = 0xffff - IPV4_HEADER_LEN - UDP_HLEN;

/** net.core.rmem_default / wmem_default and rmem_max / wmem_max (Linux defaults). */
export const UDP_RMEM_DEFAULT = 212992;
export const UDP_WMEM_DEFAULT = 212992;
export const UDP_RMEM_MAX = 212992;
export const UDP_WMEM_MAX = 212992;
/** SOCK_MIN_RCVBUF / SOCK_MIN_SNDBUF: one 2 KiB buffer plus its struct sk_buff. */
export const SOCK_MIN_RCVBUF = 2048 + 256;
export const SOCK_MIN_SNDBUF = 2 * (2048 + 256);

/** net.ipv4.ip_local_port_range (Linux default). */
export const DEFAULT_LOCAL_PORT_RANGE: readonly [number, number] = [32768, 60999];

/**
 * Errors the protocol reports, as the errno a socket call would return.
 * The socket layer turns them into Node-style Error objects.
 */
export type UdpErrno =
  | 'EADDRINUSE'
  | 'EADDRNOTAVAIL'
  | 'EMSGSIZE'
  | 'ENETUNREACH'
  | 'EHOSTUNREACH'
  | 'EACCES'
  | 'EINVAL'
  | 'ECONNREFUSED'
  | 'ENOPROTOOPT'
  | 'EHOSTDOWN'
  | 'ENONET'
  | 'EPROTO'
  | 'EPERM'; // a netfilter OUTPUT/POSTROUTING rule dropped the datagram (Linux: sendmsg → EPERM)

/**
 * icmp_err_convert (Linux net/ipv4/icmp.c): destination-unreachable codes to
 * errno, and whether the error is "hard" (reported to a connected socket
 * without IP_RECVERR).
 */
const UNREACH_ERRNO: ReadonlyArray<readonly [UdpErrno, boolean]> = [
  ['ENETUNREACH', false], // 0 net unreachable
  ['EHOSTUNREACH', false], // 1 host unreachable
  ['ENOPROTOOPT', true], // 2 protocol unreachable
  ['ECONNREFUSED', true], // 3 port unreachable
  ['EMSGSIZE', false], // 4 fragmentation needed (handled apart)
  ['EINVAL', false], // 5 source route failed (EOPNOTSUPP in Linux; soft either way)
  ['ENETUNREACH', true], // 6 destination network unknown
  ['EHOSTDOWN', true], // 7 destination host unknown
  ['ENONET', true], // 8 source host isolated
  ['ENETUNREACH', true], // 9 network administratively prohibited
  ['EHOSTUNREACH', true], // 10 host administratively prohibited
  ['ENETUNREACH', false], // 11 network unreachable for TOS
  ['EHOSTUNREACH', false], // 12 host unreachable for TOS
  ['EHOSTUNREACH', true], // 13 communication administratively prohibited
  ['EHOSTUNREACH', false], // 14 host precedence violation
  ['EHOSTUNREACH', true], // 15 precedence cutoff
];

/**
 * UdpSock: one UDP socket as the protocol sees it (struct udp_sock) — its
 * addresses, options, and the receive queue of datagrams not yet read. The
 * queue holds the PacketBuffers themselves (head at the UDP header, saddr
 * set), charged at their true size against `rcvbuf`, as Linux charges
 * skb->truesize against sk_rcvbuf.
 */
export class UdpSock {
  /** Local address (inet_rcv_saddr); 0 = every local address. */
  laddr: Ipv4Addr = 0;
  /** Local port; 0 = not bound (not in the table). */
  lport = 0;
  /** Remote address and port when connected, else 0. */
  raddr: Ipv4Addr = 0;
  rport = 0;
  /** The user bound a specific address (SOCK_BINDADDR_LOCK): disconnect keeps it. */
  bindAddrLocked = false;
  /** SO_REUSEADDR: may share its port with other SO_REUSEADDR sockets. */
  reuseAddr = false;
  /** SO_BROADCAST: may send to broadcast addresses. */
  broadcast = false;
  /** IP_TTL for what it sends. */
  ttl = IPV4_DEFAULT_TTL;
  /**
   * SO_RCVBUF / SO_SNDBUF in bytes (the doubled value getsockopt reports).
   * sndbuf is kept and reported only: a send never waits for buffer space
   * here (buffers carry no owner to uncharge when freed), so the one send-side
   * overflow is the qdisc's, counted as UdpSndbufErrors.
   */
  rcvbuf = UDP_RMEM_DEFAULT;
  sndbuf = UDP_WMEM_DEFAULT;
  /** Bytes charged for queued datagrams (sk_rmem_alloc). */
  rmem = 0;
  /** Datagrams dropped because the queue was full (sk_drops). */
  drops = 0;
  /** @internal The receive queue (sk_receive_queue). */
  readonly queue = new Fifo<PacketBuffer>();
  /** Called when a datagram is queued on an empty queue (sk_data_ready). */
  dataReady: () => void = () => {};
  /** Called with a hard error from ICMP for a connected socket (sk_error_report). */
  errorReport: (errno: UdpErrno) => void = () => {};

  get connected(): boolean {
    return this.rport !== 0;
  }

  /** Takes the next queued datagram (head at its UDP header) and uncharges it; the caller frees it. */
  dequeue(): PacketBuffer | null {
    const pb = this.queue.shift();
    if (!pb) return null;
    this.rmem -= truesize(pb);
    return pb;
  }
}


export interface UdpParams {
  /** ip_local_port_range, inclusive. */
  localPortRange: readonly [number, number];
}

/** Where a datagram to some address leaves: ip_route_output's answer, as UDP needs it. */
interface OutRoute {
  dev: NetDevice;
  saddr: Ipv4Addr;
  broadcast: boolean;
}

export class Udp {
  /** Bound sockets by local port (udp_table's hslot); each list in binding order. */
  private readonly table = new Map<number, UdpSock[]>();
  private readonly view = new UdpDatagram();
  private readonly repr: UdpRepr = { srcPort: 0, dstPort: 0, payloadLen: 0 };
  private readonly out: OutRoute = { dev: null as unknown as NetDevice, saddr: 0, broadcast: false };
  readonly params: UdpParams;

  constructor(
    private readonly net: Net,
    private readonly ip: Ipv4,
    private readonly icmp: Icmp,
    params: Partial<UdpParams> = {},
  ) {
    this.params = { localPortRange: DEFAULT_LOCAL_PORT_RANGE, ...params };
    ip.addProtocol(IPPROTO_UDP, this.rcv);
    icmp.addErrorHandler(IPPROTO_UDP, this.err);
  }

  /** Number of bound sockets. */
  get size(): number {
    let n = 0;
    for (const l of this.table.values()) n += l.length;
    return n;
  }

  // ---- binding --------------------------------------------------------------

  /**
   * inet_bind + udp_v4_get_port: binds `sk` to addr:port; port 0 picks a
   * free ephemeral port. `addr` must be 0 or one of this host's addresses.
   */
  bind(sk: UdpSock, addr: Ipv4Addr, port: number): UdpErrno | null {
    if (sk.lport !== 0) return 'EINVAL';
    // inet_bind: a local, or a broadcast, address (RTN_LOCAL / RTN_BROADCAST).
    if (addr !== 0 && !this.ip.fib.isLocal(addr) && !this.isBroadcastAddr(addr)) return 'EADDRNOTAVAIL';
    sk.laddr = addr;
    if (port === 0) {
      const p = this.ephemeralPort(sk);
      if (p === 0) {
        sk.laddr = 0;
        return 'EADDRINUSE';
      }
      port = p;
    } else if (this.inUse(sk, port, addr)) {
      sk.laddr = 0;
      return 'EADDRINUSE';
    }
    sk.lport = port;
    sk.bindAddrLocked = addr !== 0;
    const list = this.table.get(port);
    if (list) list.push(sk);
    else this.table.set(port, [sk]);
    return null;
  }

  private isBroadcastAddr(a: Ipv4Addr): boolean {
    if (isLimitedBroadcast(a)) return true;
    for (const ifa of this.ip.fib.addresses) if (ifa.broadcast === a) return true;
    return false;
  }

  /** udp_lib_lport_inuse: another socket holds `port` on an overlapping address. */
  private inUse(sk: UdpSock, port: number, addr: Ipv4Addr): boolean {
    const list = this.table.get(port);
    if (!list) return false;
    for (const o of list) {
      if (o === sk) continue;
      if (sk.reuseAddr && o.reuseAddr) continue;
      if (o.laddr === 0 || addr === 0 || o.laddr === addr) return true;
    }
    return false;
  }

  /**
   * A free port in ip_local_port_range, starting at a random one (the
   * runtime's generator) and walking on, as udp_lib_get_port does; 0 if
   * every port is taken.
   */
  private ephemeralPort(sk: UdpSock): number {
    const [low, high] = this.params.localPortRange;
    const n = high - low + 1;
    const start = this.net.rt.random.u32() % n;
    for (let i = 0; i < n; i++) {
      const port = low + ((start + i) % n);
      if (!this.inUse(sk, port, sk.laddr)) return port;
    }
    return 0;
  }

  /** udp_lib_unhash: takes `sk` out of the table and frees what it had queued. */
  unhash(sk: UdpSock): void {
    if (sk.lport !== 0) {
      const list = this.table.get(sk.lport);
      if (list) {
        const i = list.indexOf(sk);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.table.delete(sk.lport);
      }
    }
    sk.lport = 0;
    for (let pb = sk.dequeue(); pb; pb = sk.dequeue()) pb.free();
  }

  /**
   * ip4_datagram_connect: fixes the peer; a socket bound to 0.0.0.0 takes
   * the source address of the route as its local address (and so moves up
   * to the specific-address demux). Binds an ephemeral port if unbound.
   */
  connect(sk: UdpSock, daddr: Ipv4Addr, dport: number): UdpErrno | null {
    const r = this.routeOut(daddr, sk.laddr);
    if (typeof r === 'string') return r;
    if (r.broadcast && !sk.broadcast) return 'EACCES';
    if (sk.lport === 0) {
      const e = this.bind(sk, 0, 0);
      if (e) return e;
      sk.bindAddrLocked = false;
    }
    if (sk.laddr === 0) sk.laddr = r.saddr;
    sk.raddr = daddr;
    sk.rport = dport;
    return null;
  }

  /**
   * udp_disconnect: forgets the peer; the local address goes back to 0.0.0.0
   * unless the user bound one. (Linux also gives up an implicitly bound port
   * and picks a new one on the next send; here the port stays.)
   */
  disconnect(sk: UdpSock): void {
    sk.raddr = 0;
    sk.rport = 0;
    if (!sk.bindAddrLocked) sk.laddr = 0;
  }

  // ---- receive ----------------------------------------------------------------

  /** udp_rcv: the IPPROTO_UDP handler. `pb.head` is at the UDP header; owns `pb`. */
  readonly rcv = (pb: PacketBuffer): void => {
    const snmp = this.net.snmp;
    const d = this.view.wrap(pb.buf, pb.head, pb.len);
    if (d.check() !== null) {
      // A header cut short or a length field that disagrees with IP's: "short packet".
      snmp.UdpInErrors++;
      this.net.drop(pb, 'pkt-too-small');
      return;
    }
    pb.trim(d.length); // bytes past the UDP length are not part of the datagram
    // RFC 1122 §4.1.3.4: a zero checksum means none was sent; anything else must verify.
    if (!d.verifyChecksum(pb.saddr, pb.daddr)) {
      snmp.UdpInCsumErrors++;
      snmp.UdpInErrors++;
      this.net.drop(pb, 'udp-csum');
      return;
    }
    const sport = d.srcPort;
    const dport = d.dstPort;
    // IP accepted it, so a destination that is not one of our addresses is a broadcast.
    if (!this.ip.fib.isLocal(pb.daddr)) {
      this.broadcastDeliver(pb, sport, dport);
      return;
    }
    const sk = this.lookup(pb.saddr, sport, pb.daddr, dport);
    if (!sk) {
      snmp.UdpNoPorts++;
      // RFC 1122 §4.1.3.1: port unreachable (Icmp.send applies the rate limits
      // and refuses errors about broadcasts).
      this.icmp.send(pb, ICMP_DEST_UNREACH, 3, 0);
      this.net.drop(pb, 'udp-noport');
      return;
    }
    this.enqueue(sk, pb);
  };

  /**
   * __udp4_lib_lookup: the socket for a datagram saddr:sport → daddr:dport.
   * Sockets bound to daddr itself come before those bound to 0.0.0.0; among
   * them a connected socket must match the remote end and then wins
   * (compute_score); on a tie the one bound last wins (it is at the head of
   * Linux's hash chain).
   */
  lookup(saddr: Ipv4Addr, sport: number, daddr: Ipv4Addr, dport: number): UdpSock | null {
    const list = this.table.get(dport);
    if (!list) return null;
    let best: UdpSock | null = null;
    let bestScore = -1;
    for (let i = 0; i < list.length; i++) {
      const sk = list[i]!;
      let score: number;
      if (sk.laddr === daddr) score = 16; // the hslot2 (address, port) pass
      else if (sk.laddr === 0) score = 0; // the INADDR_ANY pass
      else continue;
      if (sk.raddr !== 0) {
        if (sk.raddr !== saddr) continue;
        score += 4;
      }
      if (sk.rport !== 0) {
        if (sk.rport !== sport) continue;
        score += 4;
      }
      if (score >= bestScore) {
        best = sk;
        bestScore = score;
      }
    }
    return best;
  }

  /**
   * __udp4_lib_mcast_deliver: a broadcast goes to every socket on its port
   * bound to 0.0.0.0 or to that broadcast address (and, if connected, to its
   * sender). Nobody listening is UdpIgnoredMulti, never an ICMP error.
   */
  private broadcastDeliver(pb: PacketBuffer, sport: number, dport: number): void {
    const list = this.table.get(dport);
    let last: UdpSock | null = null;
    if (list) {
      for (const sk of list) {
        if (sk.laddr !== 0 && sk.laddr !== pb.daddr) continue;
        if (sk.raddr !== 0 && sk.raddr !== pb.saddr) continue;
        if (sk.rport !== 0 && sk.rport !== sport) continue;
        if (last) this.enqueue(last, this.copy(pb));
        last = sk;
      }
    }
    if (last) {
      this.enqueue(last, pb);
      return;
    }
    this.net.snmp.UdpIgnoredMulti++;
    pb.free(); // consume_skb: not an error
  }

  /** A private copy of a received datagram for one more socket (skb_clone, copying here). */
  private copy(pb: PacketBuffer): PacketBuffer {
    const c = this.net.pool.alloc(pb.len, 0);
    c.buf.set(pb.data(), c.put(pb.len));
    c.saddr = pb.saddr;
    c.daddr = pb.daddr;
    c.ifindex = pb.ifindex;
    c.pktType = pb.pktType;
    c.transportHeader = c.head;
    return c;
  }

  /**
   * __udp_enqueue_schedule_skb: queues `pb` on `sk` unless the queue is over
   * sk_rcvbuf. Like Linux, a queue at or under the limit always takes one
   * more datagram, so even a tiny buffer holds one.
   */
  private enqueue(sk: UdpSock, pb: PacketBuffer): void {
    if (sk.rmem > sk.rcvbuf) {
      sk.drops++;
      this.net.snmp.UdpRcvbufErrors++;
      this.net.snmp.UdpInErrors++;
      this.net.drop(pb, 'udp-rcvbuf');
      return;
    }
    sk.rmem += truesize(pb);
    sk.queue.push(pb);
    if (sk.queue.length === 1) sk.dataReady();
  }

  /**
   * udp_recvmsg: takes the next datagram off `sk`'s queue (head at its UDP
   * header) and counts it read — Linux counts UdpInDatagrams here, when the
   * application gets it, not when it is queued. The caller frees it.
   */
  recv(sk: UdpSock): PacketBuffer | null {
    const pb = sk.dequeue();
    if (pb) this.net.snmp.UdpInDatagrams++;
    return pb;
  }

  /**
   * __udp4_lib_err: an ICMP error about a datagram we sent. Only a connected
   * socket hears of it, and only of hard errors (Linux without IP_RECVERR):
   * port unreachable becomes ECONNREFUSED.
   */
  readonly err = (info: IcmpErrorInfo): void => {
    if (info.len < UDP_HLEN) return;
    const d = this.view.wrap(info.buf, info.off, UDP_HLEN);
    // The quoted datagram went saddr:src → daddr:dst; look it up as if it came back.
    const sk = this.lookup(info.daddr, d.dstPort, info.saddr, d.srcPort);
    if (!sk) {
      this.net.snmp.IcmpInErrors++; // Linux counts an error for no socket here
      return;
    }
    let errno: UdpErrno;
    let hard: boolean;
    if (info.type === ICMP_DEST_UNREACH) {
      // Fragmentation needed: this stack sends without DF (IP_PMTUDISC_DONT), so ignore it.
      if (info.code === 4) return;
      const e = UNREACH_ERRNO[info.code];
      errno = e ? e[0] : 'EHOSTUNREACH';
      hard = e ? e[1] : false;
    } else if (info.type === ICMP_PARAM_PROBLEM) {
      errno = 'EPROTO';
      hard = true;
    } else {
      errno = 'EHOSTUNREACH'; // time exceeded and the rest: soft
      hard = false;
    }
    if (!hard || !sk.connected) return;
    sk.errorReport(errno);
  };

  // ---- send ---------------------------------------------------------------------

  /**
   * The device, source address and broadcast-ness for a datagram to `daddr`
   * from `laddr` (0: the route's choice) — the same choices Ipv4.output makes.
   * Counts IpOutNoRoutes when there is no route.
   */
  private routeOut(daddr: Ipv4Addr, laddr: Ipv4Addr): OutRoute | UdpErrno {
    const fib = this.ip.fib;
    const lo = this.ip.loopback;
    const rt = fib.lookup(daddr);
    let dev: NetDevice | null = null;
    if (rt) dev = rt.type === 'local' ? (lo ?? rt.dev) : rt.dev;
    else if (isLimitedBroadcast(daddr)) {
      for (const a of fib.addresses) {
        if (a.dev !== lo) {
          dev = a.dev;
          break;
        }
      }
    }
    if (!dev) {
      this.net.snmp.IpOutNoRoutes++;
      return 'ENETUNREACH';
    }
    const saddr = laddr || (rt && rt.prefsrc) || fib.selectSource(dev, daddr);
    // A loopback source never leaves through a real device (ip_route_output_key_hash: EINVAL).
    if (isLoopbackIpv4(saddr) && dev !== lo) return 'EINVAL';
    const o = this.out;
    o.dev = dev;
    o.saddr = saddr;
    o.broadcast = isLimitedBroadcast(daddr) || rt?.type === 'broadcast' || fib.isBroadcastOn(dev, daddr);
    return o;
  }

  /**
   * udp_sendmsg: sends one datagram of `len` bytes (the concatenation of
   * `chunks`) from `sk` to daddr:dport. `sk` must be bound. Returns the errno
   * of a failure, or null when the datagram was handed to IP.
   */
  sendto(sk: UdpSock, daddr: Ipv4Addr, dport: number, chunks: readonly Uint8Array[], len: number): UdpErrno | null {
    if (len > UDP_MAX_PAYLOAD) return 'EMSGSIZE';
    const r = this.routeOut(daddr, sk.laddr);
    if (typeof r === 'string') return r;
    // Without SO_BROADCAST a broadcast destination is refused (udp_sendmsg: EACCES).
    if (r.broadcast && !sk.broadcast) return 'EACCES';
    const { dev, saddr } = r;

    const pb = this.ip.allocPayload(UDP_HLEN + len);
    const at = pb.put(UDP_HLEN + len);
    const d = this.view.wrap(pb.buf, at, UDP_HLEN + len);
    const repr = this.repr;
    repr.srcPort = sk.lport;
    repr.dstPort = dport;
    repr.payloadLen = len;
    emitUdp(repr, d);
    let o = at + UDP_HLEN;
    for (const c of chunks) {
      pb.buf.set(c, o);
      o += c.length;
    }
    d.fillChecksum(saddr, daddr);
    pb.transportHeader = at;

    // A frame the qdisc refuses is ENOBUFS in Linux, which udp_sendmsg counts
    // as UdpSndbufErrors and hides from the caller (no IP_RECVERR).
    const qdrops = dev.qdisc.stats.drops;
    // Sent without DF (IP_PMTUDISC_DONT): there is no path-MTU cache to make use of it.
    const e = this.ip.output(pb, { saddr, daddr, protocol: IPPROTO_UDP, ttl: sk.ttl });
    if (e) return e;
    if (dev.qdisc.stats.drops !== qdrops) {
      this.net.snmp.UdpSndbufErrors++;
      return null;
    }
    this.net.snmp.UdpOutDatagrams++;
    return null;
  }
}
