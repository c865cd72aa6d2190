// tcp: the TCP protocol of one stack (Linux net/ipv4/tcp_ipv4.c): the
// receive handler registered for IPPROTO_TCP, the demux tables (connections
// by 4-tuple, then listeners by port), RSTs for segments nobody owns,
// listening sockets and their handshakes, active opens, ISNs (RFC 6528),
// SYN cookies (RFC 4987), and ICMP errors about our segments.

import { createHmac } from 'node:crypto';
import type { Net } from '../core/net.js';
import type { PacketBuffer } from '../core/packetBuffer.js';
import type { Icmp, IcmpErrorInfo } from '../ipv4/icmp.js';
import type { Ipv4 } from '../ipv4/ip.js';
import { IPPROTO_TCP, isLimitedBroadcast, isMulticastIpv4 } from '../wire/ipv4.js';
import { createTcpRepr, emitTcp, TCP_ACK, TCP_FIN, TCP_HLEN, TCP_RST, TCP_SYN, TcpSegment } from '../wire/tcp.js';
import { clearTcpOptions, parseTcpOptions, TcpOptions, tcpOptionsLength } from '../wire/tcpOptions.js';
import { DEFAULT_RCVBUF, DEFAULT_SNDBUF, TcpEndpoint, type EndpointOptions, wscaleFor } from './endpoint.js';
import { rcvSynchronized, rcvSynSent } from './input.js';
import { Listener, PreAcceptQueue, RequestSock } from './listen.js';
import { seqAdd } from './seqnum.js';
import { TcpState } from './state.js';

export interface TcpConfig {
  /** TIME-WAIT length, 2 MSL (Linux TCP_TIMEWAIT_LEN: 60 s). */
  timeWaitMs: number;
  /** tcp_fin_timeout: how long an orphaned connection may sit in FIN-WAIT-2. */
  finTimeoutMs: number;
  /** tcp_syncookies = 1: cookies when the SYN queue is full. */
  syncookies: boolean;
  /** tcp_synack_retries. */
  synackRetries: number;
  /** tcp_challenge_ack_limit (per second, stack-wide). */
  challengeAckLimit: number;
  /** ip_local_port_range. */
  portLow: number;
  portHigh: number;
  defaults: EndpointOptions;
}

export const DEFAULT_TCP_CONFIG: TcpConfig = {
  timeWaitMs: 60_000,
  finTimeoutMs: 60_000,
  syncookies: true,
  synackRetries: 5,
  challengeAckLimit: 1000,
  portLow: 32768,
  portHigh: 60999,
  defaults: { sndBuf: DEFAULT_SNDBUF, rcvBuf: DEFAULT_RCVBUF, congestion: 'cubic', noDelay: false },
};

/** RFC 4987 / Linux msstab: the MSS values a SYN cookie can encode (2 bits). */
const COOKIE_MSS = [536, 1300, 1440, 1460];
/** The timestamp option with its two NOPs of padding (Linux TCPOLEN_TSTAMP_ALIGNED). */
const TCPOLEN_TSTAMP_ALIGNED = 12;
const COOKIE_BITS = 24;
const COOKIE_MASK = (1 << COOKIE_BITS) - 1;
const COOKIE_MAX_AGE = 2; // minutes (Linux MAX_SYNCOOKIE_AGE)

/** The largest IPv4 datagram: a path MTU above it (lo's 65536) still carries at most this (Linux IPV4_MAX_PMTU). */
const IPV4_MAX_PMTU = 65535;
/** IPv4 and TCP headers without options: what MSS leaves out of the MTU (RFC 9293 §3.7.1). */
const TCP_IPV4_HLEN = 40;

function tupleKey(laddr: number, lport: number, raddr: number, rport: number): string {
  return `${laddr}:${lport}:${raddr}:${rport}`;
}

