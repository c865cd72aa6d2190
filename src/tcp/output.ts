// output: everything a connection sends (Linux tcp_output.c, gVisor snd.go):
// one segment built with its options and handed to IP (xmit), the ACKs and
// RSTs of an endpoint, and the send engine — new data as flow control
// (SND.WND), the congestion window, Nagle and sender-side silly window
// avoidance allow (push), and retransmission of what was sent before.
// Which holes to resend in loss recovery is recovery.ts's; the timers that
// call in here are timers.ts's.

import { IPPROTO_TCP } from '../wire/ipv4.js';
import { emitTcp, TCP_ACK, TCP_FIN, TCP_HLEN, TCP_PSH, TCP_RST, TCP_SYN } from '../wire/tcp.js';
import { clearTcpOptions, tcpOptionsLength } from '../wire/tcpOptions.js';
import { INITIAL_WINDOW_SEGMENTS, restartCwnd } from './congestion.js';
import type { SynOptions, TcpEndpoint } from './endpoint.js';
import { recoverySend } from './recovery.js';
import { pipeExtra } from './sack.js';
import { seqAdd, seqDiff, seqGt, seqLt } from './seqnum.js';
import { TcpState } from './state.js';
import { armPersist, armRto } from './timers.js';
import { selectWindow } from './window.js';

const MAX_OPTION_SACKS_WITH_TS = 3;

// ------------------------------------------------------------ segment out

/**
 * Builds and sends one segment. `dataOff` is the offset of the payload in
 * the send buffer (bytes after SND.UNA), `len` its length.
 */
export function xmit(ep: TcpEndpoint, flags: number, seq: number, dataOff: number, len: number, syn?: SynOptions): void {
  const o = ep.opts;
  clearTcpOptions(o);
  if (syn) {
    o.mss = syn.mss;
    o.wscale = syn.wscale;
    o.sackPermitted = syn.sackOk;
    if (syn.tsOk) {
      o.timestamps = true;
      o.tsVal = ep.tsNow();
      o.tsEcr = flags & TCP_ACK ? ep.tsRecent : 0;
    }
  } else {
    if (ep.tsOk) {
      o.timestamps = true;
      o.tsVal = ep.tsNow();
      o.tsEcr = ep.tsRecent;
    }
    if (ep.sackOk && ep.ofo.length > 0 && !(flags & TCP_RST)) {
      // SACK blocks share the segment with the payload: ep.mss leaves room for the
      // timestamps only, so a data segment carries as many blocks (4 + 8n bytes) as
      // still fit in the MTU, none in a full-sized one (Linux sizes it in tcp_current_mss).
      let max = ep.tsOk ? MAX_OPTION_SACKS_WITH_TS : 4;
      if (len > 0) max = Math.max(0, Math.min(max, Math.floor((ep.mss - len - 4) / 8)));
      const n = max > 0 ? ep.ofo.sackBlocks(o.sackBlocks, max) : 0;
      o.sackCount = n;
    }
  }
  const hlen = TCP_HLEN + tcpOptionsLength(o);
  const pb = ep.proto.ip.allocPayload(hlen + len);
  const at = pb.put(hlen + len);
  if (len > 0) ep.sendBuf.copyOut(dataOff, len, pb.buf, at + hlen);
  const r = ep.repr;
  r.srcPort = ep.lport;
  r.dstPort = ep.rport;
  r.seq = seq >>> 0;
  r.ack = flags & TCP_ACK ? ep.rcvNxt >>> 0 : 0;
  r.flags = flags;
  // RFC 7323 §2.2: the window of a SYN is never scaled.
  r.window = flags & TCP_SYN ? Math.min(65535, selectWindow(ep)) : (flags & TCP_RST ? 0 : selectWindow(ep) >>> ep.rcvWscale);
  // Remember the right edge the SYN really offered (at most 64 KB): if the peer
  // turns scaling down, "never shrink" must not hold on to a window the 16-bit
  // field cannot carry (262144 >>> 0 would go out as 0; Linux: rcv_wnd ≤ 65535 in a SYN).
  if (flags & TCP_SYN) ep.rcvWnd = r.window;
  r.urgentPtr = 0;
  r.payloadLen = len;
  r.options = o;
  const seg = ep.view.wrap(pb.buf, at, hlen + len);
  emitTcp(r, seg);
  if (flags & TCP_FIN) ep.finSeq = seqAdd(seq, len);
  seg.fillChecksum(ep.laddr, ep.raddr, hlen + len);
  if (flags & TCP_ACK) {
    ep.lastAckSent = ep.rcvNxt;
    ep.quickAckPending = 0;
    if (ep.delackTimer.pending) ep.proto.net.rt.timers.cancel(ep.delackTimer);
  }
  const c = ep.proto.net.tcp;
  c.TcpOutSegs++;
  if (flags & TCP_RST) c.TcpOutRsts++;
  const err = ep.proto.ip.output(pb, { saddr: ep.laddr, daddr: ep.raddr, protocol: IPPROTO_TCP, dontFrag: true });
  if (err === 'EMSGSIZE') ep.mss = Math.max(64, ep.mss - 40); // the route MTU shrank under us
}

