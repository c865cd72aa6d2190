// timers: the timers of one connection (Linux tcp_timer.c, gVisor timer.go)
// and what each does when it runs out: retransmission (RFC 6298 with the
// go-back-N of RFC 5681 §3.1), delayed ACK (RFC 1122 §4.2.3.2), persist and
// zero-window probes (RFC 9293 §3.8.6.1), keepalive (RFC 1122 §4.2.3.6), and
// the wait timer of TIME-WAIT, an orphan's FIN-WAIT-2 and SYN-SENT. The
// endpoint holds the Timer objects (deadlines on the stack's wheel, never
// setTimeout handles); this file arms, stops and serves them.

import { TCP_ACK, TCP_FIN, TCP_PSH } from '../wire/tcp.js';
import type { TcpEndpoint } from './endpoint.js';
import { finWasSent, sendAck, sendNew, sendRst, xmit } from './output.js';
import { TCP_RTO_MAX } from './rtt.js';
import { seqAdd } from './seqnum.js';
import { TcpState } from './state.js';

/** Linux TCP_DELACK_MIN / TCP_ATO_MIN (HZ/25): ACK a lone segment within 40 ms. */
export const DELACK_MS = 40;
const TCP_RETRIES2 = 15;
const TCP_SYN_RETRIES = 6;
/** Linux tcp_orphan_retries() with tcp_orphan_retries = 0: 8 tries for a socket nobody holds. */
const TCP_ORPHAN_RETRIES = 8;

// ------------------------------------------------------------ delayed ACK

/** ACK now if one is owed, else leave it to the delayed-ACK timer. */
export function scheduleAck(ep: TcpEndpoint, quick: boolean): void {
  if (quick || ++ep.quickAckPending >= 2) {
    sendAck(ep);
    return;
  }
  if (!ep.delackTimer.pending) {
    ep.proto.net.tcp.TcpExtDelayedACKs++;
    ep.proto.net.rt.timers.arm(ep.delackTimer, ep.now + DELACK_MS);
  }
}

// ------------------------------------------------------------ retransmission

export function armRto(ep: TcpEndpoint): void {
  const rto = Math.min(TCP_RTO_MAX, ep.rtt.rto * 2 ** ep.backoff);
  ep.proto.net.rt.timers.arm(ep.rtoTimer, ep.now + rto);
}

export function stopRto(ep: TcpEndpoint): void {
  ep.proto.net.rt.timers.cancel(ep.rtoTimer);
}

/** RFC 6298 §5.4–5.6, RFC 5681 §3.1 eq. 4: back off, collapse cwnd, go back to SND.UNA. */
export function onRto(ep: TcpEndpoint): void {
  const c = ep.proto.net.tcp;
  const s = ep.state;
  if (s === TcpState.SynSent || s === TcpState.SynRecv) {
    if (ep.backoff >= TCP_SYN_RETRIES) {
      c.TcpAttemptFails++; // Linux tcp_done: a connection that dies in SYN-SENT/SYN-RECV is a failed attempt
      ep.fail('ETIMEDOUT');
      return;
    }
    ep.backoff++;
    c.TcpExtTCPSynRetrans++;
    c.TcpRetransSegs++;
    ep.proto.sendSyn(ep);
    armRto(ep);
    return;
  }
  if (ep.flight === 0) return;
  if (ep.backoff >= TCP_RETRIES2 || (ep.orphan && ep.backoff >= TCP_ORPHAN_RETRIES)) {
    c.TcpExtTCPAbortOnTimeout++;
    ep.fail('ETIMEDOUT');
    return;
  }
  c.TcpExtTCPTimeouts++;
  // RFC 5681 §3.1: ssthresh is cut on the first timeout only; while the same
  // segment keeps timing out it is held constant (Linux tcp_enter_loss).
  if (ep.backoff === 0) ep.ssthresh = ep.cc.ssthresh(ep, ep.flight, ep.now);
  ep.cc.onTimeout(ep);
  ep.cwnd = ep.mss; // loss window: one segment
  ep.backoff++;
  ep.inRecovery = false;
  // RFC 6582 §4 (and RFC 6675 §5.1): duplicate ACKs for what was sent before
  // the timeout — the go-back-N resends draw them — must not start a fast
  // retransmit; Linux's tcp_enter_loss sets high_seq the same way.
  ep.recover = ep.sndMax;
  ep.recoverValid = true;
  ep.dupAcks = 0;
  ep.sacked = []; // RFC 6675 §5.1: the scoreboard may be stale after an RTO; start over
  ep.rttSeq = -1;
  // Go back to SND.UNA and resend (Linux marks everything in flight lost).
  ep.sndNxt = ep.sndUna;
  ep.highRxt = ep.sndUna;
  // One segment from SND.UNA through the ordinary path, so SND.MAX, the FIN's
  // state change and the counters stay right even when the segment reaches
  // past what was sent before (data Nagle held back, or a first FIN).
  const len = Math.min(ep.mss, ep.sendBuf.length);
  const last = len === ep.sendBuf.length;
  sendNew(ep, TCP_ACK | (len > 0 && last ? TCP_PSH : 0) | (ep.finQueued && last ? TCP_FIN : 0), 0, len);
  ep.retransmits++;
  armRto(ep);
}

// ------------------------------------------------------------ persist

