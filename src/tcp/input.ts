// input: SEGMENT ARRIVES for a connection that has an endpoint (RFC 9293
// §3.10.7.3 SYN-SENT, §3.10.7.4 the synchronized states, TIME-WAIT and the
// SYN that may reopen it), with the hardening of RFC 5961 (RST and SYN
// answered with a rate-limited challenge ACK unless exactly in sequence; ACK
// validation), PAWS (RFC 7323 §5), and loss detection by duplicate ACKs and
// SACK (RFC 5681 §3.2, RFC 6675). Every segment handed in is consumed here:
// freed if it did its work, else dropped through Net.drop with a reason named
// after Linux's SKB_DROP_REASON_* (a discard never goes unexplained).

import type { DropReason } from '../core/net.js';
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

/** SYN-SENT (RFC 9293 §3.10.7.3). Consumes `pb`: freed when it did its work, else dropped with the reason. */
export function rcvSynSent(ep: TcpEndpoint, seg: TcpSegment, o: TcpOptions, pb: PacketBuffer): void {
  const flags = seg.flags;
  const proto = ep.proto;
  if (flags & TCP_ACK) {
    const ack = seg.ack;
    if (seqLeq(ack, ep.iss) || seqGt(ack, ep.sndNxt)) {
      // An ACK of something we never sent: <SEQ=SEG.ACK><CTL=RST>, unless it is a RST itself.
      if (!(flags & TCP_RST)) proto.sendResetFor(seg, ep.laddr, ep.raddr);
      proto.net.drop(pb, 'tcp-invalid-ack');
      return;
    }
  }
  if (flags & TCP_RST) {
    // Only a RST that acknowledges our SYN refuses the connection; one without
    // ACK could be anybody's (Linux tcp_rcv_synsent_state_process: discard).
    if (!(flags & TCP_ACK)) {
      proto.net.drop(pb, 'tcp-rst');
      return;
    }
    pb.free();
    proto.net.tcp.TcpAttemptFails++;
    ep.fail('ECONNREFUSED');
    return;
  }
  // "fifth, if neither of the SYN or RST bits is set then drop the segment and return".
  if (!(flags & TCP_SYN)) {
    proto.net.drop(pb, 'tcp-flags');
    return;
  }
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
  const ack = seg.ack;
  pb.free(); // all read from it: what follows sends, and may reuse its buffer
  if (flags & TCP_ACK) {
    ep.sndUna = ack;
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

/**
 * Every state after SYN-SENT (RFC 9293 §3.10.7.4). Consumes `pb`: a segment
 * that did its work is freed, one discarded is dropped through `Net.drop`
 * with the reason (Linux tcp_drop_reason), so `ustack stats drops` and the
 * pcapng drop comments say why.
 */
export function rcvSynchronized(ep: TcpEndpoint, seg: TcpSegment, o: TcpOptions, pb: PacketBuffer): void {
  const proto = ep.proto;
  const c = proto.net.tcp;
  const flags = seg.flags;
  const seq = seg.seq;
  const payload = seg.payloadLen;
  const segLen = payload + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
  const now = ep.now;

  if (ep.state === TcpState.TimeWait) {
    rcvTimeWait(ep, seg, o, segLen, pb);
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
    if (!proto.oowRateLimited(ep, segLen > 0 && !(flags & TCP_SYN), 'TcpExtTCPACKSkippedPAWS')) ep.sendAck();
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
    // number" — counted and rate-limited as one (Linux: goto syn_challenge,
    // SKB_DROP_REASON_TCP_INVALID_SYN).
    if (flags & TCP_SYN && !(flags & TCP_RST)) {
      c.TcpExtTCPSYNChallenge++;
      ep.challengeAck();
      proto.net.drop(pb, 'tcp-invalid-syn');
      return;
    }
    // An ACK says where we are (Linux tcp_validate_incoming → tcp_send_dupack),
    // rate-limited unless the segment occupies sequence space (data or FIN).
    if (!(flags & TCP_RST) && !proto.oowRateLimited(ep, segLen > 0, 'TcpExtTCPACKSkippedSeq')) ep.sendAck();
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
    proto.net.drop(pb, 'tcp-invalid-syn');
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

  const verdict = processAck(ep, seg, o, payload);
  if (verdict !== null) {
    if (verdict === 'done') pb.free();
    else proto.net.drop(pb, verdict);
    return;
  }
  // The ACK's upcalls (onDrain) may have let the application destroy the
  // connection: what the segment still carries has nobody to go to (Linux
  // SKB_DROP_REASON_TCP_CLOSE).
  if ((ep.state as TcpState) === TcpState.Close) {
    if (payload > 0 || flags & TCP_FIN) proto.net.drop(pb, 'tcp-closed');
    else pb.free();
    return;
  }

  // Data (RFC 9293 §3.10.7.4 seventh check).
  let fin = false;
  let drop: DropReason | null = null;
  if (payload > 0 || flags & TCP_FIN) {
    const s = ep.state;
    if (s === TcpState.Established || s === TcpState.FinWait1 || s === TcpState.FinWait2) {
      if (payload > 0 && ep.orphan) {
        // Data for a socket the application closed: Linux answers with RST (tcp_rcv_state_process).
        c.TcpExtTCPAbortOnData++;
        proto.net.drop(pb, 'tcp-abort-on-data');
        ep.abort();
        return;
      }
      if (!zeroWindowAtEdge) {
        const v = receiveData(ep, seg, pb, payload, wnd);
        if (v === 'fin') fin = true;
        else drop = v;
      } else if (payload > 0) {
        // Linux tcp_data_queue with a zero window: data is dropped but ACKed at once
        // (the ACK repeats the zero window; TcpExtTCPZeroWindowDrop,
        // SKB_DROP_REASON_TCP_ZEROWINDOW), while a bare FIN is taken — it needs no buffer.
        c.TcpExtTCPZeroWindowDrop++;
        ep.sendAck();
        drop = 'tcp-zero-window';
      } else fin = true;
    } else {
      // CLOSE-WAIT, CLOSING, LAST-ACK: the peer's FIN ended its sequence space, so
      // data or a FIN at or beyond RCV.NXT is bogus — whatever the window (Linux
      // tcp_rcv_state_process takes only the ACK and discards the rest). Old data
      // was refused above.
      drop = 'tcp-invalid-seq';
    }
  }
  if (drop !== null) proto.net.drop(pb, drop);
  else pb.free();

  if (fin) receiveFin(ep);
  if (ep.state !== TcpState.Close) ep.push();
}

/**
 * processAck's verdict on a segment: null — go on to its data; 'done' — it
 * was used and nothing more is to be done (the connection moved to TIME-WAIT
 * or ended); else the reason to drop it.
 */
type AckVerdict = null | 'done' | DropReason;

/** ACK processing (RFC 9293 §3.10.7.4 fifth check, Linux tcp_ack). */
function processAck(ep: TcpEndpoint, seg: TcpSegment, o: TcpOptions, payload: number): AckVerdict {
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
      // "If the segment acknowledgment is not acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>".
      proto.sendResetFor(seg, ep.laddr, ep.raddr);
      return 'tcp-invalid-ack';
    }
  }
  // RFC 5961 §5.2: acceptable ACKs are in [SND.UNA - MAX.SND.WND, SND.NXT]. The
  // upper edge is SND.MAX, the highest sequence number ever sent: after an RTO
  // rewinds SND.NXT, an ACK of data sent before it is still an ACK of sent data
  // (Linux compares with snd_nxt, which an RTO does not rewind).
  if (seqGt(ack, ep.sndMax)) {
    ep.sendAck();
    proto.net.tcp.TcpInErrs++;
    return 'tcp-ack-unsent-data'; // Linux SKB_DROP_REASON_TCP_ACK_UNSENT_DATA
  }
  if (seqLt(ack, seqAdd(ep.sndUna, -Math.max(ep.maxSndWnd, 1)))) {
    ep.challengeAck();
    return 'tcp-too-old-ack'; // SKB_DROP_REASON_TCP_TOO_OLD_ACK
  }
  // "We passed data and got it acked, remove any soft error log. Something
  // worked..." (Linux tcp_ack, for any ACK not below SND.UNA): an ICMP error
  // kept from before is stale once the peer answers, and must not replace a
  // later ETIMEDOUT.
  if (!seqLt(ack, ep.sndUna)) ep.softError = null;

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
        // Deflate by what it acknowledged, adding one MSS back only if it
        // acknowledged at least one MSS (RFC 6582 §3.2 step 4).
        ep.cwnd = Math.max(ep.mss, ep.cwnd - acked + (acked >= ep.mss ? ep.mss : 0));
      }
    } else {
      ep.cc.congAvoid(ep, dataAcked, ep.now, ep.rtt.srtt);
    }
    ep.dupAcks = 0;
    // Once SND.UNA has reached `recover` the guard has done its job; dropping it
    // keeps the comparison from turning false again 2 GiB later (wrap).
    if (!ep.inRecovery && ep.recoverValid && seqGeq(ack, ep.recover)) ep.recoverValid = false;
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
      // RFC 6582 §3.2 step 1 keeps a second fast retransmit out of the same window: the
      // ACK must cover more than `recover`, "the highest sequence number transmitted" when
      // the last recovery began. That is SND.MAX − 1, and `recover` holds SND.MAX, so an
      // ACK at exactly `recover` qualifies — the same bound a full ACK has (step 3): all
      // that window is acknowledged and what is missing now is new data, the first
      // segment sent after it. (Requiring ACK > SND.MAX, as before, left that loss to the
      // RTO whenever NewReno had no SACK scoreboard to prove it.)
      const pastRecover = !ep.recoverValid || seqGeq(ack, ep.recover);
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
        return 'done';
      case TcpState.LastAck:
        ep.destroy();
        return 'done';
    }
  }
  return null;
}

