// endpoint: one TCP connection — the transmission control block of RFC 9293
// §3.3.1 (SND.UNA, SND.NXT, SND.WND, RCV.NXT, RCV.WND, …) with its queues and
// timers, and the calls the socket layer and TcpProto make on it: send,
// shutdown, close and abort, the state changes and the end of the connection.
// The work is done in the file of its concern, functions taking the endpoint
// (the methods here that only delegate keep the names other code calls):
//
//   output.ts    segments out: building with options, ACKs and RSTs, the send
//                engine (flow control, congestion window, Nagle, sender-side
//                SWS avoidance), retransmission
//   window.ts    the receive window we advertise, the window update after a read
//   timers.ts    retransmission (RFC 6298), delayed ACK, persist, keepalive,
//                TIME-WAIT and FIN-WAIT-2
//   sack.ts      the SACK scoreboard and RFC 6675's pipe
//   recovery.ts  fast retransmit and fast recovery (RFC 5681 §3.2, 6582, 6675)
//   input.ts     arriving segments

import { Timer } from '../core/timers.js';
import { createTcpRepr, TcpSegment } from '../wire/tcp.js';
import { TcpOptions } from '../wire/tcpOptions.js';
import { createCongestionOps, CwndUse, INITIAL_WINDOW_SEGMENTS, type CongestionOps } from './congestion.js';
import * as output from './output.js';
import { OfoQueue } from './reassembly.js';
import * as recovery from './recovery.js';
import { RttEstimator } from './rtt.js';
import * as sack from './sack.js';
import { SendBuffer } from './sendBuffer.js';
import { seqDiff } from './seqnum.js';
import { TcpState } from './state.js';
import type { TcpProto } from './tcp.js';
import * as timers from './timers.js';
import * as rcvWindow from './window.js';

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
  /**
   * The path MTU an ICMP fragmentation needed reported (RFC 1191), 0 while
   * none has: the SYN-ACK's MSS is clamped to it (Linux icsk_pmtu_cookie).
   */
  pmtu = 0;
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
  /** When the last ACK to an unacceptable segment went out (TcpProto.oowRateLimited). */
  lastOowAck = -Infinity;
  noDelay: boolean;
  sndBufSize: number;
  rcvBufSize: number;
  /** The error that ended the connection, if any. */
  error: string | null = null;

  readonly rtoTimer: Timer;
  readonly delackTimer: Timer;
  readonly persistTimer: Timer;
  readonly keepaliveTimer: Timer;
  /** TIME-WAIT and FIN-WAIT-2 expiry (onWaitTimer). */
  readonly waitTimer: Timer;

  events: EndpointEvents | null = null;
  /** Scratch header view, repr and options for output.ts's xmit: nothing is allocated per segment. */
  readonly view = new TcpSegment();
  readonly repr = createTcpRepr();
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
    this.rcvWscale = rcvWindow.wscaleFor(o.rcvBuf);
    this.rtoTimer = new Timer(() => timers.onRto(this));
    this.delackTimer = new Timer(() => output.sendAck(this));
    this.persistTimer = new Timer(() => timers.onPersist(this));
    this.keepaliveTimer = new Timer(() => timers.onKeepalive(this));
    this.waitTimer = new Timer(() => timers.onWaitTimer(this));
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

  get sendRoom(): number {
    return this.sndBufSize - this.sendBuf.length;
  }

  /** Linux tcp_is_cwnd_limited: the congestion algorithm grows cwnd on an ACK only if this holds. */
  isCwndLimited(): boolean {
    return this.cwndUse.isCwndLimited(this.cwnd, this.ssthresh);
  }

  /** Initial congestion window (RFC 6928) once the MSS is known. */
  initCwnd(): void {
    this.cwnd = INITIAL_WINDOW_SEGMENTS * this.mss;
    // Linux tcp_finish_connect / tcp_create_openreq_child: lsndtime starts at the handshake.
    this.lastSend = this.now;
    this.cwndUse.usageSeq = this.sndNxt;
  }

  // ------------------------------------------------------------ delegates

  /** Builds and sends one segment (output.ts). */
  xmit(flags: number, seq: number, dataOff: number, len: number, syn?: SynOptions): void {
    output.xmit(this, flags, seq, dataOff, len, syn);
  }

  /** A pure ACK at SND.NXT (output.ts). */
  sendAck(): void {
    output.sendAck(this);
  }

  /** A rate-limited challenge ACK, RFC 5961 (output.ts). */
  challengeAck(): void {
    output.challengeAck(this);
  }

  /** Sends what the windows allow (output.ts). */
  push(): void {
    output.push(this);
  }

  /** Retransmits [seq, seq+len) from the send buffer (output.ts). */
  retransmit(seq: number, len: number): void {
    output.retransmit(this, seq, len);
  }

  /** ACK now or arm the delayed-ACK timer (timers.ts). */
  scheduleAck(quick: boolean): void {
    timers.scheduleAck(this, quick);
  }

  armRto(): void {
    timers.armRto(this);
  }

  stopRto(): void {
    timers.stopRto(this);
  }

  armKeepalive(): void {
    timers.armKeepalive(this);
  }

  /** The application read: send a window update if the window grew enough (window.ts). */
  windowUpdate(): void {
    rcvWindow.windowUpdate(this);
  }

  /** Fast retransmit and fast recovery (recovery.ts). */
  enterRecovery(): void {
    recovery.enterRecovery(this);
  }

  /** Applies a received SACK block list to the scoreboard (sack.ts). */
  updateScoreboard(o: TcpOptions): void {
    sack.updateScoreboard(this, o);
  }

  /** Drops scoreboard entries at or below SND.UNA (sack.ts). */
  trimScoreboard(): void {
    sack.trimScoreboard(this);
  }

  /** Bytes SACKed between SND.UNA and SND.NXT (sack.ts). */
  sackedBytes(): number {
    return sack.sackedBytes(this);
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
      timers.stopAllButWait(this);
      this.proto.net.rt.timers.arm(this.waitTimer, this.now + this.proto.config.timeWaitMs);
      this.proto.net.tcp.TcpExtTW++;
      this.events?.onClose();
      this.events = null;
    } else if (s === TcpState.FinWait2 && this.orphan) {
      this.proto.net.rt.timers.arm(this.waitTimer, this.now + this.proto.config.finTimeoutMs);
    }
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
    timers.stopAllButWait(this);
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
    if (this.flight === 0 && (this.state === TcpState.Established || this.state === TcpState.CloseWait)) output.restartAfterIdle(this);
    this.sendBuf.append(data.slice(0, n));
    this.push();
    return n;
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
      output.sendRst(this);
      if (s === TcpState.Established || s === TcpState.CloseWait) this.proto.net.tcp.TcpEstabResets++;
    }
    this.destroy();
  }
}

export { DELACK_MS } from './timers.js';
export { wscaleFor } from './window.js';