export class TcpProto {
  readonly config: TcpConfig;
  /** Connections: raddr·2^16 + rport → (laddr·2^16 + lport → endpoint). Numbers, so a lookup allocates nothing. */
  private conns = new Map<number, Map<number, TcpEndpoint>>();
  private listeners = new Map<number, Listener[]>();
  private readonly seg = new TcpSegment();
  private readonly opts = new TcpOptions();
  private readonly repr = createTcpRepr();
  private readonly secret: Buffer;
  private challengeTokens: number;
  private challengeAt: number;
  private nextPort: number;
  /** Every endpoint that is not CLOSED, for `ss`. */
  readonly endpoints = new Set<TcpEndpoint>();

  constructor(
    readonly net: Net,
    readonly ip: Ipv4,
    icmp: Icmp,
    config: Partial<TcpConfig> = {},
  ) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...config, defaults: { ...DEFAULT_TCP_CONFIG.defaults, ...config.defaults } };
    const key = new Uint8Array(32);
    net.rt.random.fill(key);
    this.secret = Buffer.from(key);
    this.challengeTokens = this.config.challengeAckLimit;
    this.challengeAt = net.now();
    this.nextPort = this.config.portLow + (net.rt.random.u32() % (this.config.portHigh - this.config.portLow + 1));
    ip.addProtocol(IPPROTO_TCP, this.rcv);
    icmp.addErrorHandler(IPPROTO_TCP, (info) => this.icmpError(info));
  }

  // ------------------------------------------------------------ tables

  lookup(laddr: number, lport: number, raddr: number, rport: number): TcpEndpoint | undefined {
    return this.conns.get(raddr * 65536 + rport)?.get(laddr * 65536 + lport);
  }

  hash(ep: TcpEndpoint): void {
    const outer = ep.raddr * 65536 + ep.rport;
    let inner = this.conns.get(outer);
    if (!inner) this.conns.set(outer, (inner = new Map()));
    inner.set(ep.laddr * 65536 + ep.lport, ep);
    this.endpoints.add(ep);
  }

  unhash(ep: TcpEndpoint): void {
    const outer = ep.raddr * 65536 + ep.rport;
    const inner = this.conns.get(outer);
    if (inner?.get(ep.laddr * 65536 + ep.lport) === ep) {
      inner.delete(ep.laddr * 65536 + ep.lport);
      if (inner.size === 0) this.conns.delete(outer);
    }
    this.endpoints.delete(ep);
  }

  private findListener(laddr: number, port: number): Listener | undefined {
    const list = this.listeners.get(port);
    if (!list) return undefined;
    // A listener bound to the address wins over a wildcard one.
    return list.find((l) => l.laddr === laddr) ?? list.find((l) => l.laddr === 0);
  }

  /** True if some connection or listener uses local port `port`. */
  portInUse(port: number): boolean {
    if (this.listeners.has(port)) return true;
    for (const ep of this.endpoints) if (ep.lport === port) return true;
    return false;
  }

  /** listen(): `opts` are what its connections inherit, over the stack's defaults. */
  listen(laddr: number, port: number, backlog: number, opts: Partial<EndpointOptions> = {}): Listener {
    const list = this.listeners.get(port) ?? [];
    if (list.some((l) => l.laddr === laddr || l.laddr === 0 || laddr === 0)) {
      throw Object.assign(new Error(`listen EADDRINUSE: address already in use ${port}`), { code: 'EADDRINUSE', syscall: 'listen', port });
    }
    const l = new Listener(laddr, port, Math.max(1, backlog), opts);
    list.push(l);
    this.listeners.set(port, list);
    return l;
  }

  closeListener(l: Listener): void {
    l.closed = true;
    const list = (this.listeners.get(l.port) ?? []).filter((x) => x !== l);
    if (list.length) this.listeners.set(l.port, list);
    else this.listeners.delete(l.port);
    for (const r of l.synQueue.values()) this.net.rt.timers.cancel(r.timer);
    l.synQueue.clear();
    // Connections never accepted are reset (Linux inet_csk_listen_stop).
    for (const ep of l.acceptQueue.splice(0)) ep.abort();
  }

  /** An ephemeral port (ip_local_port_range) free for this remote endpoint. */
  ephemeralPort(laddr: number, raddr: number, rport: number): number {
    const span = this.config.portHigh - this.config.portLow + 1;
    for (let i = 0; i < span; i++) {
      const p = this.config.portLow + ((this.nextPort - this.config.portLow + i) % span);
      if (!this.listeners.has(p) && !this.lookup(laddr, p, raddr, rport)) {
        this.nextPort = p + 1;
        return p;
      }
    }
    throw Object.assign(new Error('connect EADDRNOTAVAIL: no free local port'), { code: 'EADDRNOTAVAIL', syscall: 'connect' });
  }

  newEndpoint(o: Partial<EndpointOptions> = {}): TcpEndpoint {
    return new TcpEndpoint(this, { ...this.config.defaults, ...o });
  }

  // ------------------------------------------------------------ active open

  /**
   * The MSS we announce on a route: its device's MTU (lo's for a local route)
   * less 40, never more than a 65535-byte datagram holds — Linux's
   * ipv4_default_advmss; without the cap lo's 65536 would give segments one
   * byte too big to send.
   */
  private routeAdvMss(rt: ReturnType<Ipv4['route']>): number {
    const mtu = !rt ? 1500 : rt.type === 'local' ? (this.ip.loopback?.mtu ?? 65536) : rt.dev.mtu;
    return Math.min(mtu, IPV4_MAX_PMTU) - TCP_IPV4_HLEN;
  }

  /** connect(): SYN-SENT and the first SYN (RFC 9293 §3.10.1). */
  connect(ep: TcpEndpoint, raddr: number, rport: number, laddr: number, lport: number): void {
    const rt = this.ip.route(raddr);
    if (!rt) throw Object.assign(new Error('connect ENETUNREACH'), { code: 'ENETUNREACH', syscall: 'connect' });
    ep.laddr = laddr || rt.prefsrc || this.ip.fib.selectSource(rt.dev, raddr);
    ep.raddr = raddr;
    ep.rport = rport;
    ep.lport = lport || this.ephemeralPort(ep.laddr, raddr, rport);
    if (this.lookup(ep.laddr, ep.lport, raddr, rport)) throw Object.assign(new Error('connect EADDRINUSE'), { code: 'EADDRINUSE', syscall: 'connect' });
    ep.advMss = this.routeAdvMss(rt);
    ep.mss = Math.min(536, ep.advMss);
    ep.iss = this.isn(ep.laddr, ep.lport, raddr, rport);
    ep.tsOffset = this.tsOffset(ep.laddr, raddr);
    ep.sndUna = ep.iss;
    ep.sndNxt = ep.iss;
    ep.sndMax = ep.iss;
    ep.setState(TcpState.SynSent);
    this.hash(ep);
    this.net.tcp.TcpActiveOpens++;
    ep.rttTime = this.net.now();
    this.sendSyn(ep);
    ep.armRto();
  }

  /** Sends (or resends) the SYN of SYN-SENT or the SYN-ACK of SYN-RECV. */
  sendSyn(ep: TcpEndpoint): void {
    const synAck = ep.state === TcpState.SynRecv;
    const wscale = synAck ? (ep.wscaleOk ? ep.rcvWscale : -1) : ep.rcvWscale;
    ep.xmit(TCP_SYN | (synAck ? TCP_ACK : 0), ep.iss, 0, 0, {
      mss: ep.advMss,
      wscale,
      sackOk: synAck ? ep.sackOk : true,
      tsOk: synAck ? ep.tsOk : true,
    });
    ep.sndNxt = seqAdd(ep.iss, 1);
    ep.sndMax = ep.sndNxt;
  }

  /** Applies the peer's SYN options (RFC 9293 §3.7.1 MSS, RFC 7323 §2.2, RFC 2018 §2). */
  negotiate(ep: TcpEndpoint, o: TcpOptions): void {
    ep.mss = Math.max(64, Math.min(o.mss > 0 ? o.mss : 536, ep.advMss));
    if (o.wscale >= 0) {
      ep.sndWscale = o.wscale;
      ep.wscaleOk = true;
    } else {
      ep.sndWscale = 0;
      ep.rcvWscale = 0;
    }
    ep.sackOk = o.sackPermitted;
    ep.tsOk = o.timestamps;
    // The MSS option counts no TCP options (RFC 6691): every segment of a connection with
    // timestamps carries 12 bytes of them, so its payload is 12 bytes less (Linux tcp_sync_mss).
    if (ep.tsOk) ep.mss -= TCPOLEN_TSTAMP_ALIGNED;
    ep.initCwnd();
  }

  // ------------------------------------------------------------ receive

  /** tcp_v4_rcv: the IPPROTO_TCP handler. */
  readonly rcv = (pb: PacketBuffer): void => {
    const c = this.net.tcp;
    c.TcpInSegs++;
    const seg = this.seg.wrap(pb.buf, pb.head, pb.len);
    const bad = seg.check();
    if (bad !== null) {
      // Linux tcp_v4_rcv counts only a data offset below 5 words (bad_packet);
      // a segment too short for its header is discarded uncounted (discard_it).
      if (bad === 'data-offset' && seg.dataOffset < TCP_HLEN) c.TcpInErrs++;
      this.net.drop(pb, 'tcp-inhdr');
      return;
    }
    if (!seg.verifyChecksum(pb.saddr, pb.daddr, pb.len)) {
      c.TcpInCsumErrors++;
      c.TcpInErrs++;
      this.net.drop(pb, 'tcp-csum');
      return;
    }
    // TCP is unicast only (RFC 1122 §4.2.3.10).
    if (pb.pktType !== 0 || isMulticastIpv4(pb.daddr) || isLimitedBroadcast(pb.daddr)) {
      this.net.drop(pb, 'tcp-flags');
      return;
    }
    const o = this.opts;
    parseTcpOptions(pb.buf, seg.optionsOffset, seg.optionsLen, o); // malformed: keep what parsed, as Linux
    const laddr = pb.daddr;
    const raddr = pb.saddr;
    const lport = seg.dstPort;
    const rport = seg.srcPort;
    let ep = this.lookup(laddr, lport, raddr, rport);
    // A SYN for a connection in TIME-WAIT may start a new one (RFC 9293 §3.6.1, RFC 6191 with timestamps).
    if (ep && ep.state === TcpState.TimeWait && seg.flags & TCP_SYN && !(seg.flags & (TCP_ACK | TCP_RST))) {
      const newer = o.timestamps && ep.tsOk ? (o.tsVal - ep.tsRecent) | 0 : (seg.seq - ep.rcvNxt) | 0;
      if (newer > 0) {
        ep.destroy();
        ep = undefined;
      }
    }
    if (ep) {
      if (ep.state === TcpState.SynSent) {
        rcvSynSent(ep, seg, o);
        pb.free();
      } else rcvSynchronized(ep, seg, o, pb);
      return;
    }
    const l = this.findListener(laddr, lport);
    if (l) {
      this.rcvListen(l, seg, o, pb);
      return;
    }
    // Nobody owns it: RST (RFC 9293 §3.10.7.1), so the peer's connect fails at once.
    if (!(seg.flags & TCP_RST)) this.sendResetFor(seg, laddr, raddr);
    this.net.drop(pb, 'tcp-noport');
  };

  /** LISTEN (RFC 9293 §3.10.7.2) and the request socks of its SYN queue. */
  private rcvListen(l: Listener, seg: TcpSegment, o: TcpOptions, pb: PacketBuffer): void {
    const c = this.net.tcp;
    const flags = seg.flags;
    const laddr = pb.daddr;
    const raddr = pb.saddr;
    const key = tupleKey(laddr, seg.dstPort, raddr, seg.srcPort);
    const req = l.synQueue.get(key);
    if (flags & TCP_RST) {
      if (req && seg.seq === seqAdd(req.irs, 1)) this.dropRequest(req);
      pb.free();
      return;
    }
    if (flags & TCP_SYN && !(flags & TCP_ACK)) {
      if (req) {
        // A retransmitted SYN: send the SYN-ACK again.
        this.sendSynAck(req);
        pb.free();
        return;
      }
      if (l.acceptQueueFull) {
        c.TcpExtListenOverflows++;
        c.TcpExtListenDrops++;
        this.net.drop(pb, 'tcp-listen-overflow');
        return;
      }
      if (l.synQueueFull) {
        if (!this.config.syncookies) {
          c.TcpExtTCPReqQFullDrop++;
          c.TcpExtListenDrops++;
          this.net.drop(pb, 'tcp-req-full');
          return;
        }
        l.lastOverflow = this.net.now();
        this.sendCookie(l, seg, o, laddr, raddr);
        pb.free();
        return;
      }
      const r = new RequestSock(l, key, laddr, seg.dstPort, raddr, seg.srcPort, (x) => this.requestTimer(x));
      r.irs = seg.seq;
      r.iss = this.isn(laddr, seg.dstPort, raddr, seg.srcPort);
      r.mss = o.mss > 0 ? o.mss : 536;
      r.wscale = o.wscale;
      r.sackOk = o.sackPermitted;
      r.tsOk = o.timestamps;
      r.tsRecent = o.tsVal;
      l.synQueue.set(key, r);
      this.sendSynAck(r);
      this.net.rt.timers.arm(r.timer, this.net.now() + 1000);
      pb.free();
      return;
    }
    if (!(flags & TCP_ACK) || flags & TCP_SYN) {
      this.net.drop(pb, 'tcp-flags');
      return;
    }
    // The third segment of the handshake.
    let ep: TcpEndpoint | null = null;
    if (req) {
      // tcp_check_req: the ACK must acknowledge our SYN exactly (else RST); the
      // sequence number need only be in the window — the final ACK may have been
      // lost and this be the first (or a later) data segment.
      if (seg.ack !== seqAdd(req.iss, 1)) {
        this.sendResetFor(seg, laddr, raddr);
        this.net.drop(pb, 'tcp-invalid-ack');
        return;
      }
      const off = (seg.seq - seqAdd(req.irs, 1)) | 0;
      if (off < 0 || off >= (l.endpointOptions.rcvBuf ?? this.config.defaults.rcvBuf)) {
        this.net.drop(pb, 'tcp-invalid-seq');
        return;
      }
      if (l.acceptQueueFull) {
        // Keep the request; its SYN-ACK will be retransmitted (Linux drops the ACK).
        c.TcpExtListenOverflows++;
        c.TcpExtListenDrops++;
        this.net.drop(pb, 'tcp-listen-overflow');
        return;
      }
      this.dropRequest(req);
      ep = this.establish(l, req, seg, o);
    } else if (this.config.syncookies && this.net.now() - l.lastOverflow <= COOKIE_MAX_AGE * 60_000) {
      // Cookies are checked only while they may be out there: within their
      // lifetime of the last overflow (Linux tcp_synq_no_recent_overflow), so a
      // stray ACK is a plain RST and blind cookie guessing has a short season.
      const mss = this.checkCookie(seg, laddr, raddr);
      if (mss < 0) {
        c.TcpExtSyncookiesFailed++;
        this.sendResetFor(seg, laddr, raddr);
        this.net.drop(pb, 'tcp-bad-cookie');
        return;
      }
      if (l.acceptQueueFull) {
        c.TcpExtListenOverflows++;
        c.TcpExtListenDrops++;
        this.net.drop(pb, 'tcp-listen-overflow');
        return;
      }
      c.TcpExtSyncookiesRecv++;
      const r = new RequestSock(l, key, laddr, seg.dstPort, raddr, seg.srcPort, () => {});
      r.irs = seqAdd(seg.seq, -1);
      r.iss = seqAdd(seg.ack, -1);
      r.mss = mss;
      ep = this.establish(l, r, seg, o);
    } else {
      this.sendResetFor(seg, laddr, raddr);
      this.net.drop(pb, 'tcp-invalid-ack');
      return;
    }
    // The ACK may carry data already: process it on the new connection.
    rcvSynchronized(ep, seg, o, pb);
  }

  /** The handshake completed: a whole endpoint, hashed, on the accept queue. */
  private establish(l: Listener, r: RequestSock, seg: TcpSegment, o: TcpOptions): TcpEndpoint {
    const ep = this.newEndpoint(l.endpointOptions);
    ep.laddr = r.laddr;
    ep.lport = r.lport;
    ep.raddr = r.raddr;
    ep.rport = r.rport;
    ep.iss = r.iss;
    ep.irs = r.irs;
    ep.tsOffset = this.tsOffset(r.laddr, r.raddr);
    ep.sndUna = seqAdd(r.iss, 1);
    ep.sndNxt = ep.sndUna;
    ep.sndMax = ep.sndUna;
    ep.rcvNxt = seqAdd(r.irs, 1);
    ep.rcvWup = ep.rcvNxt;
    // The SYN-ACK acknowledged up to here: Last.ACK.sent of RFC 7323 §4.3, so the
    // first segments update TS.Recent (and PAWS works) before we ACK anything.
    ep.lastAckSent = ep.rcvNxt;
    const rt = this.ip.route(r.raddr);
    ep.advMss = this.routeAdvMss(rt);
    ep.mss = Math.max(64, Math.min(r.mss, ep.advMss));
    if (r.wscale >= 0) {
      ep.sndWscale = r.wscale;
      ep.wscaleOk = true;
    } else {
      ep.sndWscale = 0;
      ep.rcvWscale = 0;
    }
    ep.sackOk = r.sackOk;
    ep.tsOk = r.tsOk && o.timestamps;
    if (ep.tsOk) {
      ep.mss -= TCPOLEN_TSTAMP_ALIGNED; // as in negotiate(): the payload leaves room for the timestamps
      ep.tsRecent = o.tsVal;
      ep.tsRecentStamp = this.net.now();
    }
    // The window in the ACK is scaled now that the handshake is done.
    ep.sndWnd = seg.window << ep.sndWscale;
    ep.maxSndWnd = ep.sndWnd;
    ep.sndWl1 = seg.seq;
    ep.sndWl2 = seg.ack;
    ep.rcvWnd = Math.min(65535, ep.rcvBufSize);
    ep.initCwnd();
    ep.lastRecv = this.net.now();
    ep.setState(TcpState.Established);
    this.hash(ep);
    this.net.tcp.TcpPassiveOpens++;
    // Until accept(), what arrives is held for the socket that will take it (else it would be ACKed and lost).
    ep.events = new PreAcceptQueue();
    l.acceptQueue.push(ep);
    l.onAcceptable?.();
    return ep;
  }

  private sendSynAck(r: RequestSock): void {
    // A request sock is not an endpoint: borrow a scratch one to build the segment.
    const ep = this.newEndpoint(r.listener.endpointOptions);
    ep.laddr = r.laddr;
    ep.lport = r.lport;
    ep.raddr = r.raddr;
    ep.rport = r.rport;
    ep.rcvNxt = seqAdd(r.irs, 1);
    ep.rcvWup = ep.rcvNxt;
    ep.tsRecent = r.tsRecent;
    ep.tsOffset = this.tsOffset(r.laddr, r.raddr);
    const rt = this.ip.route(r.raddr);
    ep.advMss = this.routeAdvMss(rt);
    ep.xmit(TCP_SYN | TCP_ACK, r.iss, 0, 0, { mss: ep.advMss, wscale: r.wscale >= 0 ? ep.rcvWscale : -1, sackOk: r.sackOk, tsOk: r.tsOk });
  }

  private requestTimer(r: RequestSock): void {
    if (r.retries >= this.config.synackRetries) {
      this.dropRequest(r);
      return;
    }
    r.retries++;
    this.net.tcp.TcpRetransSegs++;
    this.sendSynAck(r);
    this.net.rt.timers.arm(r.timer, this.net.now() + 1000 * 2 ** r.retries);
  }

  private dropRequest(r: RequestSock): void {
    this.net.rt.timers.cancel(r.timer);
    r.listener.synQueue.delete(r.key);
  }

  // ------------------------------------------------------------ SYN cookies

  private cookieHash(laddr: number, lport: number, raddr: number, rport: number, count: number, c: number): number {
    const h = createHmac('sha256', this.secret);
    const b = Buffer.allocUnsafe(17);
    b.writeUInt32BE(laddr >>> 0, 0);
    b.writeUInt32BE(raddr >>> 0, 4);
    b.writeUInt16BE(lport, 8);
    b.writeUInt16BE(rport, 10);
    b.writeUInt32BE(count >>> 0, 12);
    b[16] = c;
    return h.update(b).digest().readUInt32BE(0);
  }

  private cookieCount(): number {
    return Math.floor(this.net.now() / 60_000) & 0xff;
  }

  /** A stateless SYN-ACK whose ISN encodes the time and an MSS index (RFC 4987 §3.6; Linux syncookies.c). */
  private sendCookie(l: Listener, seg: TcpSegment, o: TcpOptions, laddr: number, raddr: number): void {
    const c = this.net.tcp;
    c.TcpExtSyncookiesSent++;
    const peerMss = o.mss > 0 ? o.mss : 536;
    let idx = 0;
    for (let i = COOKIE_MSS.length - 1; i >= 0; i--) if (COOKIE_MSS[i]! <= peerMss) {
      idx = i;
      break;
    }
    const count = this.cookieCount();
    const sseq = seg.seq;
    const isn =
      (this.cookieHash(laddr, seg.dstPort, raddr, seg.srcPort, 0, 0) + sseq + (count << COOKIE_BITS) +
        ((this.cookieHash(laddr, seg.dstPort, raddr, seg.srcPort, count, 1) + idx) & COOKIE_MASK)) >>> 0;
    const ep = this.newEndpoint(l.endpointOptions);
    ep.laddr = laddr;
    ep.lport = seg.dstPort;
    ep.raddr = raddr;
    ep.rport = seg.srcPort;
    ep.rcvNxt = seqAdd(sseq, 1);
    ep.rcvWup = ep.rcvNxt;
    // Without state there is nowhere to keep window scale, SACK or timestamps: offer none.
    ep.rcvWscale = 0;
    ep.xmit(TCP_SYN | TCP_ACK, isn, 0, 0, { mss: COOKIE_MSS[idx]!, wscale: -1, sackOk: false, tsOk: false });
  }

  /** The MSS a valid cookie in this ACK encodes, or -1. */
  private checkCookie(seg: TcpSegment, laddr: number, raddr: number): number {
    const cookie = seqAdd(seg.ack, -1);
    const sseq = seqAdd(seg.seq, -1);
    const v = (cookie - this.cookieHash(laddr, seg.dstPort, raddr, seg.srcPort, 0, 0) - sseq) >>> 0;
    const count = v >>> COOKIE_BITS;
    if (((this.cookieCount() - count) & 0xff) > COOKIE_MAX_AGE) return -1;
    const idx = (v - this.cookieHash(laddr, seg.dstPort, raddr, seg.srcPort, count, 1)) & COOKIE_MASK;
    return idx < COOKIE_MSS.length ? COOKIE_MSS[idx]! : -1;
  }

  // ------------------------------------------------------------ ISN, RST, limits

  /**
   * The TSval offset of a connection (Linux secure_tcp_ts_off): a keyed hash
   * of the addresses, so every segment of a connection — the SYN-ACK built
   * before the endpoint exists included — uses the same clock.
   */
  tsOffset(laddr: number, raddr: number): number {
    return this.cookieHash(laddr, 0, raddr, 0, 0, 3);
  }

  /** RFC 6528: ISN = M + F(4-tuple, secret), M a 4 µs clock. */
  isn(laddr: number, lport: number, raddr: number, rport: number): number {
    const m = Math.floor(this.net.now() * 250);
    return (m + this.cookieHash(laddr, lport, raddr, rport, 0, 2)) >>> 0;
  }

  /**
   * A RST answering `seg` (RFC 9293 §3.10.7.1): if it had an ACK, <SEQ=SEG.ACK><CTL=RST>,
   * else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
   */
  sendResetFor(seg: TcpSegment, laddr: number, raddr: number): void {
    const flags = seg.flags;
    const len = seg.payloadLen + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
    const o = this.opts;
    const r = this.repr;
    r.srcPort = seg.dstPort;
    r.dstPort = seg.srcPort;
    if (flags & TCP_ACK) {
      r.seq = seg.ack;
      r.ack = 0;
      r.flags = TCP_RST;
    } else {
      r.seq = 0;
      r.ack = seqAdd(seg.seq, len);
      r.flags = TCP_RST | TCP_ACK;
    }
    r.window = 0;
    r.urgentPtr = 0;
    r.payloadLen = 0;
    clearTcpOptions(o);
    r.options = o;
    const pb = this.ip.allocPayload(TCP_HLEN);
    const at = pb.put(TCP_HLEN + tcpOptionsLength(o));
    const out = new TcpSegment().wrap(pb.buf, at, TCP_HLEN);
    emitTcp(r, out);
    out.fillChecksum(laddr, raddr, TCP_HLEN);
    this.net.tcp.TcpOutSegs++;
    this.net.tcp.TcpOutRsts++;
    this.ip.output(pb, { saddr: laddr, daddr: raddr, protocol: IPPROTO_TCP });
  }

  /** RFC 5961 §7: at most challengeAckLimit challenge ACKs a second, stack-wide. */
  allowChallengeAck(): boolean {
    const now = this.net.now();
    if (now - this.challengeAt >= 1000) {
      this.challengeAt = now;
      this.challengeTokens = this.config.challengeAckLimit;
    }
    if (this.challengeTokens <= 0) return false;
    this.challengeTokens--;
    return true;
  }

  /** ICMP errors about our segments (RFC 1122 §4.2.3.9; RFC 5927 checks; RFC 1191 PMTU). */
  private icmpError(info: IcmpErrorInfo): void {
    if (info.len < 8) return;
    const b = info.buf;
    const lport = (b[info.off]! << 8) | b[info.off + 1]!;
    const rport = (b[info.off + 2]! << 8) | b[info.off + 3]!;
    const seq = ((b[info.off + 4]! << 24) | (b[info.off + 5]! << 16) | (b[info.off + 6]! << 8) | b[info.off + 7]!) >>> 0;
    const ep = this.lookup(info.saddr, lport, info.daddr, rport);
    if (!ep) return;
    // RFC 5927 §4.1: the quoted sequence number must be in flight.
    if (((seq - ep.sndUna) | 0) < 0 || ((seq - ep.sndMax) | 0) > 0) return;
    if (info.type === 3 && info.code === 4) {
      // Fragmentation needed: lower the MSS to the path MTU and resend (RFC 1191 §6.2).
      const mtu = info.mtu >= 68 ? info.mtu : 576;
      // The timestamp option rides in every segment: leave room for it, as negotiate() does
      // (Linux tcp_sync_mss), or each segment still exceeds the path MTU by 12 bytes.
      const mss = Math.max(64, mtu - 40 - (ep.tsOk ? TCPOLEN_TSTAMP_ALIGNED : 0));
      if (mss < ep.mss) {
        this.net.tcp.TcpExtPMTUDiscovery++;
        ep.mss = mss;
        if (ep.flight > 0) ep.retransmit(ep.sndUna, Math.min(ep.mss, ep.flight));
      }
      return;
    }
    if (info.type === 3) {
      const hard = info.code === 2 || info.code === 3; // protocol or port unreachable
      const code = hard ? 'ECONNREFUSED' : info.code === 0 ? 'ENETUNREACH' : 'EHOSTUNREACH';
      // Linux tcp_v4_err: during the handshake any unreachable ends the attempt;
      // afterwards only a soft error is kept (reported if the connection times out).
      if (ep.state === TcpState.SynSent || ep.state === TcpState.SynRecv) {
        this.net.tcp.TcpAttemptFails++;
        ep.fail(code);
      } else ep.softError = code;
    }
  }

  /** The socket table, like `ss -tanoi`. */
  socketTable(): TcpEndpoint[] {
    return [...this.endpoints];
  }

  listenerTable(): Listener[] {
    return [...this.listeners.values()].flat();
  }

  /** Aborts every connection and listener (stack shutdown). */
  close(): void {
    for (const l of this.listenerTable()) this.closeListener(l);
    for (const ep of [...this.endpoints]) ep.destroy();
  }
}

export { DEFAULT_RCVBUF, DEFAULT_SNDBUF, wscaleFor };
