// input: SEGMENT ARRIVES for a connection that has an endpoint (RFC 9293
// §3.10.7.3 SYN-SENT, §3.10.7.4 the synchronized states), with the
// hardening of RFC 5961 (RST and SYN answered with a rate-limited challenge
// ACK unless exactly in sequence; ACK validation), PAWS (RFC 7323 §5), and
// loss detection by duplicate ACKs and SACK (RFC 5681 §3.2, RFC 6675).

import type { PacketBuffer } from '../core/packetBuffer.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpSegment } from '../wire/tcp.js';
import type { TcpOptions } from '../wire/tcpOptions.js';
import type { TcpEndpoint } from './endpoint.js';
import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt } from './seqnum.js';
import { TcpState } from './state.js';

/** RFC 7323 §5.5: TS.Recent older than 24 days is invalid. */
const PAWS_24DAYS_MS = 24 * 24 * 3600 * 1000;
const DUP_THRESH = 3;
/** Linux TCP_PAWS_WINDOW: timestamps this much older than TS.Recent still pass. */
const PAWS_WINDOW = 1;

/**
 * Linux tcp_disordered_ack: a pure ACK at RCV.NXT acknowledging exactly
 * SND.UNA that does not move the window, with a timestamp within one RTO of
 * TS.Recent, is a reordered ACK, not an old duplicate: PAWS lets it through.
 */
function disorderedAck(ep: TcpEndpoint, seg: TcpSegment, o: TcpOptions, payload: number): boolean {
  return (
    payload === 0 &&
    seg.flags === TCP_ACK &&
    seg.seq === ep.rcvNxt &&
    seg.ack === ep.sndUna &&
    seg.window << ep.sndWscale === ep.sndWnd &&
    ((ep.tsRecent - o.tsVal) | 0) <= ep.rtt.rto
  );
}

/** SYN-SENT (RFC 9293 §3.10.7.3). `pb` is consumed by the caller. */
export function rcvSynSent(ep: TcpEndpoint, seg: TcpSegment, o: TcpOptions): void {
  const flags = seg.flags;
  const proto = ep.proto;
  if (flags & TCP_ACK) {
    const ack = seg.ack;
    if (seqLeq(ack, ep.iss) || seqGt(ack, ep.sndNxt)) {
      if (!(flags & TCP_RST)) proto.sendResetFor(seg, ep.laddr, ep.raddr);
      return;
    }
  }
  if (flags & TCP_RST) {
    if (flags & TCP_ACK) {
      proto.net.tcp.TcpAttemptFails++;
      ep.fail('ECONNREFUSED');
    }
    return;
  }
  if (!(flags & TCP_SYN)) return;
  ep.irs = seg.seq;
  ep.rcvNxt = seqAdd(seg.seq, 1);
  ep.rcvWup = ep.rcvNxt;
  proto.negotiate(ep, o);
  ep.sndWnd = seg.window; // never scaled in a SYN
  ep.maxSndWnd = ep.sndWnd;
  ep.sndWl1 = seg.seq;
  ep.sndWl2 = seg.ack;
  if (o.timestamps) {
    ep.tsRecent = o.tsVal;
    ep.tsRecentStamp = ep.now;
  }
  if (flags & TCP_ACK) {
    ep.sndUna = seg.ack;
    ep.backoff = 0;
    if (ep.rtt.samples === 0 && ep.rttTime > 0) ep.rtt.sample(ep.now - ep.rttTime);
    ep.rttSeq = -1;
    ep.stopRto();
    ep.setState(TcpState.Established);
    ep.lastRecv = ep.now;
    ep.sendAck();
    ep.events?.onConnect();
    ep.armKeepalive();
    ep.push();
    return;
  }
  // Simultaneous open (RFC 9293 §3.5 figure 7): answer SYN with SYN-ACK.
  ep.setState(TcpState.SynRecv);
  proto.sendSyn(ep);
}

