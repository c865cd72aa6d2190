// recovery: fast retransmit and fast recovery (RFC 5681 §3.2; NewReno, RFC
// 6582, without SACK; RFC 6675 with it): entering recovery on the third
// duplicate ACK — ssthresh from the congestion algorithm, cwnd set, the
// first hole resent at once — and, while in recovery, resending the holes
// the SACK scoreboard (sack.ts) shows lost as far as the pipe allows.
// Duplicate ACKs are counted and recovery is left in input.ts.

import type { TcpEndpoint } from './endpoint.js';
import { retransmit } from './output.js';
import { nextHole, pipeExtra } from './sack.js';

/**
 * RFC 5681 §3.2 step 3: entering fast recovery on the third duplicate ACK,
 * NewReno inflates cwnd by the three segments those ACKs say have left the network.
 */
const NEWRENO_DUPACK_INFLATION = 3;

/** Enters fast recovery (RFC 5681 §3.2 step 2, RFC 6675 §5 step 4). */
export function enterRecovery(ep: TcpEndpoint): void {
  const c = ep.proto.net.tcp;
  if (ep.sackOk) c.TcpExtTCPSackRecovery++;
  else c.TcpExtTCPRenoRecovery++;
  ep.inRecovery = true;
  ep.recover = ep.sndMax;
  ep.recoverValid = true;
  // RFC 5681 §3.2 step 2: FlightSize without what Limited Transmit sent.
  ep.ssthresh = ep.cc.ssthresh(ep, Math.max(0, ep.flight - ep.limitedBytes), ep.now);
  // With SACK the pipe of RFC 6675 counts what left the network, so cwnd is ssthresh
  // (§5 step 4.2). NewReno counts nothing but the duplicates: cwnd = ssthresh + 3·SMSS
  // (RFC 5681 §3.2 step 3, RFC 6582 §3.2 step 2), and each further duplicate adds an
  // SMSS (processAck), so new data flows again after about half a window of them.
  // No PRR (RFC 6937): Linux would use it for both cases.
  ep.cwnd = ep.sackOk ? ep.ssthresh : ep.ssthresh + NEWRENO_DUPACK_INFLATION * ep.mss;
  ep.highRxt = ep.sndUna;
  // The first retransmission goes regardless of the window (RFC 6675 §5 step 4.3).
  const hole = nextHole(ep, ep.sndUna) ?? [ep.sndUna, Math.min(ep.mss, ep.flight)];
  retransmit(ep, hole[0], hole[1]);
  c.TcpExtTCPFastRetrans++;
}

/** In recovery: retransmit lost holes while the pipe allows (RFC 6675 §5 step 4.2 / NextSeg rule 1). */
export function recoverySend(ep: TcpEndpoint): void {
  for (;;) {
    const pipe = ep.flight + pipeExtra(ep);
    if (pipe + ep.mss > ep.cwnd) return;
    const hole = ep.sackOk ? nextHole(ep, ep.highRxt) : null;
    if (!hole) return;
    retransmit(ep, hole[0], hole[1]);
  }
}
