// syncookies: SYN cookies (RFC 4987 §3.6; Linux net/ipv4/syncookies.c). When
// a listener's SYN queue is full the SYN-ACK keeps no state: its ISN encodes
// a keyed hash of the 4-tuple, a minute counter and the index of the peer's
// MSS in a small table, and the ACK that returns ISN + 1 proves the handshake
// without anything remembered in between. passive.ts decides when to send
// and when to check one.
//
//   ISN = H0(4-tuple) + SEG.SEQ + (count << 24) + ((H1(4-tuple, count) + mss index) mod 2^24)

import { TCP_ACK, TCP_SYN, type TcpSegment } from '../wire/tcp.js';
import type { TcpOptions } from '../wire/tcpOptions.js';
import { keyedHash } from './isn.js';
import type { Listener } from './listen.js';
import { seqAdd } from './seqnum.js';
import type { TcpProto } from './tcp.js';

/** RFC 4987 / Linux msstab: the MSS values a SYN cookie can encode (2 bits). */
const COOKIE_MSS = [536, 1300, 1440, 1460];
const COOKIE_BITS = 24;
const COOKIE_MASK = (1 << COOKIE_BITS) - 1;
export const COOKIE_MAX_AGE = 2; // minutes (Linux MAX_SYNCOOKIE_AGE)

function cookieCount(proto: TcpProto): number {
  return Math.floor(proto.net.now() / 60_000) & 0xff;
}

/** A stateless SYN-ACK whose ISN encodes the time and an MSS index (RFC 4987 §3.6; Linux syncookies.c). */
export function sendCookie(proto: TcpProto, l: Listener, seg: TcpSegment, o: TcpOptions, laddr: number, raddr: number): void {
  const c = proto.net.tcp;
  c.TcpExtSyncookiesSent++;
  const peerMss = o.mss > 0 ? o.mss : 536;
  let idx = 0;
  for (let i = COOKIE_MSS.length - 1; i >= 0; i--) if (COOKIE_MSS[i]! <= peerMss) {
    idx = i;
    break;
  }
  const count = cookieCount(proto);
  const sseq = seg.seq;
  const isn =
    (keyedHash(proto.secret, laddr, seg.dstPort, raddr, seg.srcPort, 0, 0) + sseq + (count << COOKIE_BITS) +
      ((keyedHash(proto.secret, laddr, seg.dstPort, raddr, seg.srcPort, count, 1) + idx) & COOKIE_MASK)) >>> 0;
  const ep = proto.newEndpoint(l.endpointOptions);
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
export function checkCookie(proto: TcpProto, seg: TcpSegment, laddr: number, raddr: number): number {
  const cookie = seqAdd(seg.ack, -1);
  const sseq = seqAdd(seg.seq, -1);
  const v = (cookie - keyedHash(proto.secret, laddr, seg.dstPort, raddr, seg.srcPort, 0, 0) - sseq) >>> 0;
  const count = v >>> COOKIE_BITS;
  if (((cookieCount(proto) - count) & 0xff) > COOKIE_MAX_AGE) return -1;
  const idx = (v - keyedHash(proto.secret, laddr, seg.dstPort, raddr, seg.srcPort, count, 1)) & COOKIE_MASK;
  return idx < COOKIE_MSS.length ? COOKIE_MSS[idx]! : -1;
}
