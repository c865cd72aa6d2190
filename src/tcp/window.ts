// window: the receive window a connection offers (RFC 9293 §3.8.6.2.2, Linux
// __tcp_select_window and tcp_cleanup_rbuf): what each segment advertises —
// the free receive buffer, never moving the right edge left, opening only by
// enough to be worth a segment (receiver-side silly window avoidance) — the
// window update sent when the application reads, and the window scale that
// lets a buffer be offered whole (RFC 7323 §2.3).

import { TCP_MAX_WSCALE } from '../wire/tcpOptions.js';
import type { TcpEndpoint } from './endpoint.js';
import { sendAck } from './output.js';
import { seqAdd, seqDiff } from './seqnum.js';
import { TcpState } from './state.js';

/**
 * The receive window to advertise (RFC 9293 §3.8.6.2.2): the free receive
 * buffer, but never moving the right edge left, and advancing it only by
 * at least min(rcvbuf/2, MSS) (receiver-side silly window avoidance).
 */
export function selectWindow(ep: TcpEndpoint): number {
  const free = Math.max(0, ep.rcvBufSize - (ep.events?.unreadBytes() ?? 0) - ep.ofo.bytes);
  const max = 65535 << ep.rcvWscale;
  let win = Math.min(free, max);
  const curRight = seqAdd(ep.rcvWup, ep.rcvWnd);
  const curWin = Math.max(0, seqDiff(curRight, ep.rcvNxt));
  // Receiver-side SWS avoidance (RFC 9293 §3.8.6.2.2): keep RCV.NXT + RCV.WND where it is
  // until it can move by min(Fr · RCV.BUFF, MSS), Fr = 1/2 — a full-sized segment being
  // advMss less the timestamps (Linux rcv_mss). Also from a zero window: a reader taking
  // 100 bytes at a time must not open it 100 bytes at a time, or the sender, forced by
  // its persist timer, fills it with 100-byte segments (Linux __tcp_select_window: 0
  // while the free space is below an MSS).
  const rcvMss = ep.advMss - (ep.tsOk ? 12 : 0);
  if (win < curWin) win = curWin; // never shrink (RFC 9293 §3.8.6.2.2)
  else if (win - curWin < Math.min(ep.rcvBufSize / 2, rcvMss)) win = curWin;
  // Round down to what the scaled field can express, never below what it already covers.
  win = Math.max(curWin, win - (win & ((1 << ep.rcvWscale) - 1)));
  ep.rcvWup = ep.rcvNxt;
  ep.rcvWnd = win;
  return win;
}

/** Called when the application consumed received data: open the window if it grew enough. */
export function windowUpdate(ep: TcpEndpoint): void {
  if (ep.state !== TcpState.Established && ep.state !== TcpState.FinWait1 && ep.state !== TcpState.FinWait2) return;
  // Nothing received, nothing consumed: Linux's tcp_cleanup_rbuf acts only
  // when the application copied bytes. Without this, a passive open would
  // follow its SYN-ACK with an ACK just to widen the (unscaled) window.
  if (ep.rcvNxt === seqAdd(ep.irs, 1)) return;
  const advertised = Math.max(0, seqDiff(seqAdd(ep.rcvWup, ep.rcvWnd), ep.rcvNxt));
  // No more than the window field can carry (65535 << wscale), as __tcp_select_window
  // clamps: else a buffer larger than 64 KB without scaling ACKs for nothing on every read.
  const free = Math.min(ep.rcvBufSize - (ep.events?.unreadBytes() ?? 0) - ep.ofo.bytes, 65535 << ep.rcvWscale);
  // Linux tcp_cleanup_rbuf: ACK when the window can at least double, or opens from below one MSS.
  if (free - advertised >= Math.min(ep.rcvBufSize / 2, 2 * ep.advMss) && (advertised < ep.advMss || free >= 2 * advertised)) sendAck(ep);
}

/** The window scale that lets a window cover `rcvBuf` bytes (RFC 7323 §2.3), capped at 14. */
export function wscaleFor(rcvBuf: number): number {
  let s = 0;
  while (s < TCP_MAX_WSCALE && 65535 << s < rcvBuf) s++;
  return s;
}
