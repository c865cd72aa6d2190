// qdisc: the device's transmit queue — pfifo with a limit of txqueuelen
// frames (Linux pfifo_fast's default of 1000). Frames wait here while the TX
// ring is full; past the limit they are dropped and counted, as `tc -s qdisc`
// shows.

import { Fifo } from '../core/fifo.js';
import type { PacketBuffer } from '../core/packetBuffer.js';

export class PfifoQdisc {
  private q = new Fifo<PacketBuffer>();
  readonly stats = { packets: 0, bytes: 0, drops: 0, requeues: 0, backlogMax: 0 };

  constructor(public limit: number) {}

  get length(): number {
    return this.q.length;
  }

  /** Queues `pb`; false when the queue is full: the frame is counted and the caller drops it. */
  enqueue(pb: PacketBuffer): boolean {
    if (this.q.length >= this.limit) {
      this.stats.drops++;
      return false;
    }
    this.q.push(pb);
    if (this.q.length > this.stats.backlogMax) this.stats.backlogMax = this.q.length;
    return true;
  }

  peek(): PacketBuffer | null {
    return this.q.peek() ?? null;
  }

  dequeue(): PacketBuffer | null {
    const pb = this.q.shift();
    if (!pb) return null;
    this.stats.packets++;
    this.stats.bytes += pb.len;
    return pb;
  }

  /** Frees every queued frame (device going down). */
  purge(): void {
    for (let pb = this.q.shift(); pb; pb = this.q.shift()) pb.free();
  }
}