/** Every state after SYN-SENT (RFC 9293 §3.10.7.4). `pb` is consumed by the caller. */
export function rcvSynchronized(ep: TcpEndpoint, seg: TcpSegment, o: TcpOptions, pb: PacketBuffer): void {
  const proto = ep.proto;
  const c = proto.net.tcp;
  const flags = seg.flags;
  const seq = seg.seq;
  const payload = seg.payloadLen;
  const segLen = payload + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
  const now = ep.now;

  if (ep.state === TcpState.TimeWait) {
    rcvTimeWait(ep, seg, segLen);
    pb.free(); // TIME-WAIT keeps nothing of what arrives (Linux tcp_timewait_state_process consumes the skb)
    return;
  }

  // PAWS (RFC 7323 §5.3): an older timestamp means an old duplicate. As Linux
  // (tcp_paws_discard), a timestamp one tick old passes, and so does a
  // reordered pure ACK that changes nothing (tcp_disordered_ack).
  if (
    ep.tsOk && o.timestamps && !(flags & TCP_RST) &&
    ((ep.tsRecent - o.tsVal) | 0) > PAWS_WINDOW && now - ep.tsRecentStamp < PAWS_24DAYS_MS &&
    !disorderedAck(ep, seg, o, payload)
  ) {
    c.TcpExtPAWSEstab++;
    ep.sendAck();
    proto.net.drop(pb, 'tcp-paws');
    return;
  }

  // Sequence acceptability (RFC 9293 §3.10.7.4 first check).
  const wnd = Math.max(0, seqDiff(seqAdd(ep.rcvWup, ep.rcvWnd), ep.rcvNxt));
  let acceptable: boolean;
  if (segLen === 0) acceptable = wnd === 0 ? seq === ep.rcvNxt : seqGeq(seq, ep.rcvNxt) && seqLt(seq, seqAdd(ep.rcvNxt, wnd));
  else if (wnd === 0) acceptable = false;
  else {
    const last = seqAdd(seq, segLen - 1);
    acceptable =
      (seqGeq(seq, ep.rcvNxt) && seqLt(seq, seqAdd(ep.rcvNxt, wnd))) || (seqGeq(last, ep.rcvNxt) && seqLt(last, seqAdd(ep.rcvNxt, wnd)));
  }
  // A zero window still takes ACKs and RSTs at RCV.NXT (RFC 9293: "special allowance").
  const zeroWindowAtEdge = !acceptable && wnd === 0 && seq === ep.rcvNxt;
  if (!acceptable && !zeroWindowAtEdge) {
    // RFC 5961 §4.2: a SYN gets a challenge ACK "irrespective of the sequence
    // number" — counted and rate-limited as one (Linux: goto syn_challenge).
    if (flags & TCP_SYN && !(flags & TCP_RST)) {
      c.TcpExtTCPSYNChallenge++;
      ep.challengeAck();
    } else if (!(flags & TCP_RST)) ep.sendAck();
    proto.net.drop(pb, seqLt(seq, ep.rcvNxt) ? 'tcp-old-data' : 'tcp-invalid-seq');
    return;
  }

  // RST (RFC 5961 §3.2): only an exact match resets; in-window gets a challenge ACK.
  if (flags & TCP_RST) {
    if (seq !== ep.rcvNxt) {
      ep.challengeAck();
      proto.net.drop(pb, 'tcp-rst');
      return;
    }
    pb.free();
    resetReceived(ep);
    return;
  }

  // SYN in a synchronized state (RFC 5961 §4.2): challenge ACK, never a reset.
  if (flags & TCP_SYN) {
    c.TcpExtTCPSYNChallenge++;
    ep.challengeAck();
    proto.net.drop(pb, 'tcp-flags');
    return;
  }

  if (!(flags & TCP_ACK)) {
    proto.net.drop(pb, 'tcp-flags');
    return;
  }

  // TS.Recent update (RFC 7323 §4.3): the segment covers the last ACK we sent.
  if (o.timestamps && seqLeq(seq, ep.lastAckSent) && (seqLt(ep.lastAckSent, seqAdd(seq, segLen)) || segLen === 0)) {
    ep.tsRecent = o.tsVal;
    ep.tsRecentStamp = now;
  }
  ep.lastRecv = now;
  ep.probesOut = 0;

  if (!processAck(ep, seg, o, payload)) {
    pb.free();
    return;
  }
  if ((ep.state as TcpState) === TcpState.Close) {
    pb.free();
    return;
  }

  // Data (RFC 9293 §3.10.7.4 seventh check).
  let finInOrder = false;
  if (zeroWindowAtEdge) {
    // Linux tcp_data_queue with a zero window: data is dropped but ACKed at once
    // (the ACK repeats the zero window; TcpExtTCPZeroWindowDrop), while a bare
    // FIN is taken — it needs no buffer.
    if (payload > 0) {
      c.TcpExtTCPZeroWindowDrop++;
      ep.sendAck();
    } else if (flags & TCP_FIN) finInOrder = true;
  } else if (payload > 0 || flags & TCP_FIN) {
    const s = ep.state;
    const receiving = s === TcpState.Established || s === TcpState.FinWait1 || s === TcpState.FinWait2;
    if (receiving && payload > 0) {
      if (ep.orphan) {
        // Data for a socket the application closed: Linux answers with RST (tcp_rcv_state_process).
        c.TcpExtTCPAbortOnData++;
        pb.free();
        ep.abort();
        return;
      }
      finInOrder = receiveData(ep, seg, pb, payload, wnd) && !!(flags & TCP_FIN);
    } else if (flags & TCP_FIN) finInOrder = seqAdd(seq, payload) === ep.rcvNxt;
  }
  pb.free();

  if (finInOrder) receiveFin(ep);
  if (ep.state !== TcpState.Close) ep.push();
}

