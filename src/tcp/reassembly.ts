// reassembly: the out-of-order queue of a receiving connection (Linux
// tcp_data_queue_ofo). Segments beyond RCV.NXT wait here, trimmed so that no
// two overlap, until the hole before them is filled. The queue is bounded
// in bytes; what does not fit is dropped (the sender will retransmit) and
// counted. A FIN that arrives out of order waits here too, as one sequence
// number of its own: Linux keeps the whole skb, FIN flag included, and
// tcp_ofo_queue hands it to tcp_fin once the hole fills — else the FIN is
// forgotten and the close waits for the peer to retransmit it. It also
// yields the SACK blocks to report (RFC 2018 §4: the block holding the most
// recently received segment first, then the others that were reported most
// recently); a queued FIN counts in its block, as the skb's end_seq does.

import { seqAdd, seqDiff, seqGeq, seqGt, seqLeq, seqLt } from './seqnum.js';

interface OfoSegment {
  seq: number;
  end: number; // seq + data.length, + 1 for a FIN (mod 2^32)
  data: Uint8Array;
  /** The peer's FIN at `seq` (no data: end = seq + 1). */
  fin: boolean;
}

export class OfoQueue {
  private segs: OfoSegment[] = [];
  bytes = 0;
  /** Left edges of blocks in the order they were last touched, most recent first. */
  private recent: number[] = [];

  constructor(public limit: number) {}

  /** Entries queued, a FIN included (SACK blocks are reported while it is above 0). */
  get length(): number {
    return this.segs.length;
  }

  /**
   * Queues data at `seq` (beyond RCV.NXT). Returns false when it was dropped
   * for lack of room. Overlaps with queued data are trimmed away.
   */
  insert(seq: number, data: Uint8Array): boolean {
    let end = seqAdd(seq, data.length);
    // Trim against existing segments; the new data may split into pieces around them.
    const pieces: OfoSegment[] = [];
    let cur = seq;
    for (const s of this.segs) {
      if (seqLeq(end, cur)) break;
      if (seqLeq(s.end, cur)) continue;
      if (seqLt(cur, s.seq)) {
        const pieceEnd = seqLt(end, s.seq) ? end : s.seq;
        pieces.push({ seq: cur, end: pieceEnd, data: data.subarray(seqDiff(cur, seq), seqDiff(pieceEnd, seq)), fin: false });
      }
      if (seqGt(s.end, cur)) cur = s.end;
    }
    if (seqLt(cur, end)) pieces.push({ seq: cur, end, data: data.subarray(seqDiff(cur, seq), seqDiff(end, seq)), fin: false });
    let added = 0;
    for (const p of pieces) added += p.data.length;
    if (added === 0) {
      this.touch(seq);
      return true; // all duplicate
    }
    if (this.bytes + added > this.limit) return false;
    for (const p of pieces) {
      p.data = p.data.slice(); // own the bytes: the packet buffer goes back to its pool
      this.place(p);
    }
    this.bytes += added;
    end = seqAdd(seq, data.length);
    this.touch(seq);
    return true;
  }

  /**
   * Queues the peer's FIN at `seq` (beyond RCV.NXT), after the data it
   * followed. It takes no buffer space. A second FIN at another sequence
   * number (a confused peer) is ignored: the first one stands.
   */
  insertFin(seq: number): void {
    if (!this.segs.some((s) => s.fin)) this.place({ seq, end: seqAdd(seq, 1), data: new Uint8Array(0), fin: true });
    this.touch(seq);
  }

  /** Inserts in sequence order. */
  private place(p: OfoSegment): void {
    let i = this.segs.length;
    while (i > 0 && seqGt(this.segs[i - 1]!.seq, p.seq)) i--;
    this.segs.splice(i, 0, p);
  }

  private touch(seq: number): void {
    const left = this.blockAround(seq)?.[0];
    if (left === undefined) return;
    this.recent = [left, ...this.recent.filter((l) => l !== left)].slice(0, 8);
  }

  /** The contiguous block [left, right) containing `seq`, or null. */
  private blockAround(seq: number): [number, number] | null {
    let left = -1;
    let right = -1;
    for (const s of this.segs) {
      if (left >= 0 && s.seq === right) {
        right = s.end;
        continue;
      }
      if (left >= 0 && seqGeq(seq, left) && seqLt(seq, right)) return [left, right];
      left = s.seq;
      right = s.end;
    }
    if (left >= 0 && seqGeq(seq, left) && seqLt(seq, right)) return [left, right];
    return null;
  }

  /**
   * Removes and returns, in order, the data that now follows `rcvNxt`
   * without a hole. It stops at a queued FIN (see `takeFin`); one that data
   * has passed was never the end of the stream and is discarded.
   */
  drain(rcvNxt: number, out: Uint8Array[]): number {
    let nxt = rcvNxt;
    while (this.segs.length > 0) {
      const s = this.segs[0]!;
      if (seqGt(s.seq, nxt)) break;
      if (s.fin && s.seq === nxt) break;
      this.segs.shift();
      this.bytes -= s.data.length;
      if (seqGt(s.end, nxt)) {
        out.push(s.data.subarray(seqDiff(nxt, s.seq)));
        nxt = s.end;
      }
    }
    return seqDiff(nxt, rcvNxt);
  }

  /** True, and the FIN removed, if the queued FIN is exactly at `rcvNxt` (Linux tcp_ofo_queue → tcp_fin). */
  takeFin(rcvNxt: number): boolean {
    const s = this.segs[0];
    if (!s || !s.fin || s.seq !== rcvNxt) return false;
    this.segs.shift();
    return true;
  }

  /** Up to `max` SACK blocks as [left, right) pairs into `out`; returns the count. */
  sackBlocks(out: Uint32Array, max: number): number {
    const blocks: Array<[number, number]> = [];
    let left = -1;
    let right = -1;
    for (const s of this.segs) {
      if (left >= 0 && s.seq === right) right = s.end;
      else {
        if (left >= 0) blocks.push([left, right]);
        left = s.seq;
        right = s.end;
      }
    }
    if (left >= 0) blocks.push([left, right]);
    const rank = (b: [number, number]) => {
      const i = this.recent.findIndex((l) => seqGeq(l, b[0]) && seqLt(l, b[1]));
      return i < 0 ? 1000 : i;
    };
    blocks.sort((a, b) => rank(a) - rank(b));
    const n = Math.min(max, blocks.length);
    for (let i = 0; i < n; i++) {
      out[2 * i] = blocks[i]![0] >>> 0;
      out[2 * i + 1] = blocks[i]![1] >>> 0;
    }
    return n;
  }

  clear(): void {
    this.segs = [];
    this.bytes = 0;
    this.recent = [];
  }
}
