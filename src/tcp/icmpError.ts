// icmpError: ICMP errors about our segments (Linux tcp_v4_err; RFC 1122
// §4.2.3.9, RFC 5927, RFC 1191): the quoted TCP header names the connection
// or request sock and the sequence number that must be in flight; fragmentation
// needed shrinks the MSS (path MTU discovery), the other errors end a handshake
// or are kept as the connection's soft error.

import type { IcmpErrorInfo } from '../ipv4/icmp.js';
import {
  ICMP_DEST_UNREACH,
  ICMP_PARAM_PROBLEM,
  ICMP_TIME_EXCEEDED,
  ICMP_UNREACH_FRAG_NEEDED,
  ICMP_UNREACH_HOST,
  ICMP_UNREACH_NET,
} from '../wire/icmp.js';
import { TCPOLEN_TSTAMP_ALIGNED } from './connect.js';
import type { TcpEndpoint } from './endpoint.js';
import { tupleKey, type RequestSock } from './listen.js';
import { dropRequest } from './passive.js';
import { seqGt, seqLt } from './seqnum.js';
import { TcpState } from './state.js';
import type { TcpProto } from './tcp.js';

/** The highest destination-unreachable code (Linux NR_ICMP_UNREACH): above it the message is ignored. */
const NR_ICMP_UNREACH = 15;
/**
 * The errno of each destination-unreachable code: Linux's icmp_err_convert[].
 * Its `fatal` column (protocol and port unreachable, and the administrative
 * and "unknown" codes) decides for UDP and raw sockets only; TCP ends a
 * handshake on any of them and keeps any of them as a soft error later.
 */
const ICMP_UNREACH_ERRNO: readonly string[] = [
  'ENETUNREACH', // 0 net unreachable
  'EHOSTUNREACH', // 1 host unreachable
  'ENOPROTOOPT', // 2 protocol unreachable
  'ECONNREFUSED', // 3 port unreachable
  'EMSGSIZE', // 4 fragmentation needed (handled as PMTU discovery instead)
  'EOPNOTSUPP', // 5 source route failed
  'ENETUNREACH', // 6 destination network unknown
  'EHOSTDOWN', // 7 destination host unknown
  'ENONET', // 8 source host isolated
  'ENETUNREACH', // 9 network administratively prohibited
  'EHOSTUNREACH', // 10 host administratively prohibited
  'ENETUNREACH', // 11 network unreachable for TOS
  'EHOSTUNREACH', // 12 host unreachable for TOS
  'EHOSTUNREACH', // 13 communication administratively prohibited
  'EHOSTUNREACH', // 14 host precedence violation
  'EHOSTUNREACH', // 15 precedence cutoff in effect
];

/**
 * ICMP errors about our segments (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191):
 * Linux tcp_v4_err. Icmp hands over destination unreachable, time exceeded
 * and parameter problem with at least 8 bytes of the TCP header quoted.
 */
