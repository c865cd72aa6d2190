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
import {
  ICMP_DEST_UNREACH,
  ICMP_PARAM_PROBLEM,
  ICMP_TIME_EXCEEDED,
  ICMP_UNREACH_FRAG_NEEDED,
  ICMP_UNREACH_HOST,
  ICMP_UNREACH_NET,
} from '../wire/icmp.js';
import { IPPROTO_TCP, isLimitedBroadcast, isMulticastIpv4 } from '../wire/ipv4.js';
import { createTcpRepr, emitTcp, TCP_ACK, TCP_FIN, TCP_HLEN, TCP_RST, TCP_SYN, TcpSegment } from '../wire/tcp.js';
import { clearTcpOptions, parseTcpOptions, TcpOptions, tcpOptionsLength } from '../wire/tcpOptions.js';
import { DEFAULT_RCVBUF, DEFAULT_SNDBUF, TcpEndpoint, type EndpointOptions, wscaleFor } from './endpoint.js';
import { rcvSynchronized, rcvSynSent, timeWaitAcceptsSyn, timeWaitIsn } from './input.js';
import { Listener, PreAcceptQueue, RequestSock } from './listen.js';
import { seqAdd, seqGt, seqLt } from './seqnum.js';
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
  /**
   * tcp_sack: offer SACK-permitted in our SYN and SYN-ACK and accept the
   * peer's (RFC 2018). Off, loss recovery is NewReno (RFC 6582).
   */
  sack: boolean;
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
  sack: true,
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

/** The highest destination-unreachable code (Linux NR_ICMP_UNREACH): above it the message is ignored. */
const NR_ICMP_UNREACH = 15;
/**
 * The errno of each destination-unreachable code: Linux's icmp_err_convert[].
 * Its `fatal` column (protocol and port unreachable, and the administrative
 * and "unknown" codes) decides for UDP and raw sockets only; TCP ends a
 * handshake on any of them and keeps any of them as a soft error later.
 */