/** ACK processing. Returns false if the segment must go no further. */
function processAck(ep: TcpEndpoint, seg: TcpSegment, o: TcpOptions, payload: number): boolean {
  const proto = ep.proto;
  const ack = seg.ack;
  if (ep.state === TcpState.SynRecv) {
    // Simultaneous open completes, or a passive open established from SYN-RECV.
    if (seqGt(ack, ep.sndUna) && seqLeq(ack, ep.sndMax)) {
      ep.stopRto();
      ep.backoff = 0;
      ep.setState(TcpState.Established);
      ep.events?.onConnect();
      ep.armKeepalive();
    } else {
      proto.sendResetFor(seg, ep.laddr, ep.raddr);
      return false;
    }
  }
  // RFC 5961 §5.2: acceptable ACKs are in [SND.UNA - MAX.SND.WND, SND.NXT].
  if (seqGt(ack, ep.sndMax)) {
    ep.sendAck();
    proto.net.tcp.TcpInErrs++;
    return false;
  }
  if (seqLt(ack, seqAdd(ep.sndUna, -Math.max(ep.maxSndWnd, 1)))) {
    ep.challengeAck();
    return false;
  }

  const sackedBefore = ep.sackOk && o.sackCount > 0 ? ep.sackedBytes() : 0;
  if (ep.sackOk && o.sackCount > 0) ep.updateScoreboard(o);
  const newlySacked = ep.sackOk && o.sackCount > 0 && ep.sackedBytes() > sackedBefore;
  const window = seg.window << ep.sndWscale;
  const windowChanged = window !== ep.sndWnd;

  if (seqGt(ack, ep.sndUna)) {
    const acked = seqDiff(ack, ep.sndUna);
    // RTT sample (RFC 7323 §4.1 with timestamps; else Karn's timed segment).
    if (ep.tsOk && o.timestamps && o.tsEcr !== 0) ep.rtt.sample(seqDiff(ep.tsNow(), o.tsEcr));
    else if (ep.rttSeq >= 0 && seqGt(ack, ep.rttSeq)) {
      ep.rtt.sample(ep.now - ep.rttTime);
      ep.rttSeq = -1;
    }
    const dataAcked = Math.min(acked, ep.sendBuf.length);
    ep.sendBuf.consume(dataAcked);
    ep.sndUna = ack;
    if (seqLt(ep.sndNxt, ack)) ep.sndNxt = ack;
    ep.backoff = 0;
    ep.trimScoreboard();
    if (ep.inRecovery) {
      if (seqGeq(ack, ep.recover)) {
        // Full ACK (RFC 6582 §3.2 step 3): leave recovery with cwnd = ssthresh.
        ep.inRecovery = false;
        ep.cwnd = Math.min(ep.ssthresh, Math.max(ep.flight, ep.mss) + ep.mss);
        ep.sacked = [];
      } else if (!ep.sackOk) {
        // Partial ACK: the next segment was lost too. Retransmit it, deflate (RFC 6582 §3.2 step 4).
        ep.retransmit(ep.sndUna, Math.min(ep.mss, ep.flight));
        ep.cwnd = Math.max(ep.mss, ep.cwnd - acked + ep.mss);
      }
    } else {
      ep.cc.congAvoid(ep, dataAcked, ep.now, ep.rtt.srtt);
    }
    ep.dupAcks = 0;
    // Once SND.UNA is past `recover` the guard has done its job; dropping it
    // keeps the comparison from turning false again 2 GiB later (wrap).
    if (!ep.inRecovery && ep.recoverValid && seqGt(ack, ep.recover)) ep.recoverValid = false;
    if (ep.flight === 0) ep.stopRto();
    else ep.armRto(); // RFC 6298 §5.3
    if (dataAcked > 0) ep.events?.onDrain();
  } else if (ack === ep.sndUna && ep.flight > 0 && payload === 0 && !(seg.flags & TCP_FIN) && (!windowChanged || o.sackCount > 0)) {
    // A duplicate ACK (RFC 5681 §2). With SACK it counts only if it SACKs octets not SACKed
    // before (RFC 6675 §2): a duplicated ACK frame, or a D-SACK for a segment the network
    // duplicated, is no sign of loss (Linux counts sacked_out, not duplicates, likewise).
    if (!ep.sackOk || newlySacked) ep.dupAcks++;
    if (!ep.inRecovery) {
      const sackLoss = ep.sackOk && ep.sackedBytes() >= DUP_THRESH * ep.mss;
      // RFC 6582 §3.2 step 2 keeps a second fast retransmit out of the same window: the ACK
      // must pass `recover` (SND.MAX when the last recovery began). With SACK the scoreboard
      // itself proves a new loss (Linux: "SACK TCP is safe"), so an ACK stuck at exactly
      // `recover` — the first segment sent in the last recovery was lost — starts one too,
      // instead of waiting for the RTO.
      const pastRecover = !ep.recoverValid || seqGt(ack, ep.recover) || (sackLoss && ack === ep.recover);
      if ((ep.dupAcks >= DUP_THRESH || sackLoss) && pastRecover) ep.enterRecovery();
    } else if (!ep.sackOk) {
      ep.cwnd += ep.mss; // NewReno inflation per extra duplicate (RFC 5681 §3.2 step 4)
    }
  }

  // Window update (RFC 9293 §3.10.7.4: SND.WL1 < SEG.SEQ, or equal and SND.WL2 ≤ SEG.ACK).
  if (seqLt(ep.sndWl1, seg.seq) || (ep.sndWl1 === seg.seq && seqLeq(ep.sndWl2, ack))) {
    ep.sndWnd = window;
    ep.sndWl1 = seg.seq;
    ep.sndWl2 = ack;
    if (window > ep.maxSndWnd) ep.maxSndWnd = window;
  }
  // The window now takes the next segment of a sender that was probing it: the
  // probing and its back-off end (Linux tcp_ack_probe), so the RTO of the data
  // that follows starts from the plain RTO, not from the probes' 2^n.
  if (ep.persistTimer.pending && ep.flight === 0 && ep.sndWnd >= Math.min(ep.mss, ep.sendBuf.length)) {
    proto.net.rt.timers.cancel(ep.persistTimer);
    ep.backoff = 0;
  }

  // Our FIN acknowledged?
  if (ep.finSeq >= 0 && seqGt(ack, ep.finSeq)) {
    switch (ep.state) {
      case TcpState.FinWait1:
        ep.setState(TcpState.FinWait2);
        break;
      case TcpState.Closing:
        ep.setState(TcpState.TimeWait);
        return false;
      case TcpState.LastAck:
        ep.destroy();
        return false;
    }
  }
  return true;
}

