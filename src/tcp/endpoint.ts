// endpoint: one TCP connection — the transmission control block of RFC 9293
// §3.3.1 (SND.UNA, SND.NXT, SND.WND, RCV.NXT, RCV.WND, …) and everything that
// sends: segment building with options, the send engine (flow control,
// congestion window, Nagle, loss recovery), and the timers (retransmission
// RFC 6298, delayed ACK, persist, keepalive, TIME-WAIT, FIN-WAIT-2).
// Arriving segments are processed in input.ts.

import { Timer } from '../core/timers.js';
import { IPPROTO_TCP } from '../wire/ipv4.js';
import { createTcpRepr, emitTcp, TCP_ACK, TCP_FIN, TCP_HLEN, TCP_PSH, TCP_RST, TCP_SYN, TcpSegment } from '../wire/tcp.js';
import { clearTcpOptions, tcpOptionsLength, TcpOptions, TCP_MAX_WSCALE } from '../wire/tcpOptions.js';
import { createCongestionOps, CwndUse, INITIAL_WINDOW_SEGMENTS, restartCwnd, type CongestionOps } from './congestion.js';
import { OfoQueue } from './reassembly.js';
import { RttEstimator, TCP_RTO_MAX } from './rtt.js';
import { SendBuffer } from './sendBuffer.js';
import { seqAdd, seqDiff, seqGt, seqLt, seqMax } from './seqnum.js';
import { TcpState } from './state.js';
import type { TcpProto } from './tcp.js';

/** What the socket layer hears from its endpoint (the endpoint knows nothing of streams). */
export interface EndpointEvents {
  /** The handshake completed. */
  onConnect(): void;
  /** In-order data; the bytes belong to the callee (already copied out of packet buffers). */
  onData(data: Uint8Array): void;
  /** The peer's FIN: no more data will come. */
  onEnd(): void;
  /** Room appeared in the send buffer. */
  onDrain(): void;
  /** The connection failed (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, EHOSTUNREACH, …). */
  onError(code: string): void;
  /** The endpoint is done: nothing more will be reported. */
  onClose(): void;
  /** Bytes delivered with onData that the application has not consumed yet. */
  unreadBytes(): number;
}

export interface EndpointOptions {
  sndBuf: number;
  rcvBuf: number;
  congestion: 'cubic' | 'reno';
  noDelay: boolean;
}

export const DEFAULT_SNDBUF = 262_144;
export const DEFAULT_RCVBUF = 262_144;
/** Linux TCP_DELACK_MAX / TCP_ATO_MIN: ACK a lone segment within 40 ms. */
export const DELACK_MS = 40;
const TCP_RETRIES2 = 15;
const TCP_SYN_RETRIES = 6;
/** Linux tcp_orphan_retries() with tcp_orphan_retries = 0: 8 tries for a socket nobody holds. */
const TCP_ORPHAN_RETRIES = 8;
/**
 * RFC 5681 §3.2 step 3: entering fast recovery on the third duplicate ACK,
 * NewReno inflates cwnd by the three segments those ACKs say have left the network.
 */
const NEWRENO_DUPACK_INFLATION = 3;
const MAX_OPTION_SACKS_WITH_TS = 3;

/** Which segment fields to fill for a SYN / SYN-ACK. */
export interface SynOptions {
  mss: number;
  wscale: number; // -1: not offered
  sackOk: boolean;
  tsOk: boolean;
}

export class TcpEndpoint {
  state: TcpState = TcpState.Close;
  laddr = 0;
  lport = 0;
  raddr = 0;
  rport = 0;

  // RFC 9293 §3.3.1 send sequence variables
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  /** The highest sequence sent so far (SND.NXT goes back on an RTO; this does not). */
  sndMax = 0;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  /** Peer's window scale shift (applied to windows it advertises). */
  sndWscale = 0;
  // receive sequence variables
  irs = 0;
  rcvNxt = 0;
  /** Our window scale shift; rcvWup/rcvWnd: the right edge last advertised. */
  rcvWscale = 0;
  rcvWup = 0;
  rcvWnd = 0;

  /** Effective send MSS (payload bytes per segment) and what we advertise. */
  mss = 536;
  advMss = 1460;
  sackOk = false;
  tsOk = false;
  /** Both sides offered window scaling (RFC 7323 §2.2: else neither scales). */
  wscaleOk = false;
  /** An ICMP error that did not end the connection; reported instead of ETIMEDOUT (Linux sk_err_soft). */
  softError: string | null = null;
  tsRecent = 0;
  tsRecentStamp = 0;
  /** Offset of our TSval clock, a keyed hash of the addresses (set by TcpProto; Linux since 4.10). */
  tsOffset = 0;
  lastAckSent = 0;

  readonly sendBuf = new SendBuffer();
  readonly ofo: OfoQueue;
  readonly rtt = new RttEstimator();
  cc: CongestionOps;
  cwnd = 0;
  ssthresh = 0x7fffffff;
  /** When the last data segment left (Linux lsndtime): restart after idle, CUBIC's epoch shift. */
  lastSend = 0;
  /** Whether the flow uses its cwnd (Linux tcp_cwnd_validate's record), for isCwndLimited(). */
  readonly cwndUse = new CwndUse();
  /** Bytes Limited Transmit sent beyond cwnd since the first duplicate ACK (kept out of FlightSize, RFC 5681 §3.2 step 2). */
  limitedBytes = 0;

