// congestion: congestion control behind one interface, as Linux's
// tcp_congestion_ops: the connection owns cwnd and ssthresh (in bytes) and
// the loss-recovery machinery; the algorithm decides how cwnd grows on ACKs
// outside recovery (congAvoid) and where ssthresh goes after a loss.
//
//   Reno   RFC 5681: slow start below ssthresh, +1 MSS per RTT above it,
//          ssthresh = max(FlightSize / 2, 2 MSS) on loss.
//   CUBIC  RFC 9438: W_cubic(t) = C (t − K)^3 + W_max, beta 0.7, with the
//          Reno-friendly region (§4.3) and fast convergence (§4.7).
//
// Neither grows cwnd on an ACK unless the sender was cwnd-limited (Linux
// tcp_is_cwnd_limited, asked first thing in tcp_reno_cong_avoid and
// cubictcp_cong_avoid; RFC 9438 §5.8): the endpoint answers isCwndLimited().

import { seqDiff, seqLt } from './seqnum.js';

export interface CcState {
  cwnd: number;
  ssthresh: number;
  mss: number;
  /** Linux tcp_is_cwnd_limited: did the flow use its cwnd, or did the application hold it back? */
  isCwndLimited(): boolean;
}

export interface CongestionOps {
  readonly name: 'reno' | 'cubic';
  /** ACK of `acked` new bytes, outside loss recovery. `rtt` is the smoothed RTT in ms (0: unknown). */
  congAvoid(s: CcState, acked: number, now: number, rtt: number): void;
  /** The slow-start threshold after a congestion event with `flight` bytes outstanding. */
  ssthresh(s: CcState, flight: number, now: number): number;
  /** The connection went through a retransmission timeout (state is reset). */
  onTimeout(s: CcState): void;
  /**
   * A data segment is about to leave with nothing in flight, `idle` ms after the
   * previous one (Linux CA_EVENT_TX_START from tcp_event_data_sent).
   */
  onTxStart(s: CcState, idle: number, now: number): void;
}

/** RFC 6928: initial window of 10 segments (Linux TCP_INIT_CWND). */
export const INITIAL_WINDOW_SEGMENTS = 10;

/**
 * Whether a flow uses its cwnd — congestion window validation as Linux's
 * tcp_cwnd_validate and tcp_is_cwnd_limited (RFC 7661 in spirit; RFC 9438 §5.8).
 * A flow the application limits has not tested a larger window, so it must not
 * get one: else a request/response connection inflates cwnd ACK by ACK and
 * later bursts all of it into the network at once.
 */
export class CwndUse {
  /** A send was held back by cwnd in the window that ends at `usageSeq`. */
  limited = false;
  /** The most bytes outstanding in that window (Linux max_packets_out, in bytes). */
  maxOut = 0;
  usageSeq = 0;

  /**
   * After a send (Linux tcp_write_xmit → tcp_cwnd_validate): remember, for the window
   * now in flight, whether cwnd held a send back, or else the most bytes outstanding
   * in it; a new window (SND.UNA past `usageSeq`) starts the record over.
   */
  validate(limited: boolean, una: number, nxt: number): void {
    const out = seqDiff(nxt, una);
    if (!seqLt(una, this.usageSeq) || limited || (!this.limited && out > this.maxOut)) {
      this.limited = limited;
      this.maxOut = out;
      this.usageSeq = nxt;
    }
  }

  /** Linux tcp_is_cwnd_limited: cwnd was used; in slow start, cwnd may grow to twice what was in flight. */
  isCwndLimited(cwnd: number, ssthresh: number): boolean {
    if (this.limited) return true;
    if (cwnd < ssthresh) return cwnd < 2 * this.maxOut;
    return false;
  }
}

/**
 * Linux tcp_cwnd_restart (RFC 5681 §4.1, RFC 2861): cwnd after `idle` ms without
 * sending, `idle` > `rto` — halved for every RTO that elapsed, but never below
 * the restart window min(IW, cwnd).
 */
export function restartCwnd(cwnd: number, iw: number, idle: number, rto: number): number {
  const restart = Math.min(iw, cwnd);
  while ((idle -= rto) > 0 && cwnd > restart) cwnd = Math.floor(cwnd / 2);
  return Math.max(cwnd, restart);
}

/** RFC 5681 §3.1 slow start, with RFC 3465 byte counting (L = 2 MSS). Returns bytes left over. */
function slowStart(s: CcState, acked: number): number {
  const room = s.ssthresh - s.cwnd;
  const grow = Math.min(acked, 2 * s.mss, Math.max(room, 0));
  s.cwnd += grow;
  return acked - grow;
}

export class Reno implements CongestionOps {
  readonly name = 'reno' as const;
  private bytesAcked = 0;