const ICMP_UNREACH_ERRNO: readonly string[] = [
  'ENETUNREACH', // 0 net unreachable
  'EHOSTUNREACH', // 1 host unreachable
  'ENOPROTOOPT', // 2 protocol unreachable
  'ECONNREFUSED', // 3 port unreachable
  'EMSGSIZE', // 4 fragmentation needed (handled as PMTU discovery instead)
  'EOPNOTSUPP', // 5 source route failed
  'ENETUNREACH', // 6 destination network unknown
  'EHOSTDOWN', // 7 destination host unknown
  'ENONET', // 8 source host isolated
  'ENETUNREACH', // 9 network administratively prohibited
  'EHOSTUNREACH', // 10 host administratively prohibited
  'ENETUNREACH', // 11 network unreachable for TOS
  'EHOSTUNREACH', // 12 host unreachable for TOS
  'EHOSTUNREACH', // 13 communication administratively prohibited
  'EHOSTUNREACH', // 14 host precedence violation
  'EHOSTUNREACH', // 15 precedence cutoff in effect
];

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
      sackOk: synAck ? ep.sackOk : this.config.sack,
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
    // Linux tcp_parse_options reads SACK-permitted only with tcp_sack on.
    ep.sackOk = o.sackPermitted && this.config.sack;
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
    const ep = this.lookup(laddr, lport, raddr, rport);
    // A SYN for a connection in TIME-WAIT may start a new one (RFC 1122 §4.2.2.13,
    // RFC 6191; Linux tcp_timewait_state_process → TCP_TW_SYN) — if a listener
    // takes it: without one, TIME-WAIT stays and answers the SYN with an ACK.
    if (ep && ep.state === TcpState.TimeWait && (seg.flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN && timeWaitAcceptsSyn(ep, seg, o)) {
      const l = this.findListener(laddr, lport);
      if (l) {
        const isn = timeWaitIsn(ep);
        ep.destroy();
        this.rcvListen(l, seg, o, pb, isn);
        return;
      }
    }
    if (ep) {
      if (ep.state === TcpState.SynSent) rcvSynSent(ep, seg, o, pb);
      else rcvSynchronized(ep, seg, o, pb);
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

  /**
   * LISTEN (RFC 9293 §3.10.7.2, Linux tcp_rcv_state_process in TCP_LISTEN) and
   * the request socks of its SYN queue. `isn`: the ISN a SYN that reopened a
   * connection in TIME-WAIT must get.
   */
  private rcvListen(l: Listener, seg: TcpSegment, o: TcpOptions, pb: PacketBuffer, isn?: number): void {
    const c = this.net.tcp;
    const flags = seg.flags;
    const laddr = pb.daddr;
    const raddr = pb.saddr;
    const key = tupleKey(laddr, seg.dstPort, raddr, seg.srcPort);
    const req = l.synQueue.get(key);
    if (req) {
      this.rcvRequest(l, req, seg, o, pb);
      return;
    }
    // "first check for an RST": nothing to reset, ignore it (SKB_DROP_REASON_TCP_RESET).
    if (flags & TCP_RST) {
      this.net.drop(pb, 'tcp-rst');
      return;
    }
    // "second check for an ACK": anything acknowledging something — a SYN-ACK
    // included — is answered <SEQ=SEG.ACK><CTL=RST> (Linux: tcp_rcv_state_process
    // returns 1 for an ACK in LISTEN and tcp_v4_do_rcv resets). A bare ACK may
    // first be the third segment of a cookie handshake.
    if (flags & TCP_ACK) {
      if (!(flags & TCP_SYN) && this.config.syncookies && this.net.now() - l.lastOverflow <= COOKIE_MAX_AGE * 60_000) {
        // Cookies are checked only while they may be out there: within their
        // lifetime of the last overflow (Linux tcp_synq_no_recent_overflow), so a
        // stray ACK is a plain RST and blind cookie guessing has a short season.
        this.rcvCookieAck(l, key, seg, o, pb);
        return;
      }
      this.sendResetFor(seg, laddr, raddr);
      this.net.drop(pb, 'tcp-invalid-ack');
      return;
    }
    // "third check for a SYN" (a SYN with FIN is nonsense: Linux drops it, TCP_FLAGS).
    if (!(flags & TCP_SYN) || flags & TCP_FIN) {
      this.net.drop(pb, 'tcp-flags');
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
    r.iss = isn ?? this.isn(laddr, seg.dstPort, raddr, seg.srcPort);
    r.mss = o.mss > 0 ? o.mss : 536;
    r.wscale = o.wscale;
    r.sackOk = o.sackPermitted && this.config.sack;
    r.tsOk = o.timestamps;
    r.tsRecent = o.tsVal;
    r.rcvWnd = Math.min(65535, l.endpointOptions.rcvBuf ?? this.config.defaults.rcvBuf);
    l.synQueue.set(key, r);
    this.sendSynAck(r);
    this.net.rt.timers.arm(r.timer, this.net.now() + 1000);
    pb.free();
  }

  /**
   * A segment for a request sock in SYN-RECV (Linux tcp_check_req, RFC 9293
   * §3.10.7.4 for SYN-RECEIVED with RFC 5961).
   */
  private rcvRequest(l: Listener, r: RequestSock, seg: TcpSegment, o: TcpOptions, pb: PacketBuffer): void {
    const c = this.net.tcp;
    const flags = seg.flags;
    const seq = seg.seq;
    const rcvNxt = seqAdd(r.irs, 1);
    // The peer's retransmitted SYN (our SYN-ACK was lost): send the SYN-ACK again.
    // RFC 793's figures say ACK; RFC 1122 fixed it, and Linux resends the SYN-ACK.
    if ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN && seq === r.irs) {
      this.sendSynAck(r);
      pb.free();
      return;
    }
    // An ACK must acknowledge our SYN exactly; else the listener answers it with
    // <SEQ=SEG.ACK><CTL=RST> and the request stays (tcp_check_req returns the listener).
    if (flags & TCP_ACK && seg.ack !== seqAdd(r.iss, 1)) {
      if (!(flags & TCP_RST)) this.sendResetFor(seg, pb.daddr, pb.saddr);
      this.net.drop(pb, 'tcp-invalid-ack');
      return;
    }
    // PAWS against the SYN's timestamp (tcp_check_req → tcp_paws_reject; RSTs skip
    // it as everywhere, RFC 7323 §5.3 R1), then the window the SYN-ACK offered
    // (tcp_in_window): anything outside gets an ACK (not a RST) and is dropped.
    const pawsReject = r.tsOk && o.timestamps && !(flags & TCP_RST) && r.tsRecent !== 0 && ((r.tsRecent - o.tsVal) | 0) > 0;
    const end = seqAdd(seq, seg.payloadLen + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0));
    const right = seqAdd(rcvNxt, r.rcvWnd);
    const inWindow = seq === rcvNxt || (seqGt(end, rcvNxt) && seqLt(seq, right)) || (seq === right && seq === end);
    if (pawsReject || !inWindow) {
      if (!(flags & TCP_RST)) this.sendRequestAck(r);
      if (pawsReject) c.TcpExtPAWSEstab++;
      this.net.drop(pb, pawsReject ? 'tcp-paws' : seqLt(seq, rcvNxt) ? 'tcp-old-data' : 'tcp-invalid-seq');
      return;
    }
    if (r.tsOk && o.timestamps && !seqGt(seq, rcvNxt)) r.tsRecent = o.tsVal;
    if (flags & TCP_RST) {
      // RFC 5961 §3.2, which RFC 9293 §3.10.7.4 applies to SYN-RECEIVED too: only a
      // RST at exactly RCV.NXT removes the request; one elsewhere in the window
      // draws a (rate-limited) challenge ACK. Linux's tcp_check_req is laxer — any
      // in-window RST kills the request (embryonic_reset) — which lets a blind
      // attacker who guesses within 64 KB abort handshakes; we follow the RFC.
      if (seq === rcvNxt) {
        c.TcpAttemptFails++; // tcp_check_req: TCP_MIB_ATTEMPTFAILS for the reset embryo
        this.dropRequest(r);
        pb.free();
        return;
      }
      this.requestChallengeAck(r);
      this.net.drop(pb, 'tcp-rst');
      return;
    }
    if (flags & TCP_SYN) {
      // A SYN at another sequence number, in the window (RFC 5961 §4.2): a challenge
      // ACK, never a RST — a peer that restarted answers its unacceptable ACK with a RST
      // at RCV.NXT, which removes the request (Linux resets the embryo at once).
      c.TcpExtTCPSYNChallenge++;
      this.requestChallengeAck(r);
      this.net.drop(pb, 'tcp-invalid-syn');
      return;
    }
    // "if the ACK bit is off drop the segment and return".
    if (!(flags & TCP_ACK)) {
      this.net.drop(pb, 'tcp-flags');
      return;
    }
    // Accept queue full: keep the request; its SYN-ACK will be retransmitted.
    if (this.listenOverflow(l, pb)) return;
    this.dropRequest(r);
    const ep = this.establish(l, r, seg, o);
    // The ACK may carry data already (the final ACK may have been lost and this
    // be the first data segment): process it on the new connection.
    rcvSynchronized(ep, seg, o, pb);
  }

  /**
   * A completed handshake with the accept queue full: the final ACK is dropped
   * and counted (Linux tcp_v4_syn_recv_sock with tcp_abort_on_overflow = 0).
   */
  private listenOverflow(l: Listener, pb: PacketBuffer): boolean {
    if (!l.acceptQueueFull) return false;
    this.net.tcp.TcpExtListenOverflows++;
    this.net.tcp.TcpExtListenDrops++;
    this.net.drop(pb, 'tcp-listen-overflow');
    return true;
  }

  /** The third segment of a cookie handshake (RFC 4987 §3.6). */
  private rcvCookieAck(l: Listener, key: string, seg: TcpSegment, o: TcpOptions, pb: PacketBuffer): void {
    const c = this.net.tcp;
    const laddr = pb.daddr;
    const raddr = pb.saddr;
    const mss = this.checkCookie(seg, laddr, raddr);
    if (mss < 0) {
      c.TcpExtSyncookiesFailed++;
      this.sendResetFor(seg, laddr, raddr);
      this.net.drop(pb, 'tcp-bad-cookie');
      return;
    }
    if (this.listenOverflow(l, pb)) return;
    c.TcpExtSyncookiesRecv++;
    const r = new RequestSock(l, key, laddr, seg.dstPort, raddr, seg.srcPort, () => {});
    r.irs = seqAdd(seg.seq, -1);
    r.iss = seqAdd(seg.ack, -1);
    r.mss = mss;
    const ep = this.establish(l, r, seg, o);
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

  /**
   * A request sock is not an endpoint: a scratch one, unhashed, builds its
   * segments (Linux tcp_make_synack and tcp_v4_reqsk_send_ack work from the
   * request the same way).
   */
  private requestEndpoint(r: RequestSock): TcpEndpoint {
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
    return ep;
  }

  private sendSynAck(r: RequestSock): void {
    const ep = this.requestEndpoint(r);
    ep.xmit(TCP_SYN | TCP_ACK, r.iss, 0, 0, { mss: ep.advMss, wscale: r.wscale >= 0 ? ep.rcvWscale : -1, sackOk: r.sackOk, tsOk: r.tsOk });
  }

  /**
   * <SEQ=ISS+1><ACK=IRS+1><CTL=ACK> for a request (Linux tcp_v4_reqsk_send_ack):
   * the timestamps if the SYN had them, and the same window as the SYN-ACK — a
   * larger one would be a promise the connection, once established, does not
   * know it made.
   */
  private sendRequestAck(r: RequestSock): void {
    const ep = this.requestEndpoint(r);
    ep.tsOk = r.tsOk;
    if (r.wscale < 0) ep.rcvWscale = 0; // scaling is off unless both SYNs offered it (RFC 7323 §2.2)
    ep.rcvBufSize = r.rcvWnd;
    ep.rcvWnd = r.rcvWnd;
    ep.xmit(TCP_ACK, seqAdd(r.iss, 1), 0, 0);
  }

  /** A challenge ACK for a request (RFC 5961 §3.2, §4.2), under the stack-wide budget of §7. */
  private requestChallengeAck(r: RequestSock): void {
    if (!this.allowChallengeAck()) {
      this.net.tcp.TcpExtTCPACKSkippedChallenge++;
      return;
    }
    this.net.tcp.TcpExtTCPChallengeACK++;
    this.sendRequestAck(r);
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

  /**
   * ICMP errors about our segments (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191):
   * Linux tcp_v4_err. Icmp hands over destination unreachable, time exceeded
   * and parameter problem with at least 8 bytes of the TCP header quoted.
   */
  private icmpError(info: IcmpErrorInfo): void {
    if (info.len < 8) return;
    const b = info.buf;
    const lport = (b[info.off]! << 8) | b[info.off + 1]!;
    const rport = (b[info.off + 2]! << 8) | b[info.off + 3]!;
    const seq = ((b[info.off + 4]! << 24) | (b[info.off + 5]! << 16) | (b[info.off + 6]! << 8) | b[info.off + 7]!) >>> 0;
    const ep = this.lookup(info.saddr, lport, info.daddr, rport);
    if (!ep) {
      const r = this.findListener(info.saddr, lport)?.synQueue.get(tupleKey(info.saddr, lport, info.daddr, rport));
      if (r) this.requestError(r, info, seq);
      // About no connection of ours (tcp_v4_err: __ICMP_INC_STATS(ICMP_MIB_INERRORS)).
      else this.net.snmp.IcmpInErrors++;
      return;
    }
    // TIME-WAIT has nothing to report an error to (tcp_v4_err returns at once).
    if (ep.state === TcpState.TimeWait) return;
    // RFC 5927 §4.1: the quoted sequence number must be in flight, in
    // [SND.UNA, SND.MAX] (Linux: between(seq, snd_una, snd_nxt), else
    // LINUX_MIB_OUTOFWINDOWICMPS — a blind attacker must guess the window).
    if (seqLt(seq, ep.sndUna) || seqGt(seq, ep.sndMax)) return;
    let err: string;
    switch (info.type) {
      case ICMP_DEST_UNREACH:
        if (info.code > NR_ICMP_UNREACH) return;
        if (info.code === ICMP_UNREACH_FRAG_NEEDED) {
          this.pmtuReduced(ep, info.mtu);
          return;
        }
        err = ICMP_UNREACH_ERRNO[info.code]!;
        break;
      case ICMP_TIME_EXCEEDED:
        err = 'EHOSTUNREACH';
        break;
      case ICMP_PARAM_PROBLEM:
        err = 'EPROTO';
        break;
      default:
        return;
    }
    // During the handshake every error ends the attempt at once, soft or not
    // (tcp_v4_err: sk_err, tcp_done — which counts TCP_MIB_ATTEMPTFAILS). Once
    // synchronized every error is soft (RFC 1122 §4.2.3.9: a connection must not
    // be aborted for unreachables that may be transient; Linux reports them at
    // once only with IP_RECVERR): kept in softError and reported if the
    // connection later times out (sk_err_soft), forgotten when an ACK arrives.
    if (ep.state === TcpState.SynSent || ep.state === TcpState.SynRecv) {
      this.net.tcp.TcpAttemptFails++;
      ep.fail(err);
    } else ep.softError = err;
  }

  /**
   * Fragmentation needed (RFC 1191 §6.2): the MSS becomes the path MTU's and
   * the first segment in flight is resent at the new size (Linux tcp_v4_mtu_reduced).
   */
  private pmtuReduced(ep: TcpEndpoint, reported: number): void {
    const mtu = reported >= 68 ? reported : 576; // old routers report 0
    // The timestamp option rides in every segment: leave room for it, as negotiate() does
    // (Linux tcp_sync_mss), or each segment still exceeds the path MTU by 12 bytes.
    const mss = Math.max(64, mtu - 40 - (ep.tsOk ? TCPOLEN_TSTAMP_ALIGNED : 0));
    if (mss < ep.mss) {
      this.net.tcp.TcpExtPMTUDiscovery++;
      ep.mss = mss;
      if (ep.flight > 0) ep.retransmit(ep.sndUna, Math.min(ep.mss, ep.flight));
    }
  }

  /**
   * An ICMP error about a request's SYN-ACK (Linux tcp_req_err): it must quote
   * our ISN exactly; net or host unreachable, time exceeded and parameter
   * problem remove the request silently — there is no socket to tell, and
   * accept() must not return network errors (POSIX) — counting ListenDrops.
   * Port and protocol unreachable do not: the peer's stack sent the SYN.
   */
  private requestError(r: RequestSock, info: IcmpErrorInfo, seq: number): void {
    if (seq !== r.iss) return; // LINUX_MIB_OUTOFWINDOWICMPS
    const abort =
      info.type === ICMP_PARAM_PROBLEM ||
      info.type === ICMP_TIME_EXCEEDED ||
      (info.type === ICMP_DEST_UNREACH && (info.code === ICMP_UNREACH_NET || info.code === ICMP_UNREACH_HOST));
    if (!abort) return;
    this.dropRequest(r);
    this.net.tcp.TcpExtListenDrops++;
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
