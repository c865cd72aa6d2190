// passive: the passive open (RFC 9293 §3.10.7.2 LISTEN, §3.10.7.4 for
// SYN-RECEIVED; Linux tcp_conn_request, tcp_check_req and
// tcp_create_openreq_child). A SYN to a listener becomes a request sock on its
// SYN queue (listen.ts draws the queues) answered with a SYN-ACK and retried by
// the request's timer; its final ACK makes a whole endpoint, hashed and put on
// the accept queue. With the SYN queue full the SYN-ACK carries a cookie
// instead (syncookies.ts) and the ACK that returns it establishes the
// connection. A request is not an endpoint: its segments are built by a
// scratch, unhashed one.

import type { PacketBuffer } from '../core/packetBuffer.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpSegment } from '../wire/tcp.js';
import type { TcpOptions } from '../wire/tcpOptions.js';
import { applyWscale, routeAdvMss, TCPOLEN_TSTAMP_ALIGNED } from './connect.js';
import type { TcpEndpoint } from './endpoint.js';
import { rcvSynchronized } from './input.js';
import { Listener, PreAcceptQueue, RequestSock, tupleKey } from './listen.js';
import { seqAdd, seqGt, seqLt } from './seqnum.js';
import { TcpState } from './state.js';
import { checkCookie, COOKIE_MAX_AGE, sendCookie } from './syncookies.js';
import type { TcpProto } from './tcp.js';

/**
 * LISTEN (RFC 9293 §3.10.7.2, Linux tcp_rcv_state_process in TCP_LISTEN) and
 * the request socks of its SYN queue. `isn`: the ISN a SYN that reopened a
 * connection in TIME-WAIT must get.
 */
export function rcvListen(proto: TcpProto, l: Listener, seg: TcpSegment, o: TcpOptions, pb: PacketBuffer, isn?: number): void {
  const c = proto.net.tcp;
  const flags = seg.flags;
  const laddr = pb.daddr;
  const raddr = pb.saddr;
  const key = tupleKey(laddr, seg.dstPort, raddr, seg.srcPort);
  const req = l.synQueue.get(key);
  if (req) {
    rcvRequest(proto, l, req, seg, o, pb);
    return;
  }
  // "first check for an RST": nothing to reset, ignore it (SKB_DROP_REASON_TCP_RESET).
  if (flags & TCP_RST) {
    proto.net.drop(pb, 'tcp-rst');
    return;
  }
  // "second check for an ACK": anything acknowledging something — a SYN-ACK
  // included — is answered <SEQ=SEG.ACK><CTL=RST> (Linux: tcp_rcv_state_process
  // returns 1 for an ACK in LISTEN and tcp_v4_do_rcv resets). A bare ACK may
  // first be the third segment of a cookie handshake.
  if (flags & TCP_ACK) {
    if (!(flags & TCP_SYN) && proto.config.syncookies && proto.net.now() - l.lastOverflow <= COOKIE_MAX_AGE * 60_000) {
      // Cookies are checked only while they may be out there: within their
      // lifetime of the last overflow (Linux tcp_synq_no_recent_overflow), so a
      // stray ACK is a plain RST and blind cookie guessing has a short season.
      rcvCookieAck(proto, l, key, seg, o, pb);
      return;
    }
    proto.sendResetFor(seg, laddr, raddr);
    proto.net.drop(pb, 'tcp-invalid-ack');
    return;
  }
  // "third check for a SYN" (a SYN with FIN is nonsense: Linux drops it, TCP_FLAGS).
  if (!(flags & TCP_SYN) || flags & TCP_FIN) {
    proto.net.drop(pb, 'tcp-flags');
    return;
  }
  if (l.acceptQueueFull) {
    c.TcpExtListenOverflows++;
    c.TcpExtListenDrops++;
    proto.net.drop(pb, 'tcp-listen-overflow');
    return;
  }
  if (l.synQueueFull) {
    if (!proto.config.syncookies) {
      c.TcpExtTCPReqQFullDrop++;
      c.TcpExtListenDrops++;
      proto.net.drop(pb, 'tcp-req-full');
      return;
    }
    l.lastOverflow = proto.net.now();
    sendCookie(proto, l, seg, o, laddr, raddr);
    pb.free();
    return;
  }
  const r = new RequestSock(l, key, laddr, seg.dstPort, raddr, seg.srcPort, (x) => requestTimer(proto, x));
  r.irs = seg.seq;
  r.iss = isn ?? proto.isn(laddr, seg.dstPort, raddr, seg.srcPort);
  r.mss = o.mss > 0 ? o.mss : 536;
  r.wscale = o.wscale;
  r.sackOk = o.sackPermitted && proto.config.sack;
  r.tsOk = o.timestamps;
  r.tsRecent = o.tsVal;
  r.rcvWnd = Math.min(65535, l.endpointOptions.rcvBuf ?? proto.config.defaults.rcvBuf);
  l.synQueue.set(key, r);
  sendSynAck(proto, r);
  proto.net.rt.timers.arm(r.timer, proto.net.now() + 1000);
  pb.free();
}