/** Data at or beyond RCV.NXT: deliver in order, queue out of order. Returns true if the segment's end is now RCV.NXT. */
function receiveData(ep: TcpEndpoint, seg: TcpSegment, pb: PacketBuffer, payload: number, wnd: number): boolean {
  const c = ep.proto.net.tcp;
  let seq = seg.seq;
  let off = seg.payloadOffset;
  let len = payload;
  // Trim what we already have, and what is beyond the window.
  if (seqLt(seq, ep.rcvNxt)) {
    const dup = seqDiff(ep.rcvNxt, seq);
    off += dup;
    len -= dup;
    seq = ep.rcvNxt;
  }
  const room = seqDiff(seqAdd(ep.rcvNxt, wnd), seq);
  if (len > room) len = Math.max(0, room);
  if (len <= 0) {
    ep.scheduleAck(true);
    return false;
  }
  if (seq === ep.rcvNxt) {
    const hadOfo = ep.ofo.length > 0;
    ep.rcvNxt = seqAdd(seq, len);
    ep.events?.onData(pb.buf.slice(off, off + len));
    if (hadOfo) {
      const parts: Uint8Array[] = [];
      const n = ep.ofo.drain(ep.rcvNxt, parts);
      ep.rcvNxt = seqAdd(ep.rcvNxt, n);
      for (const p of parts) ep.events?.onData(p);
    }
    // Out-of-order data pending, or a hole just filled: ACK at once (RFC 5681 §4.2).
    // A full-sized segment is advMss less the timestamp option when timestamps are on
    // (Linux rcv_mss = min(advmss, mss_cache)): only a shorter one counts as small.
    ep.scheduleAck(hadOfo || ep.ofo.length > 0 || len < ep.advMss - (ep.tsOk ? 12 : 0));
    return seqAdd(seg.seq, payload) === ep.rcvNxt || seqLeq(seqAdd(seg.seq, payload), ep.rcvNxt);
  }
  // Beyond RCV.NXT: hold it and send a duplicate ACK with SACK blocks.
  if (ep.ofo.insert(seq, pb.buf.subarray(off, off + len))) c.TcpExtTCPOFOQueue++;
  else c.TcpExtTCPOFODrop++;
  ep.scheduleAck(true);
  return false;
}