  /** Loss recovery (RFC 6582 NewReno / RFC 6675 SACK). */
  inRecovery = false;
  recover = 0;
  /** `recover` still guards against a second fast retransmit (RFC 6582 §3.2 step 2); false once SND.UNA passed it. */
  recoverValid = false;
  dupAcks = 0;
  highRxt = 0;
  /** SACKed ranges above SND.UNA, sorted, merged: [l0, r0, l1, r1, …]. */
  sacked: number[] = [];
  retransmits = 0; // total, for ss
  backoff = 0;
  /** RTT timing of one segment without timestamps (Karn: never a retransmitted one). */
  rttSeq = -1;
  rttTime = 0;

  /** A FIN is to follow the data in the send buffer (shutdown(SHUT_WR) done). */
  finQueued = false;
  /** The sequence number of our FIN once sent, else -1. */
  finSeq = -1;
  /** The end of the last segment shorter than the MSS we sent, or -1 (Linux snd_sml, for Nagle). */
  sndSml = -1;
  /** Full-sized segments received since the last ACK sent (ACK every second one). */
  quickAckPending = 0;
  /** The application closed the socket: no reader left. */
  orphan = false;
  keepalive = false;
  keepaliveIdleMs = 7_200_000;
  keepaliveIntvlMs = 75_000;
  keepaliveProbes = 9;
  /**
   * Unanswered probes in a row, keepalive or zero-window (Linux icsk_probes_out,
   * shared by both the same way); input.ts clears it on every acceptable segment.
   */
  probesOut = 0;
  lastRecv = 0;
  noDelay: boolean;
  sndBufSize: number;
  rcvBufSize: number;
  /** The error that ended the connection, if any. */
  error: string | null = null;

  readonly rtoTimer: Timer;
  readonly delackTimer: Timer;
  readonly persistTimer: Timer;
  readonly keepaliveTimer: Timer;
  /** TIME-WAIT and FIN-WAIT-2 expiry, and the SYN-SENT deadline. */
  readonly waitTimer: Timer;

  events: EndpointEvents | null = null;
  private readonly view = new TcpSegment();
  private readonly repr = createTcpRepr();
  readonly opts = new TcpOptions();

  constructor(
    readonly proto: TcpProto,
    o: EndpointOptions,
  ) {
    this.sndBufSize = o.sndBuf;
    this.rcvBufSize = o.rcvBuf;
    this.noDelay = o.noDelay;
    this.cc = createCongestionOps(o.congestion);
    this.ofo = new OfoQueue(o.rcvBuf);
    this.rcvWscale = wscaleFor(o.rcvBuf);
    this.rtoTimer = new Timer(() => this.onRto());
    this.delackTimer = new Timer(() => this.sendAck());
    this.persistTimer = new Timer(() => this.onPersist());
    this.keepaliveTimer = new Timer(() => this.onKeepalive());
    this.waitTimer = new Timer(() => this.onWaitTimer());
  }

  get now(): number {
    return this.proto.net.now();
  }

  /** Our TSval clock: milliseconds, offset per connection. */
  tsNow(): number {
    return (Math.floor(this.now) + this.tsOffset) >>> 0;
  }

  /** Bytes sent and not acknowledged. */
  get flight(): number {
    return seqDiff(this.sndNxt, this.sndUna);
  }

  // ---------------------------------------------------------------- windows

  /**
   * The receive window to advertise (RFC 9293 §3.8.6.2.2): the free receive
   * buffer, but never moving the right edge left, and advancing it only by
   * at least min(rcvbuf/2, MSS) (receiver-side silly window avoidance).
   */
  selectWindow(): number {
    const free = Math.max(0, this.rcvBufSize - (this.events?.unreadBytes() ?? 0) - this.ofo.bytes);
    const max = 65535 << this.rcvWscale;
    let win = Math.min(free, max);
    const curRight = seqAdd(this.rcvWup, this.rcvWnd);
    const curWin = Math.max(0, seqDiff(curRight, this.rcvNxt));
    // Receiver-side SWS avoidance (RFC 9293 §3.8.6.2.2): keep RCV.NXT + RCV.WND where it is
    // until it can move by min(Fr · RCV.BUFF, MSS), Fr = 1/2 — a full-sized segment being
    // advMss less the timestamps (Linux rcv_mss). Also from a zero window: a reader taking
    // 100 bytes at a time must not open it 100 bytes at a time, or the sender, forced by
    // its persist timer, fills it with 100-byte segments (Linux __tcp_select_window: 0
    // while the free space is below an MSS).
    const rcvMss = this.advMss - (this.tsOk ? 12 : 0);
    if (win < curWin) win = curWin; // never shrink (RFC 9293 §3.8.6.2.2)
    else if (win - curWin < Math.min(this.rcvBufSize / 2, rcvMss)) win = curWin;
    // Round down to what the scaled field can express, never below what it already covers.
    win = Math.max(curWin, win - (win & ((1 << this.rcvWscale) - 1)));
    this.rcvWup = this.rcvNxt;
    this.rcvWnd = win;
    return win;
  }

  // ------------------------------------------------------------ segment out