export function sendAck(ep: TcpEndpoint): void {
  if (ep.state === TcpState.Close || ep.state === TcpState.Listen || ep.state === TcpState.SynSent) return;
  xmit(ep, TCP_ACK, ep.sndNxt, 0, 0);
}

export function sendRst(ep: TcpEndpoint): void {
  xmit(ep, TCP_RST | TCP_ACK, ep.sndNxt, 0, 0);
}

/**
 * A challenge ACK (RFC 5961 §3.2, §4.2, §5.2): first the connection's own
 * limit, then the stack-wide budget of §7 (Linux tcp_send_challenge_ack).
 */
export function challengeAck(ep: TcpEndpoint): void {
  if (ep.proto.oowRateLimited(ep, false, 'TcpExtTCPACKSkippedChallenge')) return;
  if (!ep.proto.allowChallengeAck()) {
    ep.proto.net.tcp.TcpExtTCPACKSkippedChallenge++;
    return;
  }
  ep.proto.net.tcp.TcpExtTCPChallengeACK++;
  sendAck(ep);
}

// ------------------------------------------------------------ send engine

/** Sends what the windows allow: retransmissions in recovery first, then new data, then FIN. */
export function push(ep: TcpEndpoint): void {
  const s = ep.state;
  if (s !== TcpState.Established && s !== TcpState.CloseWait && s !== TcpState.FinWait1 && s !== TcpState.Closing && s !== TcpState.LastAck) return;
  if (ep.inRecovery) recoverySend(ep);
  if (ep.dupAcks === 0) ep.limitedBytes = 0;
  let sent = false;
  let limited = 0;
  for (;;) {
    const offset = ep.flight; // send-buffer offset of SND.NXT
    const unsent = ep.sendBuf.length - offset;
    // Limited Transmit (RFC 3042; RFC 5681 §3.2 step 1): each of the first two duplicate
    // ACKs lets one new segment past cwnd, so that a small window still draws the three
    // duplicates fast retransmit needs instead of waiting for the RTO.
    limited = ep.inRecovery ? 0 : Math.min(ep.dupAcks, 2) * ep.mss;
    const wndLimit = Math.min(ep.cwnd + limited, ep.sndWnd) - ep.flight - (ep.inRecovery ? pipeExtra(ep) : 0);
    if (unsent > 0) {
      let len = Math.min(unsent, ep.mss);
      if (wndLimit < len) {
        // Sender-side silly window avoidance (RFC 9293 §3.8.6.2.1): a segment cut
        // short by the window goes only if it is at least Fs = 1/2 of the largest
        // window the peer ever offered; else wait for the window to open, the
        // persist timer's override (onPersist) being the RFC's timeout. (The RFC's
        // "all queued data fits" case never gets here: then wndLimit ≥ len.)
        // Linux is stricter: tcp_snd_wnd_test never cuts a segment to the window,
        // only tcp_write_wakeup (the persist timer) does.
        if (wndLimit <= 0) break;
        if (!(ep.maxSndWnd > 0 && wndLimit >= ep.maxSndWnd / 2)) break;
        len = wndLimit;
      }
      // Nagle (RFC 896, RFC 1122 §4.2.3.4) with Minshall's rule, as Linux (tcp_minshall_check):
      // a small segment waits only while an earlier small one is unacknowledged, so the
      // tail of a large write is not held back a round trip (or a delayed ACK).
      const smallOut = ep.sndSml >= 0 && seqGt(ep.sndSml, ep.sndUna) && !seqGt(ep.sndSml, ep.sndNxt);
      if (len < ep.mss && !ep.noDelay && ep.flight > 0 && smallOut && !(ep.finQueued && len === unsent)) break;
      const last = len === unsent;
      const fin = last && ep.finQueued && !finWasSent(ep);
      let flags = TCP_ACK | (last ? TCP_PSH : 0);
      if (fin) flags |= TCP_FIN;
      // What Limited Transmit lets past cwnd must not count in the FlightSize
      // that halves into ssthresh if recovery follows (RFC 5681 §3.2 step 2).
      if (limited > 0) ep.limitedBytes = Math.max(ep.limitedBytes, ep.flight + len - ep.cwnd);
      sendNew(ep, flags, offset, len);
      sent = true;
      continue;
    }
    if (ep.finQueued && !finWasSent(ep) && unsent === 0) {
      sendNew(ep, TCP_ACK | TCP_FIN, offset, 0);
      sent = true;
    }
    break;
  }
  // Nothing in flight yet data waits: only the window holds it back, zero or too
  // small for a segment. Either way the persist timer must run, or a lost window
  // update stalls the connection for good (Linux tcp_check_probe_timer).
  if (!sent && ep.sendBuf.length - ep.flight > 0 && ep.flight === 0) armPersist(ep);
  // Linux tcp_write_xmit: cwnd-limited when what is in flight leaves cwnd no
  // room for another segment (tcp_packets_in_flight >= snd_cwnd, here in bytes;
  // the pipe in SACK recovery; what Limited Transmit sent beyond cwnd aside).
  const inFlight = ep.flight + (ep.inRecovery ? pipeExtra(ep) : 0) - limited;
  const cwndLimited = ep.cwnd - inFlight < ep.mss;
  if (sent || cwndLimited) ep.cwndUse.validate(cwndLimited, ep.sndUna, ep.sndNxt);
}