/**
 * A segment for a request sock in SYN-RECV (Linux tcp_check_req, RFC 9293
 * §3.10.7.4 for SYN-RECEIVED with RFC 5961).
 */
function rcvRequest(proto: TcpProto, l: Listener, r: RequestSock, seg: TcpSegment, o: TcpOptions, pb: PacketBuffer): void {
  const c = proto.net.tcp;
  const flags = seg.flags;
  const seq = seg.seq;
  const rcvNxt = seqAdd(r.irs, 1);
  // The peer's retransmitted SYN (our SYN-ACK was lost): send the SYN-ACK again.
  // RFC 793's figures say ACK; RFC 1122 fixed it, and Linux resends the SYN-ACK —
  // at most one per tcp_invalid_ratelimit, so a SYN flood on one 4-tuple is not
  // mirrored SYN-ACK for SYN.
  if ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN && seq === r.irs) {
    if (!proto.oowRateLimited(r, false, 'TcpExtTCPACKSkippedSynRecv')) sendSynAck(proto, r);
    pb.free();
    return;
  }
  // An ACK must acknowledge our SYN exactly; else the listener answers it with
  // <SEQ=SEG.ACK><CTL=RST> and the request stays (tcp_check_req returns the listener).
  if (flags & TCP_ACK && seg.ack !== seqAdd(r.iss, 1)) {
    if (!(flags & TCP_RST)) proto.sendResetFor(seg, pb.daddr, pb.saddr);
    proto.net.drop(pb, 'tcp-invalid-ack');
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
    const data = seqGt(end, seq) && !(flags & TCP_SYN); // data or a FIN: never rate-limited
    if (!(flags & TCP_RST) && !proto.oowRateLimited(r, data, 'TcpExtTCPACKSkippedSynRecv')) sendRequestAck(proto, r);
    if (pawsReject) c.TcpExtPAWSEstab++;
    proto.net.drop(pb, pawsReject ? 'tcp-paws' : seqLt(seq, rcvNxt) ? 'tcp-old-data' : 'tcp-invalid-seq');
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
      c.TcpExtEmbryonicRsts++;
      dropRequest(proto, r);
      pb.free();
      return;
    }
    requestChallengeAck(proto, r);
    proto.net.drop(pb, 'tcp-rst');
    return;
  }
  if (flags & TCP_SYN) {
    // A SYN at another sequence number, in the window (RFC 5961 §4.2): a challenge
    // ACK, never a RST — a peer that restarted answers its unacceptable ACK with a RST
    // at RCV.NXT, which removes the request (Linux resets the embryo at once).
    c.TcpExtTCPSYNChallenge++;
    requestChallengeAck(proto, r);
    proto.net.drop(pb, 'tcp-invalid-syn');
    return;
  }
  // "if the ACK bit is off drop the segment and return".
  if (!(flags & TCP_ACK)) {
    proto.net.drop(pb, 'tcp-flags');
    return;
  }
  // Accept queue full: keep the request; its SYN-ACK will be retransmitted.
  if (listenOverflow(proto, l, pb)) return;
  dropRequest(proto, r);
  const ep = establish(proto, l, r, seg, o);
  // The ACK may carry data already (the final ACK may have been lost and this
  // be the first data segment): process it on the new connection.
  rcvSynchronized(ep, seg, o, pb);
}

/**
 * A completed handshake with the accept queue full: the final ACK is dropped
 * and counted (Linux tcp_v4_syn_recv_sock with tcp_abort_on_overflow = 0).
 */
function listenOverflow(proto: TcpProto, l: Listener, pb: PacketBuffer): boolean {
  if (!l.acceptQueueFull) return false;
  proto.net.tcp.TcpExtListenOverflows++;
  proto.net.tcp.TcpExtListenDrops++;
  proto.net.drop(pb, 'tcp-listen-overflow');
  return true;
}

/** The third segment of a cookie handshake (RFC 4987 §3.6). */
function rcvCookieAck(proto: TcpProto, l: Listener, key: string, seg: TcpSegment, o: TcpOptions, pb: PacketBuffer): void {
  const c = proto.net.tcp;
  const laddr = pb.daddr;
  const raddr = pb.saddr;
  const mss = checkCookie(proto, seg, laddr, raddr);
  if (mss < 0) {
    c.TcpExtSyncookiesFailed++;
    proto.sendResetFor(seg, laddr, raddr);
    proto.net.drop(pb, 'tcp-bad-cookie');
    return;
  }
  if (listenOverflow(proto, l, pb)) return;
  c.TcpExtSyncookiesRecv++;
  const r = new RequestSock(l, key, laddr, seg.dstPort, raddr, seg.srcPort, () => {});
  r.irs = seqAdd(seg.seq, -1);
  r.iss = seqAdd(seg.ack, -1);
  r.mss = mss;
  const ep = establish(proto, l, r, seg, o);
  rcvSynchronized(ep, seg, o, pb);
}