  /**
   * Builds and sends one segment. `dataOff` is the offset of the payload in
   * the send buffer (bytes after SND.UNA), `len` its length.
   */
  xmit(flags: number, seq: number, dataOff: number, len: number, syn?: SynOptions): void {
    const o = this.opts;
    clearTcpOptions(o);
    if (syn) {
      o.mss = syn.mss;
      o.wscale = syn.wscale;
      o.sackPermitted = syn.sackOk;
      if (syn.tsOk) {
        o.timestamps = true;
        o.tsVal = this.tsNow();
        o.tsEcr = flags & TCP_ACK ? this.tsRecent : 0;
      }
    } else {
      if (this.tsOk) {
        o.timestamps = true;
        o.tsVal = this.tsNow();
        o.tsEcr = this.tsRecent;
      }
      if (this.sackOk && this.ofo.length > 0 && !(flags & TCP_RST)) {
        // SACK blocks share the segment with the payload: this.mss leaves room for the
        // timestamps only, so a data segment carries as many blocks (4 + 8n bytes) as
        // still fit in the MTU, none in a full-sized one (Linux sizes it in tcp_current_mss).
        let max = this.tsOk ? MAX_OPTION_SACKS_WITH_TS : 4;
        if (len > 0) max = Math.max(0, Math.min(max, Math.floor((this.mss - len - 4) / 8)));
        const n = max > 0 ? this.ofo.sackBlocks(o.sackBlocks, max) : 0;
        o.sackCount = n;
      }
    }
    const hlen = TCP_HLEN + tcpOptionsLength(o);
    const pb = this.proto.ip.allocPayload(hlen + len);
    const at = pb.put(hlen + len);
    if (len > 0) this.sendBuf.copyOut(dataOff, len, pb.buf, at + hlen);
    const r = this.repr;
    r.srcPort = this.lport;
    r.dstPort = this.rport;
    r.seq = seq >>> 0;
    r.ack = flags & TCP_ACK ? this.rcvNxt >>> 0 : 0;
    r.flags = flags;
    // RFC 7323 §2.2: the window of a SYN is never scaled.
    r.window = flags & TCP_SYN ? Math.min(65535, this.selectWindow()) : (flags & TCP_RST ? 0 : this.selectWindow() >>> this.rcvWscale);
    // Remember the right edge the SYN really offered (at most 64 KB): if the peer
    // turns scaling down, "never shrink" must not hold on to a window the 16-bit
    // field cannot carry (262144 >>> 0 would go out as 0; Linux: rcv_wnd ≤ 65535 in a SYN).
    if (flags & TCP_SYN) this.rcvWnd = r.window;
    r.urgentPtr = 0;
    r.payloadLen = len;
    r.options = o;
    const seg = this.view.wrap(pb.buf, at, hlen + len);
    emitTcp(r, seg);
    if (flags & TCP_FIN) this.finSeq = seqAdd(seq, len);
    seg.fillChecksum(this.laddr, this.raddr, hlen + len);
    if (flags & TCP_ACK) {
      this.lastAckSent = this.rcvNxt;
      this.quickAckPending = 0;
      if (this.delackTimer.pending) this.proto.net.rt.timers.cancel(this.delackTimer);
    }
    const c = this.proto.net.tcp;
    c.TcpOutSegs++;
    if (flags & TCP_RST) c.TcpOutRsts++;
    const err = this.proto.ip.output(pb, { saddr: this.laddr, daddr: this.raddr, protocol: IPPROTO_TCP, dontFrag: true });
    if (err === 'EMSGSIZE') this.mss = Math.max(64, this.mss - 40); // the route MTU shrank under us
  }

  sendAck(): void {
    if (this.state === TcpState.Close || this.state === TcpState.Listen || this.state === TcpState.SynSent) return;
    this.xmit(TCP_ACK, this.sndNxt, 0, 0);
  }

  /** ACK now if one is owed, else leave it to the delayed-ACK timer. */
  scheduleAck(quick: boolean): void {
    if (quick || ++this.quickAckPending >= 2) {
      this.sendAck();
      return;
    }
    if (!this.delackTimer.pending) {
      this.proto.net.tcp.TcpExtDelayedACKs++;
      this.proto.net.rt.timers.arm(this.delackTimer, this.now + DELACK_MS);
    }
  }

  sendRst(): void {
    this.xmit(TCP_RST | TCP_ACK, this.sndNxt, 0, 0);
  }

  /** A challenge ACK (RFC 5961 §3.2, §4.2, §5.2), rate-limited across the stack. */
  challengeAck(): void {
    if (!this.proto.allowChallengeAck()) {
      this.proto.net.tcp.TcpExtTCPACKSkippedChallenge++;
      return;
    }
    this.proto.net.tcp.TcpExtTCPChallengeACK++;
    this.sendAck();
  }

  // ------------------------------------------------------------ send engine