/**
 * Restart after idle (RFC 5681 §4.1; Linux tcp_slow_start_after_idle_check with
 * tcp_slow_start_after_idle = 1): new data with nothing in flight more than one RTO
 * after the last data went out. The ACK clock is gone and cwnd no longer reflects
 * the path, so a full cwnd must not go out as one burst (restartCwnd). ssthresh
 * keeps 3/4 of the old cwnd (tcp_current_ssthresh), so slow start climbs back to it.
 */
export function restartAfterIdle(ep: TcpEndpoint): void {
  const idle = ep.now - ep.lastSend;
  if (idle <= ep.rtt.rto) return;
  const cwnd = ep.cwnd;
  if (!ep.inRecovery) ep.ssthresh = Math.max(ep.ssthresh, Math.floor(cwnd / 2) + Math.floor(cwnd / 4));
  ep.cwnd = restartCwnd(cwnd, INITIAL_WINDOW_SEGMENTS * ep.mss, idle, ep.rtt.rto);
}

/** Sends new data (or a FIN) at SND.NXT and advances it. */
export function sendNew(ep: TcpEndpoint, flags: number, offset: number, len: number): void {
  const seq = ep.sndNxt;
  const retransmit = seqLt(seq, ep.sndMax);
  if (len > 0) dataSent(ep);
  xmit(ep, flags, seq, offset, len);
  if (retransmit) ep.proto.net.tcp.TcpRetransSegs++;
  ep.sndNxt = seqAdd(seq, len + (flags & TCP_FIN ? 1 : 0));
  if (seqGt(ep.sndNxt, ep.sndMax)) ep.sndMax = ep.sndNxt;
  if (len < ep.mss) ep.sndSml = seqAdd(seq, len); // tcp_minshall_update
  if (flags & TCP_FIN) onFinSent(ep);
  if (!ep.tsOk && ep.rttSeq < 0 && !retransmit && len > 0) {
    ep.rttSeq = seq;
    ep.rttTime = ep.now;
  }
  if (!ep.rtoTimer.pending) armRto(ep);
  if (ep.persistTimer.pending) ep.proto.net.rt.timers.cancel(ep.persistTimer);
}

/**
 * Linux tcp_event_data_sent, before a data segment goes out: the first one sent
 * with nothing in flight tells the algorithm how long the connection sat idle
 * (CA_EVENT_TX_START: CUBIC shifts its epoch by it); then the send time is noted.
 */
function dataSent(ep: TcpEndpoint): void {
  const now = ep.now;
  if (ep.flight === 0) ep.cc.onTxStart(ep, now - ep.lastSend, now);
  ep.lastSend = now;
}

function onFinSent(ep: TcpEndpoint): void {
  if (ep.state === TcpState.Established) ep.setState(TcpState.FinWait1);
  else if (ep.state === TcpState.CloseWait) ep.setState(TcpState.LastAck);
}

/** Retransmits [seq, seq+len) from the send buffer. */
export function retransmit(ep: TcpEndpoint, seq: number, len: number): void {
  const off = seqDiff(seq, ep.sndUna);
  const avail = ep.sendBuf.length - off;
  let flags = TCP_ACK;
  if (len > avail) {
    len = Math.max(0, avail);
    if (ep.finQueued) flags |= TCP_FIN;
  }
  if (len === 0 && !(flags & TCP_FIN)) return;
  if (len > 0) ep.lastSend = ep.now; // never with nothing in flight: no TX_START
  xmit(ep, flags | (len > 0 ? TCP_PSH : 0), seq, off, len);
  ep.proto.net.tcp.TcpRetransSegs++;
  ep.retransmits++;
  const end = seqAdd(seq, len + (flags & TCP_FIN ? 1 : 0));
  if (seqGt(end, ep.highRxt)) ep.highRxt = end;
  if (ep.rttSeq >= 0 && !seqLt(ep.rttSeq, seq) && seqLt(ep.rttSeq, end)) ep.rttSeq = -1; // Karn
  if (!ep.rtoTimer.pending) armRto(ep);
}

/** True while SND.NXT is past our FIN (an RTO moves SND.NXT back before it). */
export function finWasSent(ep: TcpEndpoint): boolean {
  return ep.finSeq >= 0 && seqGt(ep.sndNxt, ep.finSeq);
}