export function armPersist(ep: TcpEndpoint): void {
  if (ep.persistTimer.pending) return;
  const rto = Math.min(TCP_RTO_MAX, Math.max(ep.rtt.rto, 200) * 2 ** Math.min(ep.backoff, 10));
  ep.proto.net.rt.timers.arm(ep.persistTimer, ep.now + rto);
}

/**
 * Zero-window probe (RFC 9293 §3.8.6.1): Linux sends SND.UNA − 1 to draw an ACK carrying the window.
 * A window open but smaller than a segment is used as it is when the timer runs
 * out: the override timeout of sender-side SWS avoidance (§3.8.6.2.1; Linux tcp_write_wakeup).
 */
export function onPersist(ep: TcpEndpoint): void {
  const unsent = ep.sendBuf.length - ep.flight;
  if (unsent <= 0 || ep.flight > 0) {
    ep.probesOut = 0; // Linux tcp_probe_timer: nothing to probe for
    return;
  }
  if (ep.sndWnd > 0) {
    const len = Math.min(ep.sndWnd, ep.mss, unsent);
    const fin = len === unsent && ep.finQueued && !finWasSent(ep);
    sendNew(ep, TCP_ACK | TCP_PSH | (fin ? TCP_FIN : 0), ep.flight, len);
    return;
  }
  // Linux tcp_probe_timer: RFC 1122 §4.2.2.17 keeps a connection open as long as
  // the receiver answers the probes (every answer clears probesOut), but a peer
  // that answers none has gone away: after tcp_retries2 (15) probes in a row
  // unanswered — 8 for an orphan — give up as the RTO does (tcp_write_err).
  const maxProbes = ep.orphan ? TCP_ORPHAN_RETRIES : TCP_RETRIES2;
  if (ep.probesOut >= maxProbes) {
    ep.proto.net.tcp.TcpExtTCPAbortOnTimeout++;
    ep.fail('ETIMEDOUT');
    return;
  }
  ep.proto.net.tcp.TcpExtTCPWinProbe++;
  xmit(ep, TCP_ACK, seqAdd(ep.sndUna, -1), 0, 0);
  ep.probesOut++;
  ep.backoff = Math.min(ep.backoff + 1, TCP_RETRIES2);
  armPersist(ep);
}

// ------------------------------------------------------------ keepalive

/**
 * Keepalive runs in every synchronized state but TIME-WAIT (Linux tcp_set_keepalive
 * and tcp_keepalive_timer skip only CLOSE, LISTEN and SYN-SENT): a half-closed
 * connection in CLOSE-WAIT or FIN-WAIT-2 can lose its peer as silently as an open one.
 */
function keepaliveState(ep: TcpEndpoint): boolean {
  const s = ep.state;
  return s !== TcpState.Close && s !== TcpState.Listen && s !== TcpState.SynSent && s !== TcpState.TimeWait;
}

export function armKeepalive(ep: TcpEndpoint): void {
  if (!ep.keepalive || !keepaliveState(ep)) return;
  ep.proto.net.rt.timers.arm(ep.keepaliveTimer, ep.lastRecv + ep.keepaliveIdleMs);
}

export function onKeepalive(ep: TcpEndpoint): void {
  if (!ep.keepalive || !keepaliveState(ep)) return;
  // An orphan in FIN-WAIT-2 is timed by finTimeoutMs (waitTimer); Linux's keepalive
  // timer doubles as that timeout there and never probes.
  if (ep.state === TcpState.FinWait2 && ep.orphan) return;
  // Linux tcp_keepalive_timer: "It is alive without keepalive" — with data in flight or
  // waiting the RTO or the persist timer watches the peer, so no probe: look again one
  // idle time from now.
  if (ep.flight > 0 || ep.sendBuf.length > 0 || (ep.finQueued && !finWasSent(ep))) {
    ep.proto.net.rt.timers.arm(ep.keepaliveTimer, ep.now + ep.keepaliveIdleMs);
    return;
  }
  const idle = ep.now - ep.lastRecv;
  if (idle < ep.keepaliveIdleMs) {
    ep.proto.net.rt.timers.arm(ep.keepaliveTimer, ep.lastRecv + ep.keepaliveIdleMs);
    return;
  }
  if (ep.probesOut >= ep.keepaliveProbes) {
    // Linux tcp_keepalive_timer sends a RST as it gives up (tcp_send_active_reset),
    // so a peer that can still hear us drops its half too.
    sendRst(ep);
    ep.fail('ETIMEDOUT');
    return;
  }
  ep.probesOut++;
  ep.proto.net.tcp.TcpExtTCPKeepAlive++;
  xmit(ep, TCP_ACK, seqAdd(ep.sndUna, -1), 0, 0);
  ep.proto.net.rt.timers.arm(ep.keepaliveTimer, ep.now + ep.keepaliveIntvlMs);
}

// ------------------------------------------------------------ TIME-WAIT, FIN-WAIT-2, SYN-SENT

export function onWaitTimer(ep: TcpEndpoint): void {
  if (ep.state === TcpState.TimeWait || ep.state === TcpState.FinWait2) {
    ep.destroy();
    return;
  }
  if (ep.state === TcpState.SynSent) ep.fail('ETIMEDOUT');
}

/** Cancels every timer but the wait timer (entering TIME-WAIT, or on the way to destroy()). */
export function stopAllButWait(ep: TcpEndpoint): void {
  const t = ep.proto.net.rt.timers;
  t.cancel(ep.rtoTimer);
  t.cancel(ep.delackTimer);
  t.cancel(ep.persistTimer);
  t.cancel(ep.keepaliveTimer);
}