  /** Sends what the windows allow: retransmissions in recovery first, then new data, then FIN. */
  push(): void {
    const s = this.state;
    if (s !== TcpState.Established && s !== TcpState.CloseWait && s !== TcpState.FinWait1 && s !== TcpState.Closing && s !== TcpState.LastAck) return;
    if (this.inRecovery) this.recoverySend();
    if (this.dupAcks === 0) this.limitedBytes = 0;
    let sent = false;
    let limited = 0;
    for (;;) {
      const offset = this.flight; // send-buffer offset of SND.NXT
      const unsent = this.sendBuf.length - offset;
      // Limited Transmit (RFC 3042; RFC 5681 §3.2 step 1): each of the first two duplicate
      // ACKs lets one new segment past cwnd, so that a small window still draws the three
      // duplicates fast retransmit needs instead of waiting for the RTO.
      limited = this.inRecovery ? 0 : Math.min(this.dupAcks, 2) * this.mss;
      const wndLimit = Math.min(this.cwnd + limited, this.sndWnd) - this.flight - (this.inRecovery ? this.pipeExtra() : 0);
      if (unsent > 0) {
        let len = Math.min(unsent, this.mss);
        if (wndLimit < len) {
          // Sender-side silly window avoidance (RFC 9293 §3.8.6.2.1): a segment cut
          // short by the window goes only if it is at least Fs = 1/2 of the largest
          // window the peer ever offered; else wait for the window to open, the
          // persist timer's override (onPersist) being the RFC's timeout. (The RFC's
          // "all queued data fits" case never gets here: then wndLimit ≥ len.)
          // Linux is stricter: tcp_snd_wnd_test never cuts a segment to the window,
          // only tcp_write_wakeup (the persist timer) does.
          if (wndLimit <= 0) break;
          if (!(this.maxSndWnd > 0 && wndLimit >= this.maxSndWnd / 2)) break;
          len = wndLimit;
        }
        // Nagle (RFC 896, RFC 1122 §4.2.3.4) with Minshall's rule, as Linux (tcp_minshall_check):
        // a small segment waits only while an earlier small one is unacknowledged, so the
        // tail of a large write is not held back a round trip (or a delayed ACK).
        const smallOut = this.sndSml >= 0 && seqGt(this.sndSml, this.sndUna) && !seqGt(this.sndSml, this.sndNxt);
        if (len < this.mss && !this.noDelay && this.flight > 0 && smallOut && !(this.finQueued && len === unsent)) break;
        const last = len === unsent;
        const fin = last && this.finQueued && !finWasSent(this);
        let flags = TCP_ACK | (last ? TCP_PSH : 0);
        if (fin) flags |= TCP_FIN;
        // What Limited Transmit lets past cwnd must not count in the FlightSize
        // that halves into ssthresh if recovery follows (RFC 5681 §3.2 step 2).
        if (limited > 0) this.limitedBytes = Math.max(this.limitedBytes, this.flight + len - this.cwnd);
        this.sendNew(flags, offset, len);
        sent = true;
        continue;
      }
      if (this.finQueued && !finWasSent(this) && unsent === 0) {
        this.sendNew(TCP_ACK | TCP_FIN, offset, 0);
        sent = true;
      }
      break;
    }
    // Nothing in flight yet data waits: only the window holds it back, zero or too
    // small for a segment. Either way the persist timer must run, or a lost window
    // update stalls the connection for good (Linux tcp_check_probe_timer).
    if (!sent && this.sendBuf.length - this.flight > 0 && this.flight === 0) this.armPersist();
    // Linux tcp_write_xmit: cwnd-limited when what is in flight leaves cwnd no
    // room for another segment (tcp_packets_in_flight >= snd_cwnd, here in bytes;
    // the pipe in SACK recovery; what Limited Transmit sent beyond cwnd aside).
    const inFlight = this.flight + (this.inRecovery ? this.pipeExtra() : 0) - limited;
    const cwndLimited = this.cwnd - inFlight < this.mss;
    if (sent || cwndLimited) this.cwndUse.validate(cwndLimited, this.sndUna, this.sndNxt);
  }

  /** Linux tcp_is_cwnd_limited: the congestion algorithm grows cwnd on an ACK only if this holds. */
  isCwndLimited(): boolean {
    return this.cwndUse.isCwndLimited(this.cwnd, this.ssthresh);
  }

  /**
   * Restart after idle (RFC 5681 §4.1; Linux tcp_slow_start_after_idle_check with
   * tcp_slow_start_after_idle = 1): new data with nothing in flight more than one RTO
   * after the last data went out. The ACK clock is gone and cwnd no longer reflects
   * the path, so a full cwnd must not go out as one burst (restartCwnd). ssthresh
   * keeps 3/4 of the old cwnd (tcp_current_ssthresh), so slow start climbs back to it.
   */
  private restartAfterIdle(): void {
    const idle = this.now - this.lastSend;
    if (idle <= this.rtt.rto) return;
    const cwnd = this.cwnd;
    if (!this.inRecovery) this.ssthresh = Math.max(this.ssthresh, Math.floor(cwnd / 2) + Math.floor(cwnd / 4));
    this.cwnd = restartCwnd(cwnd, INITIAL_WINDOW_SEGMENTS * this.mss, idle, this.rtt.rto);
  }

  /** Sends new data (or a FIN) at SND.NXT and advances it. */
  private sendNew(flags: number, offset: number, len: number): void {
    const seq = this.sndNxt;
    const retransmit = seqLt(seq, this.sndMax);
    if (len > 0) this.dataSent();
    this.xmit(flags, seq, offset, len);
    if (retransmit) this.proto.net.tcp.TcpRetransSegs++;
    this.sndNxt = seqAdd(seq, len + (flags & TCP_FIN ? 1 : 0));
    if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
    if (len < this.mss) this.sndSml = seqAdd(seq, len); // tcp_minshall_update
    if (flags & TCP_FIN) this.onFinSent();
    if (!this.tsOk && this.rttSeq < 0 && !retransmit && len > 0) {
      this.rttSeq = seq;
      this.rttTime = this.now;
    }
    if (!this.rtoTimer.pending) this.armRto();
    if (this.persistTimer.pending) this.proto.net.rt.timers.cancel(this.persistTimer);
  }

  /**
   * Linux tcp_event_data_sent, before a data segment goes out: the first one sent
   * with nothing in flight tells the algorithm how long the connection sat idle
   * (CA_EVENT_TX_START: CUBIC shifts its epoch by it); then the send time is noted.
   */
  private dataSent(): void {
    const now = this.now;
    if (this.flight === 0) this.cc.onTxStart(this, now - this.lastSend, now);
    this.lastSend = now;
  }

  private onFinSent(): void {
    if (this.state === TcpState.Established) this.setState(TcpState.FinWait1);
    else if (this.state === TcpState.CloseWait) this.setState(TcpState.LastAck);
  }

