// captureTap: the packet tap behind `ustack up --pcap`, and — for pcapng —
// the annotation of every received frame the stack drops with why it died:
// `drop: ip-not-for-us`, `netfilter-drop: INPUT rule 1: -p icmp --icmp-type
// echo-request -j DROP` — and of every one a firewall rule accepted, with that
// verdict: `netfilter-accept: INPUT rule 2: -p tcp --dport 80 -j ACCEPT`
// (followed by `; drop: …` if the frame died later all the same). Wireshark shows it as the packet's comment
// (frame.comment), so a capture answers the seeds' question "does tcpdump see
// what the firewall blocks?" — yes, and now it also says which rule did it.
//
// The problem: the tap sees a frame first (AF_PACKET taps come before any
// filter), and its fate is known only later, when something calls net.drop
// on it — or never, when it is delivered. But that "later" is bounded: a
// received frame is handled by one synchronous call chain, dev.receive →
// EthernetLayer.receive → taps → ARP | IPv4 → hooks → ... → the transport,
// which has dropped it, delivered it or queued it (for reassembly) by the
// time dev.receive returns. So the received frame is held, not recorded:
//
//   dev.receive (wrapped)        open a window; the frame being received is its subject
//     └ tap 'in'                 copy the frame into the pending arena (entry 0, the subject)
//     └ ... a reply goes out     tap 'out': pending too, after the subject (keeps file order)
//     └ net.drop(.., reason)     a receive-side drop in the window: the subject's comment
//   dev.receive returns          window closed: record every pending entry, in order
//
// Which drops count: every drop reason belongs to the receive path except
// the output ones (no route, neighbour, qdisc, device down) and a
// netfilter-drop at OUTPUT or POSTROUTING (a REJECT's reply dropped on its
// way out is not the received frame). Nothing on the receive path drops a
// buffer of another received frame (the loopback device hands frames on
// through the backlog, in a later softirq), so a receive-side drop in the
// window is the subject's — or, for the last fragment of a datagram, the
// reassembled datagram's, which is the same answer. The first one wins.
//
// Cost: with no capture nothing here exists. With classic pcap (no comments)
// the tap records at once, as before. With pcapng each frame is copied twice
// (into the arena, then into the writer's buffer); the arena and its entry
// tables are allocated once. A window that overflows them records what it
// holds (without the comment it may not have yet) and goes on.

import type { CaptureDirection, CaptureSink } from '../capture/writer.js';
import type { DropReason, Net } from '../core/net.js';
import type { Clock } from '../core/runtime.js';
import type { PacketTap } from '../link/dev.js';
import { NF_OUTPUT, NF_POSTROUTING, type Netfilter, type NfRule } from '../ipv4/netfilter.js';
import type { NetDevice } from '../nic/device.js';

/** Drop reasons of the send path: never about a received frame. */
const OUTPUT_REASONS: ReadonlySet<DropReason> = new Set<DropReason>([
  'ip-outnoroutes',
  'ip-frag-needed',
  'neigh-failed',
  'neigh-queuefull',
  'neigh-tablefull',
  'qdisc-drop',
  'dev-down',
]);

const ARENA_BYTES = 256 * 1024;
const MAX_PENDING = 256;

export interface CaptureTapOptions {
  /** Only frames of the interface with this name are recorded. */
  ifName: string;
  clock: Clock;
  /** Annotate dropped received frames (pcapng); needs `net` (and `netfilter` for rule names). */
  annotate?: { net: Net; netfilter: Netfilter | null };
}

export class CaptureTap {
  private depth = 0;
  /** The pending entry of the frame being received (-1: not tapped yet; -2: recorded already). */
  private subjectEntry = -1;
  /** Bumped by every flush that recorded something: entries of an older window are gone. */
  private generation = 0;
  private arena: Uint8Array | null = null;
  private used = 0;
  private count = 0;
  private readonly offs = new Int32Array(MAX_PENDING);
  private readonly lens = new Int32Array(MAX_PENDING);
  private readonly secs = new Float64Array(MAX_PENDING);
  private readonly nsecs = new Int32Array(MAX_PENDING);
  private readonly dirs = new Uint8Array(MAX_PENDING);
  private readonly comments: Array<string | undefined> = new Array(MAX_PENDING).fill(undefined);
  /** Whether the entry's comment already has its drop (a verdict alone may be followed by one). */
  private readonly dropNoted = new Uint8Array(MAX_PENDING);

  constructor(
    private readonly sink: CaptureSink,
    private readonly o: CaptureTapOptions,
  ) {}