/** The peer's FIN, in sequence (RFC 9293 §3.10.7.4 eighth check). */
function receiveFin(ep: TcpEndpoint): void {
  ep.rcvNxt = seqAdd(ep.rcvNxt, 1);
  ep.sendAck();
  switch (ep.state) {
    case TcpState.SynRecv:
    case TcpState.Established:
      ep.setState(TcpState.CloseWait);
      break;
    case TcpState.FinWait1:
      // Our FIN not yet acknowledged (else we would be in FIN-WAIT-2): simultaneous close.
      ep.setState(TcpState.Closing);
      break;
    case TcpState.FinWait2:
      ep.proto.net.rt.timers.cancel(ep.waitTimer);
      ep.events?.onEnd();
      ep.setState(TcpState.TimeWait);
      return;
    default:
      return;
  }
  ep.events?.onEnd();
}

/** An acceptable RST (RFC 9293 §3.10.7.4 second check). */
function resetReceived(ep: TcpEndpoint): void {
  const c = ep.proto.net.tcp;
  switch (ep.state) {
    case TcpState.SynRecv:
      c.TcpAttemptFails++;
      ep.fail('ECONNREFUSED');
      return;
    case TcpState.Established:
      c.TcpEstabResets++;
      ep.fail('ECONNRESET');
      return;
    case TcpState.CloseWait:
      // The peer had finished sending: what fails is our next write, so Linux's
      // tcp_reset reports EPIPE here, not ECONNRESET.
      c.TcpEstabResets++;
      ep.fail('EPIPE');
      return;
    case TcpState.FinWait1:
    case TcpState.FinWait2:
      ep.fail('ECONNRESET');
      return;
    default:
      ep.destroy();
  }
}

/** TIME-WAIT (RFC 9293 §3.10.7.4; RFC 1337: RSTs do not cut TIME-WAIT short, as Linux's tcp_rfc1337=0 does though). */
function rcvTimeWait(ep: TcpEndpoint, seg: TcpSegment, segLen: number): void {
  const flags = seg.flags;
  if (flags & TCP_RST) {
    // Linux (tcp_rfc1337 = 0) kills the TIME-WAIT socket on an in-window RST.
    if (seg.seq === ep.rcvNxt) ep.destroy();
    return;
  }
  // A retransmitted FIN: ACK it again and restart the 2 MSL timer.
  if (flags & TCP_FIN && seqAdd(seg.seq, segLen) === ep.rcvNxt) {
    ep.sendAck();
    ep.proto.net.rt.timers.arm(ep.waitTimer, ep.now + ep.proto.config.timeWaitMs);
    return;
  }
  if (segLen > 0 || flags & TCP_SYN) ep.sendAck();
}