  // ------------------------------------------------------- loss recovery

  /** Bytes SACKed between SND.UNA and SND.NXT. */
  sackedBytes(): number {
    let n = 0;
    for (let i = 0; i < this.sacked.length; i += 2) n += seqDiff(this.sacked[i + 1]!, this.sacked[i]!);
    return n;
  }

  /** The highest SACKed sequence, or SND.UNA. */
  private highSacked(): number {
    return this.sacked.length ? this.sacked[this.sacked.length - 1]! : this.sndUna;
  }

  /**
   * RFC 6675 §4 "pipe" beyond plain flight: SACKed bytes have left the network,
   * holes below the highest SACK are deemed lost unless already retransmitted.
   * Returned as the (negative) correction to add to the flight size.
   */
  private pipeExtra(): number {
    if (!this.sackOk || this.sacked.length === 0) return 0;
    const high = this.highSacked();
    const holes = seqDiff(high, this.sndUna) - this.sackedBytes();
    const retransmitted = Math.max(0, Math.min(holes, seqDiff(this.highRxt, this.sndUna) - this.sackedBelow(this.highRxt)));
    return -this.sackedBytes() - holes + retransmitted;
  }

  private sackedBelow(seq: number): number {
    let n = 0;
    for (let i = 0; i < this.sacked.length; i += 2) {
      const l = this.sacked[i]!;
      const r = this.sacked[i + 1]!;
      if (!seqLt(l, seq)) break;
      n += seqDiff(seqLt(r, seq) ? r : seq, l);
    }
    return n;
  }

  /** The next hole to retransmit at or after `from`, as [seq, len], or null. */
  private nextHole(from: number): [number, number] | null {
    let seq = seqMax(from, this.sndUna);
    const high = this.sackOk && this.sacked.length ? this.highSacked() : seqAdd(this.sndUna, Math.min(this.mss, this.flight));
    for (let i = 0; i < this.sacked.length; i += 2) {
      const l = this.sacked[i]!;
      const r = this.sacked[i + 1]!;
      if (seqLt(seq, l)) return [seq, Math.min(seqDiff(l, seq), this.mss)];
      if (seqLt(seq, r)) seq = r;
    }
    if (seqLt(seq, high)) return [seq, Math.min(seqDiff(high, seq), this.mss)];
    return null;
  }

  /** Enters fast recovery (RFC 5681 §3.2 step 2, RFC 6675 §5 step 4). */
  enterRecovery(): void {
    const c = this.proto.net.tcp;
    if (this.sackOk) c.TcpExtTCPSackRecovery++;
    else c.TcpExtTCPRenoRecovery++;
    this.inRecovery = true;
    this.recover = this.sndMax;
    this.recoverValid = true;
    // RFC 5681 §3.2 step 2: FlightSize without what Limited Transmit sent.
    this.ssthresh = this.cc.ssthresh(this, Math.max(0, this.flight - this.limitedBytes), this.now);
    // With SACK the pipe of RFC 6675 counts what left the network, so cwnd is ssthresh
    // (§5 step 4.2). NewReno counts nothing but the duplicates: cwnd = ssthresh + 3·SMSS
    // (RFC 5681 §3.2 step 3, RFC 6582 §3.2 step 2), and each further duplicate adds an
    // SMSS (processAck), so new data flows again after about half a window of them.
    // No PRR (RFC 6937): Linux would use it for both cases.
    this.cwnd = this.sackOk ? this.ssthresh : this.ssthresh + NEWRENO_DUPACK_INFLATION * this.mss;
    this.highRxt = this.sndUna;
    // The first retransmission goes regardless of the window (RFC 6675 §5 step 4.3).
    const hole = this.nextHole(this.sndUna) ?? [this.sndUna, Math.min(this.mss, this.flight)];
    this.retransmit(hole[0], hole[1]);
    c.TcpExtTCPFastRetrans++;
  }

  /** In recovery: retransmit lost holes while the pipe allows (RFC 6675 §5 step 4.2 / NextSeg rule 1). */
  private recoverySend(): void {
    for (;;) {
      const pipe = this.flight + this.pipeExtra();
      if (pipe + this.mss > this.cwnd) return;
      const hole = this.sackOk ? this.nextHole(this.highRxt) : null;
      if (!hole) return;
      this.retransmit(hole[0], hole[1]);
    }
  }

  /** Retransmits [seq, seq+len) from the send buffer. */
  retransmit(seq: number, len: number): void {
    const off = seqDiff(seq, this.sndUna);
    const avail = this.sendBuf.length - off;
    let flags = TCP_ACK;
    if (len > avail) {
      len = Math.max(0, avail);
      if (this.finQueued) flags |= TCP_FIN;
    }
    if (len === 0 && !(flags & TCP_FIN)) return;
    if (len > 0) this.lastSend = this.now; // never with nothing in flight: no TX_START
    this.xmit(flags | (len > 0 ? TCP_PSH : 0), seq, off, len);
    this.proto.net.tcp.TcpRetransSegs++;
    this.retransmits++;
    const end = seqAdd(seq, len + (flags & TCP_FIN ? 1 : 0));
    if (seqGt(end, this.highRxt)) this.highRxt = end;
    if (this.rttSeq >= 0 && !seqLt(this.rttSeq, seq) && seqLt(this.rttSeq, end)) this.rttSeq = -1; // Karn
    if (!this.rtoTimer.pending) this.armRto();
  }

  // --------------------------------------------------------------- timers