  /** The packet tap: add it with stack.addTap (before the interface, so its first frames are seen). */
  readonly tap: PacketTap = (d, frame, off, len, dir) => {
    if (d.name !== this.o.ifName) return;
    const ms = this.o.clock.now();
    const sec = Math.floor(ms / 1000);
    const nsec = Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6));
    if (this.depth === 0) {
      this.sink.record(frame, off, len, sec, nsec, dir);
      return;
    }
    const i = this.pend(frame, off, len, sec, nsec, dir);
    if (i >= 0 && dir === 'in' && this.subjectEntry === -1) this.subjectEntry = i;
  };

  /**
   * Starts annotating the frames `dev` receives: wraps its receive function
   * and watches drops. Returns the function that undoes both. Without
   * `annotate` this does nothing.
   */
  attach(dev: NetDevice): () => void {
    const a = this.o.annotate;
    if (!a) return () => {};
    const inner = dev.receive;
    dev.receive = (pb) => {
      // Nested receives (none today) get their own subject; the outer one's comes back after.
      const outerEntry = this.subjectEntry;
      const outerGeneration = this.generation;
      this.subjectEntry = -1;
      this.depth++;
      try {
        inner(pb);
      } finally {
        this.depth--;
        this.subjectEntry = outerGeneration === this.generation || outerEntry < 0 ? outerEntry : -2;
        if (this.depth === 0) this.flush();
      }
    };
    const unwatch = a.net.watchDrops((_pb, reason) => this.onDrop(reason));
    const nf = a.netfilter;
    if (nf) nf.onAccept = (hook, rule) => this.onAccept(nf, hook, rule);
    return () => {
      dev.receive = inner;
      unwatch();
      if (nf) nf.onAccept = null;
      this.flush();
    };
  }

  /** A rule accepted the frame being received: its verdict is the comment, until a drop adds to it. */
  private onAccept(nf: Netfilter, hook: number, rule: NfRule): void {
    const e = this.subjectEntry;
    // OUTPUT and POSTROUTING judge what the stack sends, not the received frame.
    if (this.depth === 0 || e < 0 || hook === NF_OUTPUT || hook === NF_POSTROUTING || this.comments[e] !== undefined) return;
    this.comments[e] = `netfilter-accept: ${nf.describeRule(hook, rule)}`;
  }

  private onDrop(reason: DropReason): void {
    const e = this.subjectEntry;
    if (this.depth === 0 || e < 0 || this.dropNoted[e] === 1 || OUTPUT_REASONS.has(reason)) return;
    let text: string;
    if (reason === 'netfilter-drop') {
      const nf = this.o.annotate?.netfilter ?? null;
      if (nf && (nf.lastDropHook === NF_OUTPUT || nf.lastDropHook === NF_POSTROUTING)) return;
      text = nf ? `netfilter-drop: ${nf.describeLastDrop()}` : 'netfilter-drop';
    } else {
      text = `drop: ${reason}`;
    }
    const verdict = this.comments[e];
    this.comments[e] = verdict === undefined ? text : `${verdict}; ${text}`;
    this.dropNoted[e] = 1;
  }

  /** Copies a frame into the arena; returns its entry, or -1 if it was recorded at once (no room). */
  private pend(frame: Uint8Array, off: number, len: number, sec: number, nsec: number, dir: CaptureDirection): number {
    if (this.count === MAX_PENDING || this.used + len > ARENA_BYTES) this.flush();
    if (len > ARENA_BYTES) {
      this.sink.record(frame, off, len, sec, nsec, dir);
      return -1;
    }
    const arena = (this.arena ??= new Uint8Array(ARENA_BYTES));
    const i = this.count++;
    arena.set(frame.subarray(off, off + len), this.used);
    this.offs[i] = this.used;
    this.lens[i] = len;
    this.secs[i] = sec;
    this.nsecs[i] = nsec;
    this.dirs[i] = dir === 'in' ? 0 : 1;
    this.used += len;
    return i;
  }

  /** Records every pending frame, in order, with the comments known so far. */
  flush(): void {
    const arena = this.arena;
    for (let i = 0; i < this.count; i++) {
      this.sink.record(arena!, this.offs[i]!, this.lens[i]!, this.secs[i]!, this.nsecs[i]!, this.dirs[i] === 0 ? 'in' : 'out', this.comments[i]);
      this.comments[i] = undefined;
      this.dropNoted[i] = 0;
    }
    // A subject recorded before its fate was known is not annotated any more.
    if (this.count > 0) {
      if (this.subjectEntry >= 0) this.subjectEntry = -2;
      this.generation++;
    }
    this.count = 0;
    this.used = 0;
  }
}
