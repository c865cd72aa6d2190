// connect: the active open (RFC 9293 §3.10.1, Linux tcp_v4_connect): an
// endpoint in SYN-SENT with its ISN, its SYN (resent by the RTO, and turned
// into a SYN-ACK in a simultaneous open), and the peer's SYN options applied
// when its SYN arrives (input.ts). Also the MSS we announce on a route and
// the room the timestamp option takes, which the passive open shares.

import type { Ipv4 } from '../ipv4/ip.js';
import { TCP_ACK, TCP_SYN } from '../wire/tcp.js';
import type { TcpOptions } from '../wire/tcpOptions.js';
import type { TcpEndpoint } from './endpoint.js';
import { seqAdd } from './seqnum.js';
import { TcpState } from './state.js';
import type { TcpProto } from './tcp.js';

/** The timestamp option with its two NOPs of padding (Linux TCPOLEN_TSTAMP_ALIGNED). */
export const TCPOLEN_TSTAMP_ALIGNED = 12;
/** The largest IPv4 datagram: a path MTU above it (lo's 65536) still carries at most this (Linux IPV4_MAX_PMTU). */
const IPV4_MAX_PMTU = 65535;
/** IPv4 and TCP headers without options: what MSS leaves out of the MTU (RFC 9293 §3.7.1). */
const TCP_IPV4_HLEN = 40;

/**
 * The MSS we announce on a route: its device's MTU (lo's for a local route)
 * less 40, never more than a 65535-byte datagram holds — Linux's
 * ipv4_default_advmss; without the cap lo's 65536 would give segments one
 * byte too big to send.
 */
export function routeAdvMss(proto: TcpProto, rt: ReturnType<Ipv4['route']>): number {
  const mtu = !rt ? 1500 : rt.type === 'local' ? (proto.ip.loopback?.mtu ?? 65536) : rt.dev.mtu;
  return Math.min(mtu, IPV4_MAX_PMTU) - TCP_IPV4_HLEN;
}

/** connect(): SYN-SENT and the first SYN (RFC 9293 §3.10.1). */
export function connect(proto: TcpProto, ep: TcpEndpoint, raddr: number, rport: number, laddr: number, lport: number): void {
  const rt = proto.ip.route(raddr);
  if (!rt) throw Object.assign(new Error('connect ENETUNREACH'), { code: 'ENETUNREACH', syscall: 'connect' });
  ep.laddr = laddr || rt.prefsrc || proto.ip.fib.selectSource(rt.dev, raddr);
  ep.raddr = raddr;
  ep.rport = rport;
  ep.lport = lport || proto.ephemeralPort(ep.laddr, raddr, rport);
  if (proto.lookup(ep.laddr, ep.lport, raddr, rport)) throw Object.assign(new Error('connect EADDRINUSE'), { code: 'EADDRINUSE', syscall: 'connect' });
  ep.advMss = routeAdvMss(proto, rt);
  ep.mss = Math.min(536, ep.advMss);
  ep.iss = proto.isn(ep.laddr, ep.lport, raddr, rport);
  ep.tsOffset = proto.tsOffset(ep.laddr, raddr);
  ep.sndUna = ep.iss;
  ep.sndNxt = ep.iss;
  ep.sndMax = ep.iss;
  ep.setState(TcpState.SynSent);
  proto.hash(ep);
  proto.net.tcp.TcpActiveOpens++;
  ep.rttTime = proto.net.now();
  sendSyn(proto, ep);
  ep.armRto();
}

/** Sends (or resends) the SYN of SYN-SENT or the SYN-ACK of SYN-RECV. */
export function sendSyn(proto: TcpProto, ep: TcpEndpoint): void {
  const synAck = ep.state === TcpState.SynRecv;
  const wscale = synAck ? (ep.wscaleOk ? ep.rcvWscale : -1) : ep.rcvWscale;
  ep.xmit(TCP_SYN | (synAck ? TCP_ACK : 0), ep.iss, 0, 0, {
    mss: ep.advMss,
    wscale,
    sackOk: synAck ? ep.sackOk : proto.config.sack,
    tsOk: synAck ? ep.tsOk : true,
  });
  ep.sndNxt = seqAdd(ep.iss, 1);
  ep.sndMax = ep.sndNxt;
}

/** Applies the peer's SYN options (RFC 9293 §3.7.1 MSS, RFC 7323 §2.2, RFC 2018 §2). */
export function negotiate(proto: TcpProto, ep: TcpEndpoint, o: TcpOptions): void {
  // A path MTU learned while the SYN was out bounds the MSS too (Linux
  // tcp_rcv_synsent_state_process → tcp_sync_mss(icsk_pmtu_cookie)).
  const pathMss = ep.pmtu > 0 ? ep.pmtu - 40 : Infinity;
  ep.mss = Math.max(64, Math.min(o.mss > 0 ? o.mss : 536, ep.advMss, pathMss));
  applyWscale(ep, o.wscale);
  // Linux tcp_parse_options reads SACK-permitted only with tcp_sack on.
  ep.sackOk = o.sackPermitted && proto.config.sack;
  ep.tsOk = o.timestamps;
  // The MSS option counts no TCP options (RFC 6691): every segment of a connection with
  // timestamps carries 12 bytes of them, so its payload is 12 bytes less (Linux tcp_sync_mss).
  if (ep.tsOk) ep.mss -= TCPOLEN_TSTAMP_ALIGNED;
  ep.initCwnd();
}

/**
 * The window scale the peer's SYN offered (-1: none). Scaling is on only if
 * both SYNs offered it (RFC 7323 §2.2): else neither side shifts its windows.
 */
export function applyWscale(ep: TcpEndpoint, wscale: number): void {
  if (wscale >= 0) {
    ep.sndWscale = wscale;
    ep.wscaleOk = true;
  } else {
    ep.sndWscale = 0;
    ep.rcvWscale = 0;
  }
}