  armRto(): void {
    const rto = Math.min(TCP_RTO_MAX, this.rtt.rto * 2 ** this.backoff);
    this.proto.net.rt.timers.arm(this.rtoTimer, this.now + rto);
  }

  stopRto(): void {
    this.proto.net.rt.timers.cancel(this.rtoTimer);
  }

  /** RFC 6298 §5.4–5.6, RFC 5681 §3.1 eq. 4: back off, collapse cwnd, go back to SND.UNA. */
  private onRto(): void {
    const c = this.proto.net.tcp;
    const s = this.state;
    if (s === TcpState.SynSent || s === TcpState.SynRecv) {
      if (this.backoff >= TCP_SYN_RETRIES) {
        c.TcpAttemptFails++; // Linux tcp_done: a connection that dies in SYN-SENT/SYN-RECV is a failed attempt
        this.fail('ETIMEDOUT');
        return;
      }
      this.backoff++;
      c.TcpExtTCPSynRetrans++;
      c.TcpRetransSegs++;
      this.proto.sendSyn(this);
      this.armRto();
      return;
    }
    if (this.flight === 0) return;
    if (this.backoff >= TCP_RETRIES2 || (this.orphan && this.backoff >= TCP_ORPHAN_RETRIES)) {
      c.TcpExtTCPAbortOnTimeout++;
      this.fail('ETIMEDOUT');
      return;
    }
    c.TcpExtTCPTimeouts++;
    // RFC 5681 §3.1: ssthresh is cut on the first timeout only; while the same
    // segment keeps timing out it is held constant (Linux tcp_enter_loss).
    if (this.backoff === 0) this.ssthresh = this.cc.ssthresh(this, this.flight, this.now);
    this.cc.onTimeout(this);
    this.cwnd = this.mss; // loss window: one segment
    this.backoff++;
    this.inRecovery = false;
    // RFC 6582 §4 (and RFC 6675 §5.1): duplicate ACKs for what was sent before
    // the timeout — the go-back-N resends draw them — must not start a fast
    // retransmit; Linux's tcp_enter_loss sets high_seq the same way.
    this.recover = this.sndMax;
    this.recoverValid = true;
    this.dupAcks = 0;
    this.sacked = []; // RFC 6675 §5.1: the scoreboard may be stale after an RTO; start over
    this.rttSeq = -1;
    // Go back to SND.UNA and resend (Linux marks everything in flight lost).
    this.sndNxt = this.sndUna;
    this.highRxt = this.sndUna;
    // One segment from SND.UNA through the ordinary path, so SND.MAX, the FIN's
    // state change and the counters stay right even when the segment reaches
    // past what was sent before (data Nagle held back, or a first FIN).
    const len = Math.min(this.mss, this.sendBuf.length);
    const last = len === this.sendBuf.length;
    this.sendNew(TCP_ACK | (len > 0 && last ? TCP_PSH : 0) | (this.finQueued && last ? TCP_FIN : 0), 0, len);
    this.retransmits++;
    this.armRto();
  }

  private armPersist(): void {
    if (this.persistTimer.pending) return;
    const rto = Math.min(TCP_RTO_MAX, Math.max(this.rtt.rto, 200) * 2 ** Math.min(this.backoff, 10));
    this.proto.net.rt.timers.arm(this.persistTimer, this.now + rto);
  }

  /**
   * Zero-window probe (RFC 9293 §3.8.6.1): Linux sends SND.UNA − 1 to draw an ACK carrying the window.
   * A window open but smaller than a segment is used as it is when the timer runs
   * out: the override timeout of sender-side SWS avoidance (§3.8.6.2.1; Linux tcp_write_wakeup).
   */
  private onPersist(): void {
    const unsent = this.sendBuf.length - this.flight;
    if (unsent <= 0 || this.flight > 0) {
      this.probesOut = 0; // Linux tcp_probe_timer: nothing to probe for
      return;
    }
    if (this.sndWnd > 0) {
      const len = Math.min(this.sndWnd, this.mss, unsent);
      const fin = len === unsent && this.finQueued && !finWasSent(this);
      this.sendNew(TCP_ACK | TCP_PSH | (fin ? TCP_FIN : 0), this.flight, len);
      return;
    }
    // Linux tcp_probe_timer: RFC 1122 §4.2.2.17 keeps a connection open as long as
    // the receiver answers the probes (every answer clears probesOut), but a peer
    // that answers none has gone away: after tcp_retries2 (15) probes in a row
    // unanswered — 8 for an orphan — give up as the RTO does (tcp_write_err).
    const maxProbes = this.orphan ? TCP_ORPHAN_RETRIES : TCP_RETRIES2;
    if (this.probesOut >= maxProbes) {
      this.proto.net.tcp.TcpExtTCPAbortOnTimeout++;
      this.fail('ETIMEDOUT');
      return;
    }
    this.proto.net.tcp.TcpExtTCPWinProbe++;
    this.xmit(TCP_ACK, seqAdd(this.sndUna, -1), 0, 0);
    this.probesOut++;
    this.backoff = Math.min(this.backoff + 1, TCP_RETRIES2);
    this.armPersist();
  }

  /**
   * Keepalive runs in every synchronized state but TIME-WAIT (Linux tcp_set_keepalive
   * and tcp_keepalive_timer skip only CLOSE, LISTEN and SYN-SENT): a half-closed
   * connection in CLOSE-WAIT or FIN-WAIT-2 can lose its peer as silently as an open one.
   */
  private keepaliveState(): boolean {
    const s = this.state;
    return s !== TcpState.Close && s !== TcpState.Listen && s !== TcpState.SynSent && s !== TcpState.TimeWait;
  }