export function icmpError(proto: TcpProto, info: IcmpErrorInfo): void {
  if (info.len < 8) return;
  const b = info.buf;
  const lport = (b[info.off]! << 8) | b[info.off + 1]!;
  const rport = (b[info.off + 2]! << 8) | b[info.off + 3]!;
  const seq = ((b[info.off + 4]! << 24) | (b[info.off + 5]! << 16) | (b[info.off + 6]! << 8) | b[info.off + 7]!) >>> 0;
  const ep = proto.lookup(info.saddr, lport, info.daddr, rport);
  if (!ep) {
    const r = proto.findListener(info.saddr, lport)?.synQueue.get(tupleKey(info.saddr, lport, info.daddr, rport));
    if (r) requestError(proto, r, info, seq);
    // About no connection of ours (tcp_v4_err: __ICMP_INC_STATS(ICMP_MIB_INERRORS)).
    else proto.net.snmp.IcmpInErrors++;
    return;
  }
  // TIME-WAIT has nothing to report an error to (tcp_v4_err returns at once).
  if (ep.state === TcpState.TimeWait) return;
  // RFC 5927 §4.1: the quoted sequence number must be in flight, in
  // [SND.UNA, SND.MAX] (Linux: between(seq, snd_una, snd_nxt), else
  // LINUX_MIB_OUTOFWINDOWICMPS — a blind attacker must guess the window).
  if (seqLt(seq, ep.sndUna) || seqGt(seq, ep.sndMax)) {
    proto.net.tcp.TcpExtOutOfWindowIcmps++;
    return;
  }
  let err: string;
  switch (info.type) {
    case ICMP_DEST_UNREACH:
      if (info.code > NR_ICMP_UNREACH) return;
      if (info.code === ICMP_UNREACH_FRAG_NEEDED) {
        pmtuReduced(proto, ep, info.mtu);
        return;
      }
      err = ICMP_UNREACH_ERRNO[info.code]!;
      break;
    case ICMP_TIME_EXCEEDED:
      err = 'EHOSTUNREACH';
      break;
    case ICMP_PARAM_PROBLEM:
      err = 'EPROTO';
      break;
    default:
      return;
  }
  // During the handshake every error ends the attempt at once, soft or not
  // (tcp_v4_err: sk_err, tcp_done — which counts TCP_MIB_ATTEMPTFAILS). Once
  // synchronized every error is soft (RFC 1122 §4.2.3.9: a connection must not
  // be aborted for unreachables that may be transient; Linux reports them at
  // once only with IP_RECVERR): kept in softError and reported if the
  // connection later times out (sk_err_soft), forgotten when an ACK arrives.
  if (ep.state === TcpState.SynSent || ep.state === TcpState.SynRecv) {
    proto.net.tcp.TcpAttemptFails++;
    ep.fail(err);
  } else ep.softError = err;
}

/**
 * Fragmentation needed (RFC 1191 §6.2): the MSS becomes the path MTU's and
 * the first segment in flight is resent at the new size (Linux tcp_v4_mtu_reduced).
 * During the handshake only the SYN is in flight, and it is not too big:
 * nothing is resent, and the path MTU is kept for negotiate() to clamp the
 * MSS the SYN-ACK brings (tcp_simple_retransmit finds nothing larger than the MSS).
 */
function pmtuReduced(proto: TcpProto, ep: TcpEndpoint, reported: number): void {
  const mtu = reported >= 68 ? reported : 576; // old routers report 0
  if (ep.pmtu === 0 || mtu < ep.pmtu) ep.pmtu = mtu;
  // The timestamp option rides in every segment: leave room for it, as negotiate() does
  // (Linux tcp_sync_mss), or each segment still exceeds the path MTU by 12 bytes.
  const mss = Math.max(64, mtu - 40 - (ep.tsOk ? TCPOLEN_TSTAMP_ALIGNED : 0));
  if (mss < ep.mss) {
    proto.net.tcp.TcpExtPMTUDiscovery++;
    ep.mss = mss;
    const handshake = ep.state === TcpState.SynSent || ep.state === TcpState.SynRecv;
    if (!handshake && ep.flight > 0) ep.retransmit(ep.sndUna, Math.min(ep.mss, ep.flight));
  }
}

/**
 * An ICMP error about a request's SYN-ACK (Linux tcp_req_err): it must quote
 * our ISN exactly; net or host unreachable, time exceeded and parameter
 * problem remove the request silently — there is no socket to tell, and
 * accept() must not return network errors (POSIX) — counting ListenDrops.
 * Port and protocol unreachable do not: the peer's stack sent the SYN.
 */
function requestError(proto: TcpProto, r: RequestSock, info: IcmpErrorInfo, seq: number): void {
  if (seq !== r.iss) {
    proto.net.tcp.TcpExtOutOfWindowIcmps++;
    return;
  }
  const abort =
    info.type === ICMP_PARAM_PROBLEM ||
    info.type === ICMP_TIME_EXCEEDED ||
    (info.type === ICMP_DEST_UNREACH && (info.code === ICMP_UNREACH_NET || info.code === ICMP_UNREACH_HOST));
  if (!abort) return;
  dropRequest(proto, r);
  proto.net.tcp.TcpExtListenDrops++;
}