  congAvoid(s: CcState, acked: number): void {
    if (!s.isCwndLimited()) return; // tcp_reno_cong_avoid
    if (s.cwnd < s.ssthresh) {
      acked = slowStart(s, acked);
      if (acked === 0) return;
    }
    // Congestion avoidance: one MSS per cwnd of acknowledged bytes (RFC 5681 §3.1, eq. 3 via byte counting).
    this.bytesAcked += acked;
    if (this.bytesAcked >= s.cwnd) {
      this.bytesAcked -= s.cwnd;
      s.cwnd += s.mss;
    }
  }

  ssthresh(s: CcState, flight: number): number {
    this.bytesAcked = 0;
    return Math.max(Math.floor(flight / 2), 2 * s.mss);
  }

  onTimeout(): void {
    this.bytesAcked = 0;
  }

  onTxStart(): void {}
}

const CUBIC_C = 0.4;
const CUBIC_BETA = 0.7;

export class Cubic implements CongestionOps {
  readonly name = 'cubic' as const;
  /** W_max in segments, the window before the last reduction. */
  private wMax = 0;
  private wLastMax = 0;
  /** Start of the current congestion-avoidance epoch, ms; -1 = not started. */
  private epochStart = -1;
  /** The epoch start, for `ss`-style inspection and tests (-1: none). */
  get epoch(): number {
    return this.epochStart;
  }
  private k = 0;
  /** The Reno-friendly estimate in segments (RFC 9438 §4.3). */
  private wEst = 0;
  private bytesAcked = 0;

  congAvoid(s: CcState, acked: number, now: number, rtt: number): void {
    if (!s.isCwndLimited()) return; // cubictcp_cong_avoid
    if (s.cwnd < s.ssthresh) {
      acked = slowStart(s, acked);
      if (acked === 0) return;
    }
    const mss = s.mss;
    const cwndSeg = s.cwnd / mss;
    if (this.epochStart < 0) {
      this.epochStart = now;
      if (this.wMax <= cwndSeg) {
        this.k = 0;
        this.wMax = cwndSeg;
      } else this.k = Math.cbrt((this.wMax - cwndSeg) / CUBIC_C); // RFC 9438 eq. 2
      this.wEst = cwndSeg;
    }
    const t = (now - this.epochStart + rtt) / 1000; // seconds, one RTT ahead (§4.2)
    const target = CUBIC_C * (t - this.k) ** 3 + this.wMax; // eq. 1
    // Reno-friendly region: W_est grows by alpha_cubic per RTT (§4.3, alpha = 3(1-β)/(1+β)).
    const alpha = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);
    this.wEst += (alpha * acked) / s.cwnd;
    let next = Math.max(target, this.wEst);
    // §4.4–4.5: never more than 1.5× per RTT; at least +1/cwnd in the concave region via counting.
    next = Math.min(next, cwndSeg * 1.5);
    if (next > cwndSeg) {
      // Spread the increase over the ACKs of one window (Linux's cnt).
      this.bytesAcked += acked;
      const perSeg = cwndSeg / (next - cwndSeg);
      while (this.bytesAcked >= perSeg * mss && perSeg > 0) {
        this.bytesAcked -= perSeg * mss;
        s.cwnd += mss;
      }
    } else {
      this.bytesAcked += acked;
      if (this.bytesAcked >= 100 * s.cwnd) {
        this.bytesAcked = 0;
        s.cwnd += mss;
      }
    }
  }

  ssthresh(s: CcState): number {
    const cwndSeg = s.cwnd / s.mss;
    this.epochStart = -1;
    this.bytesAcked = 0;
    // Fast convergence (§4.7): release bandwidth sooner to newer flows.
    if (cwndSeg < this.wLastMax) this.wMax = (cwndSeg * (1 + CUBIC_BETA)) / 2;
    else this.wMax = cwndSeg;
    this.wLastMax = cwndSeg;
    return Math.max(Math.floor(s.cwnd * CUBIC_BETA), 2 * s.mss);
  }

  onTimeout(): void {
    this.epochStart = -1;
    this.bytesAcked = 0;
  }

  /**
   * Idle time is no time on the curve (RFC 9438 §5.8; Linux cubictcp_cwnd_event,
   * CA_EVENT_TX_START): t counts from the epoch start, so after a pause the target
   * W_cubic(t) would have run far ahead of a cwnd that did not move, and the next ACKs
   * would grow cwnd by the 1.5× cap every RTT. Shift the epoch by the idle time, so
   * the curve keeps its shape and continues from where the flow paused.
   */
  onTxStart(_s: CcState, idle: number, now: number): void {
    if (this.epochStart >= 0 && idle > 0) {
      this.epochStart += idle;
      if (this.epochStart > now) this.epochStart = now;
    }
  }
}

export function createCongestionOps(name: 'reno' | 'cubic'): CongestionOps {
  return name === 'reno' ? new Reno() : new Cubic();
}