  armKeepalive(): void {
    if (!this.keepalive || !this.keepaliveState()) return;
    this.proto.net.rt.timers.arm(this.keepaliveTimer, this.lastRecv + this.keepaliveIdleMs);
  }

  private onKeepalive(): void {
    if (!this.keepalive || !this.keepaliveState()) return;
    // An orphan in FIN-WAIT-2 is timed by finTimeoutMs (waitTimer); Linux's keepalive
    // timer doubles as that timeout there and never probes.
    if (this.state === TcpState.FinWait2 && this.orphan) return;
    // Linux tcp_keepalive_timer: "It is alive without keepalive" — with data in flight or
    // waiting the RTO or the persist timer watches the peer, so no probe: look again one
    // idle time from now.
    if (this.flight > 0 || this.sendBuf.length > 0 || (this.finQueued && !finWasSent(this))) {
      this.proto.net.rt.timers.arm(this.keepaliveTimer, this.now + this.keepaliveIdleMs);
      return;
    }
    const idle = this.now - this.lastRecv;
    if (idle < this.keepaliveIdleMs) {
      this.proto.net.rt.timers.arm(this.keepaliveTimer, this.lastRecv + this.keepaliveIdleMs);
      return;
    }
    if (this.probesOut >= this.keepaliveProbes) {
      // Linux tcp_keepalive_timer sends a RST as it gives up (tcp_send_active_reset),
      // so a peer that can still hear us drops its half too.
      this.sendRst();
      this.fail('ETIMEDOUT');
      return;
    }
    this.probesOut++;
    this.proto.net.tcp.TcpExtTCPKeepAlive++;
    this.xmit(TCP_ACK, seqAdd(this.sndUna, -1), 0, 0);
    this.proto.net.rt.timers.arm(this.keepaliveTimer, this.now + this.keepaliveIntvlMs);
  }

  private onWaitTimer(): void {
    if (this.state === TcpState.TimeWait || this.state === TcpState.FinWait2) {
      this.destroy();
      return;
    }
    if (this.state === TcpState.SynSent) this.fail('ETIMEDOUT');
  }

  // ------------------------------------------------------------ lifecycle

  setState(s: TcpState): void {
    const c = this.proto.net.tcp;
    const was = this.state;
    if (was === s) return;
    if (s === TcpState.Established || (was !== TcpState.Established && (s === TcpState.CloseWait))) {
      if (was === TcpState.SynSent || was === TcpState.SynRecv || was === TcpState.Close) c.TcpCurrEstab++;
    }
    if ((was === TcpState.Established || was === TcpState.CloseWait) && s !== TcpState.Established && s !== TcpState.CloseWait) c.TcpCurrEstab--;
    this.state = s;
    if (s === TcpState.TimeWait) {
      this.stopAllButWait();
      this.proto.net.rt.timers.arm(this.waitTimer, this.now + this.proto.config.timeWaitMs);
      this.proto.net.tcp.TcpExtTW++;
      this.events?.onClose();
      this.events = null;
    } else if (s === TcpState.FinWait2 && this.orphan) {
      this.proto.net.rt.timers.arm(this.waitTimer, this.now + this.proto.config.finTimeoutMs);
    }
  }

  private stopAllButWait(): void {
    const t = this.proto.net.rt.timers;
    t.cancel(this.rtoTimer);
    t.cancel(this.delackTimer);
    t.cancel(this.persistTimer);
    t.cancel(this.keepaliveTimer);
  }

  /** Ends the connection with an error reported to the socket (no RST sent). */
  fail(code: string): void {
    if (code === 'ETIMEDOUT' && this.softError) code = this.softError;
    this.error = code;
    const ev = this.events;
    this.events = null; // the error is the socket's last word, not a plain close
    this.destroy();
    ev?.onError(code);
  }

  /** Removes every trace of the connection: timers, queues, the demux tables. */
  destroy(): void {
    if (this.state === TcpState.Established || this.state === TcpState.CloseWait) this.proto.net.tcp.TcpCurrEstab--;
    this.state = TcpState.Close;
    this.stopAllButWait();
    this.proto.net.rt.timers.cancel(this.waitTimer);
    this.sendBuf.clear();
    this.ofo.clear();
    this.proto.unhash(this);
    const ev = this.events;
    this.events = null;
    ev?.onClose();
  }

  // ------------------------------------------------------------ user calls

  /** Copies as much of `data` into the send buffer as fits; returns the bytes taken. */
  send(data: Uint8Array): number {
    if (this.finQueued || !(this.state === TcpState.Established || this.state === TcpState.CloseWait || this.state === TcpState.SynSent || this.state === TcpState.SynRecv)) return -1;
    const room = this.sndBufSize - this.sendBuf.length;
    if (room <= 0) return 0;
    const n = Math.min(room, data.length);
    // Linux tcp_skb_entail → tcp_slow_start_after_idle_check: new data, nothing in flight.
    if (this.flight === 0 && (this.state === TcpState.Established || this.state === TcpState.CloseWait)) this.restartAfterIdle();
    this.sendBuf.append(data.slice(0, n));
    this.push();
    return n;
  }

  get sendRoom(): number {
    return this.sndBufSize - this.sendBuf.length;
  }

