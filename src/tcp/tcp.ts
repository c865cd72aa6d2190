// tcp: the TCP protocol of one stack (Linux net/ipv4/tcp_ipv4.c): the
// receive handler registered for IPPROTO_TCP, the demux tables (connections
// by 4-tuple, then listeners by port), local ports, RSTs for segments nobody
// owns and the stack-wide challenge-ACK budget. The rest is done in the file
// of its concern, functions taking the TcpProto (the methods here that only
// delegate keep the names other code calls):
//
//   connect.ts     the active open: SYN-SENT, the SYN, the peer's SYN options
//   passive.ts     LISTEN, request socks in SYN-RECV, the accept queue
//   syncookies.ts  SYN cookies (RFC 4987) when the SYN queue is full
//   isn.ts         ISNs (RFC 6528) and TSval offsets from a keyed hash
//   icmpError.ts   ICMP errors about our segments, path MTU discovery
//   input.ts       segments for a connection that has an endpoint

import type { Net } from '../core/net.js';
import type { PacketBuffer } from '../core/packetBuffer.js';
import type { Icmp } from '../ipv4/icmp.js';
import type { Ipv4 } from '../ipv4/ip.js';
import { IPPROTO_TCP, isLimitedBroadcast, isMulticastIpv4 } from '../wire/ipv4.js';
import { createTcpRepr, emitTcp, TCP_ACK, TCP_FIN, TCP_HLEN, TCP_RST, TCP_SYN, TcpSegment } from '../wire/tcp.js';
import { clearTcpOptions, parseTcpOptions, TcpOptions, tcpOptionsLength } from '../wire/tcpOptions.js';
import * as active from './connect.js';
import { DEFAULT_RCVBUF, DEFAULT_SNDBUF, TcpEndpoint, type EndpointOptions, wscaleFor } from './endpoint.js';
import { icmpError } from './icmpError.js';
import { rcvSynchronized, rcvSynSent, timeWaitAcceptsSyn, timeWaitIsn } from './input.js';
import { secureTcpSeq, secureTsOffset } from './isn.js';
import { Listener } from './listen.js';
import { rcvListen } from './passive.js';
import { seqAdd } from './seqnum.js';
import { TcpState } from './state.js';

/** Where an ACK skipped by TcpProto.oowRateLimited is counted (Linux LINUX_MIB_TCPACKSKIPPED*). */
export type OowAckCounter =
  | 'TcpExtTCPACKSkippedChallenge'
  | 'TcpExtTCPACKSkippedSynRecv'
  | 'TcpExtTCPACKSkippedPAWS'
  | 'TcpExtTCPACKSkippedSeq'
  | 'TcpExtTCPACKSkippedTimeWait';

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
   * tcp_invalid_ratelimit: the least time between two ACKs one connection
   * sends to segments it cannot accept (out of window, PAWS, challenges), so
   * two endpoints that disagree about the sequence space do not ACK each
   * other in a loop.
   */
  invalidRatelimitMs: number;
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
  invalidRatelimitMs: 500,
  sack: true,
  portLow: 32768,
  portHigh: 60999,
  defaults: { sndBuf: DEFAULT_SNDBUF, rcvBuf: DEFAULT_RCVBUF, congestion: 'cubic', noDelay: false },
};

export class TcpProto {
  readonly config: TcpConfig;
  /** Connections: raddr·2^16 + rport → (laddr·2^16 + lport → endpoint). Numbers, so a lookup allocates nothing. */
  private conns = new Map<number, Map<number, TcpEndpoint>>();
  private listeners = new Map<number, Listener[]>();
  private readonly seg = new TcpSegment();
  private readonly opts = new TcpOptions();
  private readonly repr = createTcpRepr();
  /** The key of the hash behind ISNs, TSval offsets and SYN cookies (isn.ts). */
  readonly secret: Buffer;
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
    icmp.addErrorHandler(IPPROTO_TCP, (info) => icmpError(this, info));
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

  findListener(laddr: number, port: number): Listener | undefined {
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

  /**
   * bind(0) for a listener (Linux inet_csk_get_port with port 0): an
   * ephemeral port no connection or listener uses at all — not merely one
   * whose 4-tuple is free, as for connect().
   */
  listenPort(): number {
    const span = this.config.portHigh - this.config.portLow + 1;
    for (let i = 0; i < span; i++) {
      const p = this.config.portLow + ((this.nextPort - this.config.portLow + i) % span);
      if (!this.portInUse(p)) {
        this.nextPort = p + 1;
        return p;
      }
    }
    throw Object.assign(new Error('listen EADDRINUSE: no free local port'), { code: 'EADDRINUSE', syscall: 'listen' });
  }

  newEndpoint(o: Partial<EndpointOptions> = {}): TcpEndpoint {
    return new TcpEndpoint(this, { ...this.config.defaults, ...o });
  }

  // ------------------------------------------------------------ active open

  /** connect(): SYN-SENT and the first SYN (connect.ts). */
  connect(ep: TcpEndpoint, raddr: number, rport: number, laddr: number, lport: number): void {
    active.connect(this, ep, raddr, rport, laddr, lport);
  }

  /** Sends (or resends) the SYN of SYN-SENT or the SYN-ACK of SYN-RECV (connect.ts). */
  sendSyn(ep: TcpEndpoint): void {
    active.sendSyn(this, ep);
  }

  /** Applies the peer's SYN options (connect.ts). */
  negotiate(ep: TcpEndpoint, o: TcpOptions): void {
    active.negotiate(this, ep, o);
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
        rcvListen(this, l, seg, o, pb, isn);
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
      rcvListen(this, l, seg, o, pb);
      return;
    }
    // Nobody owns it: RST (RFC 9293 §3.10.7.1), so the peer's connect fails at once.
    if (!(seg.flags & TCP_RST)) this.sendResetFor(seg, laddr, raddr);
    this.net.drop(pb, 'tcp-noport');
  };

  // ------------------------------------------------------------ ISN, RST, limits

  /**
   * The TSval offset of a connection (Linux secure_tcp_ts_off): a keyed hash
   * of the addresses (isn.ts).
   */
  tsOffset(laddr: number, raddr: number): number {
    return secureTsOffset(this.secret, laddr, raddr);
  }

  /** RFC 6528: ISN = M + F(4-tuple, secret), M a 4 µs clock (isn.ts). Every ISN is taken here. */
  isn(laddr: number, lport: number, raddr: number, rport: number): number {
    return secureTcpSeq(this.secret, this.net.now(), laddr, lport, raddr, rport);
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
   * Should the ACK to a segment that cannot be accepted be skipped? At most
   * one per `invalidRatelimitMs` per connection or request (Linux
   * tcp_oow_rate_limited; `holder.lastOowAck` is its last_oow_ack_time).
   * Data without a SYN is never limited: it cannot be one side of an ACK
   * loop, and its ACK may be what the sender waits for. A skipped ACK counts
   * under `counter`.
   */
  oowRateLimited(holder: { lastOowAck: number }, data: boolean, counter: OowAckCounter): boolean {
    if (data) return false;
    const now = this.net.now();
    if (now - holder.lastOowAck < this.config.invalidRatelimitMs) {
      this.net.tcp[counter]++;
      return true;
    }
    holder.lastOowAck = now;
    return false;
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
