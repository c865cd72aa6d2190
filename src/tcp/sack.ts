// sack: the SACK scoreboard of one connection (RFC 2018, RFC 6675; gVisor
// sack_scoreboard.go, Linux's sacked bits in the retransmit queue): the
// ranges above SND.UNA the peer reported received, kept in ep.sacked as a
// sorted, merged list [l0, r0, l1, r1, …], and what loss recovery reads
// from it — the bytes SACKed, RFC 6675's "pipe" and the next hole to resend.

import type { TcpOptions } from '../wire/tcpOptions.js';
import type { TcpEndpoint } from './endpoint.js';
import { seqAdd, seqDiff, seqGt, seqLt, seqMax } from './seqnum.js';

/** Applies a received SACK block list to the scoreboard (RFC 2018). */
export function updateScoreboard(ep: TcpEndpoint, o: TcpOptions): void {
  for (let i = 0; i < o.sackCount; i++) {
    let l = o.sackBlocks[2 * i]!;
    let r = o.sackBlocks[2 * i + 1]!;
    // Ignore D-SACKs (below SND.UNA) and blocks beyond what was sent.
    if (!seqGt(r, ep.sndUna)) {
      ep.proto.net.tcp.TcpExtTCPDSACKRecv++;
      continue;
    }
    if (seqGt(r, ep.sndMax) || !seqLt(l, r)) continue;
    if (seqLt(l, ep.sndUna)) l = ep.sndUna;
    // Merge into the sorted list.
    const out: number[] = [];
    let placed = false;
    for (let j = 0; j < ep.sacked.length; j += 2) {
      const a = ep.sacked[j]!;
      const b = ep.sacked[j + 1]!;
      if (seqLt(b, l)) out.push(a, b);
      else if (seqGt(a, r)) {
        if (!placed) {
          out.push(l, r);
          placed = true;
        }
        out.push(a, b);
      } else {
        if (seqLt(a, l)) l = a;
        if (seqGt(b, r)) r = b;
      }
    }
    if (!placed) out.push(l, r);
    ep.sacked = out;
  }
}

/** Drops scoreboard entries at or below SND.UNA. */
export function trimScoreboard(ep: TcpEndpoint): void {
  while (ep.sacked.length && !seqGt(ep.sacked[1]!, ep.sndUna)) ep.sacked.splice(0, 2);
  if (ep.sacked.length && seqLt(ep.sacked[0]!, ep.sndUna)) ep.sacked[0] = ep.sndUna;
}

/** Bytes SACKed between SND.UNA and SND.NXT. */
export function sackedBytes(ep: TcpEndpoint): number {
  let n = 0;
  for (let i = 0; i < ep.sacked.length; i += 2) n += seqDiff(ep.sacked[i + 1]!, ep.sacked[i]!);
  return n;
}

/** The highest SACKed sequence, or SND.UNA. */
function highSacked(ep: TcpEndpoint): number {
  return ep.sacked.length ? ep.sacked[ep.sacked.length - 1]! : ep.sndUna;
}

/**
 * RFC 6675 §4 "pipe" beyond plain flight: SACKed bytes have left the network,
 * holes below the highest SACK are deemed lost unless already retransmitted.
 * Returned as the (negative) correction to add to the flight size.
 */
export function pipeExtra(ep: TcpEndpoint): number {
  if (!ep.sackOk || ep.sacked.length === 0) return 0;
  const high = highSacked(ep);
  const holes = seqDiff(high, ep.sndUna) - sackedBytes(ep);
  const retransmitted = Math.max(0, Math.min(holes, seqDiff(ep.highRxt, ep.sndUna) - sackedBelow(ep, ep.highRxt)));
  return -sackedBytes(ep) - holes + retransmitted;
}

function sackedBelow(ep: TcpEndpoint, seq: number): number {
  let n = 0;
  for (let i = 0; i < ep.sacked.length; i += 2) {
    const l = ep.sacked[i]!;
    const r = ep.sacked[i + 1]!;
    if (!seqLt(l, seq)) break;
    n += seqDiff(seqLt(r, seq) ? r : seq, l);
  }
  return n;
}

/** The next hole to retransmit at or after `from`, as [seq, len], or null. */
export function nextHole(ep: TcpEndpoint, from: number): [number, number] | null {
  let seq = seqMax(from, ep.sndUna);
  const high = ep.sackOk && ep.sacked.length ? highSacked(ep) : seqAdd(ep.sndUna, Math.min(ep.mss, ep.flight));
  for (let i = 0; i < ep.sacked.length; i += 2) {
    const l = ep.sacked[i]!;
    const r = ep.sacked[i + 1]!;
    if (seqLt(seq, l)) return [seq, Math.min(seqDiff(l, seq), ep.mss)];
    if (seqLt(seq, r)) seq = r;
  }
  if (seqLt(seq, high)) return [seq, Math.min(seqDiff(high, seq), ep.mss)];
  return null;
}