/**
 * Data and a FIN at or beyond RCV.NXT: deliver in order, queue out of order.
 * Returns 'fin' when the peer's FIN (this segment's, or one queued out of
 * order that the segment's data reached) is now at RCV.NXT — receiveFin then
 * ACKs it —, null when the segment was taken (delivered or queued; the ACK
 * is scheduled here), or the reason to drop it.
 */
function receiveData(ep: TcpEndpoint, seg: TcpSegment, pb: PacketBuffer, payload: number, wnd: number): 'fin' | DropReason | null {
  const c = ep.proto.net.tcp;
  let seq = seg.seq;
  let off = seg.payloadOffset;
  let len = payload;
  let fin = (seg.flags & TCP_FIN) !== 0;
  // Trim what we already have, and what is beyond the window. The FIN stays only
  // if all the data before it fits (one beyond the last byte of the window is
  // taken, as Linux takes it: it needs no buffer).
  if (seqLt(seq, ep.rcvNxt)) {
    const dup = Math.min(len, seqDiff(ep.rcvNxt, seq));
    off += dup;
    len -= dup;
    seq = seqAdd(seq, dup);
  }
  const room = seqDiff(seqAdd(ep.rcvNxt, wnd), seq);
  if (len > room) {
    len = Math.max(0, room);
    fin = false;
  }
  if (len === 0) {
    if (fin && seq === ep.rcvNxt) return 'fin'; // old data with a new FIN: a retransmission that collapsed the FIN onto it (Linux tcp_retrans_try_collapse)
    if (fin && seqGt(seq, ep.rcvNxt)) {
      // A bare FIN beyond a hole: keep it (Linux queues the skb in the ofo queue),
      // and send a duplicate ACK whose SACK block covers it, so the sender sees the hole.
      ep.ofo.insertFin(seq);
      c.TcpExtTCPOFOQueue++;
      ep.scheduleAck(true);
      return null;
    }
    ep.scheduleAck(true);
    return payload > 0 ? 'tcp-old-data' : null;
  }
  if (seq === ep.rcvNxt) {
    const hadOfo = ep.ofo.length > 0;
    ep.rcvNxt = seqAdd(seq, len);
    ep.events?.onData(pb.buf.slice(off, off + len));
    // With the segment's own FIN the stream ends here: whatever is queued beyond
    // it goes with receiveFin (Linux tcp_fin purges the ofo queue), not to the reader.
    if (fin) return 'fin';
    if (hadOfo) {
      const parts: Uint8Array[] = [];
      const n = ep.ofo.drain(ep.rcvNxt, parts);
      ep.rcvNxt = seqAdd(ep.rcvNxt, n);
      for (const p of parts) ep.events?.onData(p);
      // The hole is filled up to a FIN that came out of order (Linux tcp_ofo_queue → tcp_fin).
      if (ep.ofo.takeFin(ep.rcvNxt)) return 'fin';
    }
    // Out-of-order data pending, or a hole just filled: ACK at once (RFC 5681 §4.2).
    // A full-sized segment is advMss less the timestamp option when timestamps are on
    // (Linux rcv_mss = min(advmss, mss_cache)): only a shorter one counts as small.
    ep.scheduleAck(hadOfo || ep.ofo.length > 0 || len < ep.advMss - (ep.tsOk ? 12 : 0));
    return null;
  }
  // Beyond RCV.NXT: hold it, with its FIN, and send a duplicate ACK with SACK blocks.
  // No room: dropped whole (Linux tcp_data_queue_ofo, TcpExtTCPOFODrop); the ACK still goes.
  if (!ep.ofo.insert(seq, pb.buf.subarray(off, off + len))) {
    c.TcpExtTCPOFODrop++;
    ep.scheduleAck(true);
    return 'tcp-ofo-drop';
  }
  c.TcpExtTCPOFOQueue++;
  if (fin) ep.ofo.insertFin(seqAdd(seq, len));
  ep.scheduleAck(true);
  return null;
}