/** The handshake completed: a whole endpoint, hashed, on the accept queue. */
function establish(proto: TcpProto, l: Listener, r: RequestSock, seg: TcpSegment, o: TcpOptions): TcpEndpoint {
  const ep = proto.newEndpoint(l.endpointOptions);
  ep.laddr = r.laddr;
  ep.lport = r.lport;
  ep.raddr = r.raddr;
  ep.rport = r.rport;
  ep.iss = r.iss;
  ep.irs = r.irs;
  ep.tsOffset = proto.tsOffset(r.laddr, r.raddr);
  ep.sndUna = seqAdd(r.iss, 1);
  ep.sndNxt = ep.sndUna;
  ep.sndMax = ep.sndUna;
  ep.rcvNxt = seqAdd(r.irs, 1);
  ep.rcvWup = ep.rcvNxt;
  // The SYN-ACK acknowledged up to here: Last.ACK.sent of RFC 7323 §4.3, so the
  // first segments update TS.Recent (and PAWS works) before we ACK anything.
  ep.lastAckSent = ep.rcvNxt;
  const rt = proto.ip.route(r.raddr);
  ep.advMss = routeAdvMss(proto, rt);
  ep.mss = Math.max(64, Math.min(r.mss, ep.advMss));
  applyWscale(ep, r.wscale);
  ep.sackOk = r.sackOk;
  ep.tsOk = r.tsOk && o.timestamps;
  if (ep.tsOk) {
    ep.mss -= TCPOLEN_TSTAMP_ALIGNED; // as in negotiate(): the payload leaves room for the timestamps
    ep.tsRecent = o.tsVal;
    ep.tsRecentStamp = proto.net.now();
  }
  // The window in the ACK is scaled now that the handshake is done.
  ep.sndWnd = seg.window << ep.sndWscale;
  ep.maxSndWnd = ep.sndWnd;
  ep.sndWl1 = seg.seq;
  ep.sndWl2 = seg.ack;
  ep.rcvWnd = Math.min(65535, ep.rcvBufSize);
  ep.initCwnd();
  ep.lastRecv = proto.net.now();
  ep.setState(TcpState.Established);
  proto.hash(ep);
  proto.net.tcp.TcpPassiveOpens++;
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
function requestEndpoint(proto: TcpProto, r: RequestSock): TcpEndpoint {
  const ep = proto.newEndpoint(r.listener.endpointOptions);
  ep.laddr = r.laddr;
  ep.lport = r.lport;
  ep.raddr = r.raddr;
  ep.rport = r.rport;
  ep.rcvNxt = seqAdd(r.irs, 1);
  ep.rcvWup = ep.rcvNxt;
  ep.tsRecent = r.tsRecent;
  ep.tsOffset = proto.tsOffset(r.laddr, r.raddr);
  const rt = proto.ip.route(r.raddr);
  ep.advMss = routeAdvMss(proto, rt);
  return ep;
}

function sendSynAck(proto: TcpProto, r: RequestSock): void {
  const ep = requestEndpoint(proto, r);
  ep.xmit(TCP_SYN | TCP_ACK, r.iss, 0, 0, { mss: ep.advMss, wscale: r.wscale >= 0 ? ep.rcvWscale : -1, sackOk: r.sackOk, tsOk: r.tsOk });
}

/**
 * <SEQ=ISS+1><ACK=IRS+1><CTL=ACK> for a request (Linux tcp_v4_reqsk_send_ack):
 * the timestamps if the SYN had them, and the same window as the SYN-ACK — a
 * larger one would be a promise the connection, once established, does not
 * know it made.
 */
function sendRequestAck(proto: TcpProto, r: RequestSock): void {
  const ep = requestEndpoint(proto, r);
  ep.tsOk = r.tsOk;
  if (r.wscale < 0) ep.rcvWscale = 0; // scaling is off unless both SYNs offered it (RFC 7323 §2.2)
  ep.rcvBufSize = r.rcvWnd;
  ep.rcvWnd = r.rcvWnd;
  ep.xmit(TCP_ACK, seqAdd(r.iss, 1), 0, 0);
}

/** A challenge ACK for a request (RFC 5961 §3.2, §4.2), under the stack-wide budget of §7. */
function requestChallengeAck(proto: TcpProto, r: RequestSock): void {
  if (proto.oowRateLimited(r, false, 'TcpExtTCPACKSkippedChallenge')) return;
  if (!proto.allowChallengeAck()) {
    proto.net.tcp.TcpExtTCPACKSkippedChallenge++;
    return;
  }
  proto.net.tcp.TcpExtTCPChallengeACK++;
  sendRequestAck(proto, r);
}

function requestTimer(proto: TcpProto, r: RequestSock): void {
  if (r.retries >= proto.config.synackRetries) {
    dropRequest(proto, r);
    return;
  }
  r.retries++;
  proto.net.tcp.TcpRetransSegs++;
  sendSynAck(proto, r);
  proto.net.rt.timers.arm(r.timer, proto.net.now() + 1000 * 2 ** r.retries);
}

export function dropRequest(proto: TcpProto, r: RequestSock): void {
  proto.net.rt.timers.cancel(r.timer);
  r.listener.synQueue.delete(r.key);
}