  /** shutdown(SHUT_WR): a FIN after the queued data (RFC 9293 §3.10.4 CLOSE in ESTABLISHED/CLOSE-WAIT). */
  shutdownWrite(): void {
    if (this.finQueued) return;
    const s = this.state;
    if (s === TcpState.SynSent) {
      this.destroy();
      return;
    }
    if (s !== TcpState.Established && s !== TcpState.CloseWait && s !== TcpState.SynRecv) return;
    this.finQueued = true;
    this.push();
  }

  /**
   * close(): the application is gone. With unread data Linux sends RST
   * (RFC 2525 §2.17; TcpExtTCPAbortOnClose); otherwise the connection
   * finishes its FIN handshake on its own (an orphan).
   */
  close(): void {
    this.orphan = true;
    const unread = (this.events?.unreadBytes() ?? 0) > 0 || this.ofo.bytes > 0;
    this.events = null;
    if (this.state === TcpState.Close) return;
    if (this.state === TcpState.SynSent || this.state === TcpState.Listen) {
      this.destroy();
      return;
    }
    if (unread && this.state !== TcpState.TimeWait) {
      this.proto.net.tcp.TcpExtTCPAbortOnClose++;
      this.abort();
      return;
    }
    this.shutdownWrite();
    if (this.state === TcpState.FinWait2) this.proto.net.rt.timers.arm(this.waitTimer, this.now + this.proto.config.finTimeoutMs);
  }

  /** ABORT (RFC 9293 §3.10.5): RST to the peer and gone. */
  abort(): void {
    const s = this.state;
    if (s === TcpState.Established || s === TcpState.CloseWait || s === TcpState.FinWait1 || s === TcpState.FinWait2 || s === TcpState.SynRecv) {
      this.sendRst();
      if (s === TcpState.Established || s === TcpState.CloseWait) this.proto.net.tcp.TcpEstabResets++;
    }
    this.destroy();
  }

  /** Called when the application consumed received data: open the window if it grew enough. */
  windowUpdate(): void {
    if (this.state !== TcpState.Established && this.state !== TcpState.FinWait1 && this.state !== TcpState.FinWait2) return;
    // Nothing received, nothing consumed: Linux's tcp_cleanup_rbuf acts only
    // when the application copied bytes. Without this, a passive open would
    // follow its SYN-ACK with an ACK just to widen the (unscaled) window.
    if (this.rcvNxt === seqAdd(this.irs, 1)) return;
    const advertised = Math.max(0, seqDiff(seqAdd(this.rcvWup, this.rcvWnd), this.rcvNxt));
    // No more than the window field can carry (65535 << wscale), as __tcp_select_window
    // clamps: else a buffer larger than 64 KB without scaling ACKs for nothing on every read.
    const free = Math.min(this.rcvBufSize - (this.events?.unreadBytes() ?? 0) - this.ofo.bytes, 65535 << this.rcvWscale);
    // Linux tcp_cleanup_rbuf: ACK when the window can at least double, or opens from below one MSS.
    if (free - advertised >= Math.min(this.rcvBufSize / 2, 2 * this.advMss) && (advertised < this.advMss || free >= 2 * advertised)) this.sendAck();
  }

  /** Initial congestion window (RFC 6928) once the MSS is known. */
  initCwnd(): void {
    this.cwnd = INITIAL_WINDOW_SEGMENTS * this.mss;
    // Linux tcp_finish_connect / tcp_create_openreq_child: lsndtime starts at the handshake.
    this.lastSend = this.now;
    this.cwndUse.usageSeq = this.sndNxt;
  }

  /** Applies a received SACK block list to the scoreboard (RFC 2018). */
  updateScoreboard(o: TcpOptions): void {
    for (let i = 0; i < o.sackCount; i++) {
      let l = o.sackBlocks[2 * i]!;
      let r = o.sackBlocks[2 * i + 1]!;
      // Ignore D-SACKs (below SND.UNA) and blocks beyond what was sent.
      if (!seqGt(r, this.sndUna)) {
        this.proto.net.tcp.TcpExtTCPDSACKRecv++;
        continue;
      }
      if (seqGt(r, this.sndMax) || !seqLt(l, r)) continue;
      if (seqLt(l, this.sndUna)) l = this.sndUna;
      // Merge into the sorted list.
      const out: number[] = [];
      let placed = false;
      for (let j = 0; j < this.sacked.length; j += 2) {
        const a = this.sacked[j]!;
        const b = this.sacked[j + 1]!;
        if (seqLt(b, l)) out.push(a, b);
        else if (seqGt(a, r)) {
          if (!placed) {
            out.push(l, r);
            placed = true;
          }
          out.push(a, b);
        } else {
          if (seqLt(a, l)) l = a;
          if (seqGt(b, r)) r = b;
        }
      }
      if (!placed) out.push(l, r);
      this.sacked = out;
    }
  }

  /** Drops scoreboard entries at or below SND.UNA. */
  trimScoreboard(): void {
    while (this.sacked.length && !seqGt(this.sacked[1]!, this.sndUna)) this.sacked.splice(0, 2);
    if (this.sacked.length && seqLt(this.sacked[0]!, this.sndUna)) this.sacked[0] = this.sndUna;
  }
}

/** The window scale that lets a window cover `rcvBuf` bytes (RFC 7323 §2.3), capped at 14. */
export function wscaleFor(rcvBuf: number): number {
  let s = 0;
  while (s < TCP_MAX_WSCALE && 65535 << s < rcvBuf) s++;
  return s;
}

/** True while SND.NXT is past our FIN (an RTO moves SND.NXT back before it). */
function finWasSent(ep: TcpEndpoint): boolean {
  return ep.finSeq >= 0 && seqGt(ep.sndNxt, ep.finSeq);
}