/** The peer's FIN, in sequence (RFC 9293 §3.10.7.4 eighth check). */
function receiveFin(ep: TcpEndpoint): void {
  ep.rcvNxt = seqAdd(ep.rcvNxt, 1);
  // Nothing comes after the FIN: what is queued beyond it is dropped and no SACK
  // block is reported any more (Linux tcp_fin: skb_rbtree_purge, tcp_sack_reset).
  ep.ofo.clear();
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

/**
 * PAWS in TIME-WAIT (Linux tcp_timewait_state_process → tcp_paws_reject with
 * no one-tick slack): a timestamp older than TS.Recent is an old duplicate.
 * Only when the connection used timestamps, TS.Recent is not 0 (some stacks
 * send 0 in their SYN) and not older than 24 days (RFC 7323 §5.5).
 */
function timeWaitPawsReject(ep: TcpEndpoint, o: TcpOptions): boolean {
  return ep.tsOk && o.timestamps && ep.tsRecent !== 0 && ((ep.tsRecent - o.tsVal) | 0) > 0 && ep.now - ep.tsRecentStamp < PAWS_24DAYS_MS;
}

/**
 * May this SYN (no ACK, no RST) reopen the connection in TIME-WAIT? As Linux's
 * tcp_timewait_state_process, after RFC 1122 §4.2.2.13 and RFC 6191: not if
 * PAWS rejects it, and only if its sequence number is beyond the old RCV.NXT
 * or it carries a timestamp newer than TS.Recent — either proves it is not an
 * old duplicate of the connection that ended.
 */
export function timeWaitAcceptsSyn(ep: TcpEndpoint, seg: TcpSegment, o: TcpOptions): boolean {
  if (timeWaitPawsReject(ep, o)) return false;
  return seqGt(seg.seq, ep.rcvNxt) || (ep.tsOk && o.timestamps && ((ep.tsRecent - o.tsVal) | 0) < 0);
}

/**
 * The ISN of a connection that reopens one in TIME-WAIT: beyond anything the
 * old one sent by more than a maximal window, so its segments cannot be taken
 * for old ones (RFC 1122 §4.2.2.13 (1); Linux: tw_snd_nxt + 65535 + 2, never 0).
 */
export function timeWaitIsn(ep: TcpEndpoint): number {
  return seqAdd(ep.sndNxt, 65537) || 1;
}

/**
 * TIME-WAIT (RFC 9293 §3.10.7.4, Linux tcp_timewait_state_process). A SYN
 * that may reopen the connection was taken by TcpProto.rcv before this.
 * Consumes `pb`.
 */
function rcvTimeWait(ep: TcpEndpoint, seg: TcpSegment, o: TcpOptions, segLen: number, pb: PacketBuffer): void {
  const flags = seg.flags;
  const proto = ep.proto;
  const net = proto.net;
  const seq = seg.seq;
  // RSTs skip PAWS as in the other states (RFC 7323 §5.3 R1).
  const paws = !(flags & TCP_RST) && timeWaitPawsReject(ep, o);
  // In the window there can only be a bare ACK or a RST, at RCV.NXT.
  if (!paws && seq === ep.rcvNxt && (segLen === 0 || flags & TCP_RST)) {
    if (flags & TCP_RST) {
      // Linux (tcp_rfc1337 = 0) kills the TIME-WAIT socket on a RST at RCV.NXT
      // (RFC 1337 would have it ignored).
      pb.free();
      ep.destroy();
      return;
    }
    // The peer is still there: 2 MSL start again, and its timestamp is remembered
    // (Linux reschedules the timer and updates tw_ts_recent).
    if (ep.tsOk && o.timestamps) {
      ep.tsRecent = o.tsVal;
      ep.tsRecentStamp = ep.now;
    }
    restartTimeWait(ep);
    pb.free();
    return;
  }
  if (flags & TCP_RST) {
    net.drop(pb, 'tcp-rst');
    return;
  }
  // Anything else is acknowledged (RFC 9293: "an acknowledgment should be sent
  // in reply"), rate-limited unless it occupies sequence space without a SYN.
  // It restarts 2 MSL if it carries an ACK or PAWS rejected it; an ACK-less SYN
  // does not — it may be a new connection's, with an ISN below the old RCV.NXT.
  if (paws) net.tcp.TcpExtPAWSEstab++;
  if (paws || flags & TCP_ACK) restartTimeWait(ep);
  if (!proto.oowRateLimited(ep, segLen > 0 && !(flags & TCP_SYN), 'TcpExtTCPACKSkippedTimeWait')) ep.sendAck();
  if (paws) net.drop(pb, 'tcp-paws');
  // A SYN that cannot reopen the connection (old, or nobody listens): a peer
  // that really starts anew resets us with the number our ACK gives it.
  else if (flags & TCP_SYN) net.drop(pb, 'tcp-invalid-syn');
  // The peer's FIN again (our last ACK was lost): the ACK was its answer.
  else if (flags & TCP_FIN && seqAdd(seq, segLen) === ep.rcvNxt) pb.free();
  else net.drop(pb, seqLt(seq, ep.rcvNxt) ? 'tcp-old-data' : 'tcp-invalid-seq');
}

function restartTimeWait(ep: TcpEndpoint): void {
  ep.proto.net.rt.timers.arm(ep.waitTimer, ep.now + ep.proto.config.timeWaitMs);
}
