// ringNic: the driver half of a NIC with descriptor rings, shared by the TAP
// device and the memory link — what igb or ixgbe do in Linux:
//   irq()       the hard interrupt handler: count it, schedule NAPI, nothing else
//               (the hardware masked the interrupt as it raised it);
//   poll()      NAPI poll: take up to `budget` frames off the RX ring, copy each
//               into a PacketBuffer, give the slot back, pass the buffer up;
//               under budget, complete NAPI and unmask — then look once more,
//               so a frame that landed meanwhile is not stranded;
//   startXmit() copy a frame into the TX ring;
//   kick()      ring the TX doorbell once per batch (hardware-specific).

import type { BufferPool } from '../core/packetBuffer.js';
import type { PacketBuffer } from '../core/packetBuffer.js';
import type { Runtime } from '../core/runtime.js';
import { NapiStruct, type Softnet } from '../core/softnet.js';
import type { NetDevice, NetDriver } from './device.js';
import type { Ring } from './ring.js';

/** What the stack lends a driver. */
export interface NicContext {
  rt: Runtime;
  softnet: Softnet;
  pool: BufferPool;
}

export type DriverFactory = (dev: NetDevice, ctx: NicContext) => NetDriver;

/**
 * Headroom of receive buffers: NET_SKB_PAD (64) plus NET_IP_ALIGN (2), as
 * Linux drivers reserve — the 14-byte Ethernet header then leaves the IP
 * header 4-byte aligned, which the checksum's word-at-a-time path needs.
 */
export const RX_HEADROOM = 64 + 2;

export abstract class RingNic implements NetDriver {
  readonly napi: NapiStruct;
  private kickPending = false;
  private seenFifoErrors = 0;
  private seenLengthErrors = 0;
  protected closed = false;

  constructor(
    readonly dev: NetDevice,
    readonly rx: Ring,
    readonly tx: Ring,
    protected readonly ctx: NicContext,
  ) {
    this.napi = new NapiStruct(dev.name, (budget) => this.poll(budget), ctx.softnet.weight);
  }

  /** Hands the TX ring's new descriptors to the hardware. */
  protected abstract hwKick(): void;
  protected abstract hwClose(): void;

  /** The hard IRQ handler. */
  readonly irq = (): void => {
    if (this.closed) return;
    this.dev.stats.interrupts++;
    this.ctx.softnet.napiSchedule(this.napi);
  };

  poll(budget: number): number {
    const { rx, dev } = this;
    const stats = dev.stats;
    stats.napi_polls++;
    let work = 0;
    while (work < budget && rx.ready > 0) {
      const i = rx.cons;
      const len = rx.frameLength(i);
      const off = rx.slotOffset(i);
      const pb = this.ctx.pool.alloc(len, RX_HEADROOM);
      pb.buf.set(rx.bytes.subarray(off, off + len), pb.head);
      pb.put(len);
      rx.release(1); // the slot is the NIC's again ("refill")
      pb.ifindex = dev.ifindex;
      stats.rx_packets++;
      stats.rx_bytes += len;
      work++;
      this.deliver(pb);
    }
    this.syncRxErrors();
    if (work < budget) {
      this.ctx.softnet.napiComplete(this.napi);
      if (rx.enableIrq()) this.ctx.softnet.napiSchedule(this.napi);
    }
    return work;
  }

  /**
   * Adds what the RX ring's own error counters (the hardware's) counted since
   * the last look to the device's. Adds, not copies: the device counters also
   * count errors found in software (a runt frame in the Ethernet layer), which
   * a copy would wipe.
   */
  protected syncRxErrors(): void {
    const stats = this.dev.stats;
    const fifo = this.rx.fifoErrors;
    const length = this.rx.lengthErrors;
    stats.rx_fifo_errors += (fifo - this.seenFifoErrors) >>> 0;
    stats.rx_length_errors += (length - this.seenLengthErrors) >>> 0;
    this.seenFifoErrors = fifo;
    this.seenLengthErrors = length;
  }

  /** Passes a received frame up; the fault injector of the TAP wraps this. */
  protected deliver(pb: PacketBuffer): void {
    this.dev.receive(pb);
  }

  startXmit(pb: PacketBuffer): boolean {
    if (this.closed) {
      this.dev.stats.tx_dropped++;
      pb.free();
      return true;
    }
    const { tx, dev } = this;
    if (tx.free === 0) {
      dev.stats.tx_busy++;
      this.onTxRingFull();
      this.requestKick();
      return false;
    }
    if (!tx.produce(pb.buf, pb.head, pb.len)) {
      dev.stats.tx_errors++;
      pb.free();
      return true;
    }
    dev.stats.tx_packets++;
    dev.stats.tx_bytes += pb.len;
    pb.free();
    this.requestKick();
    return true;
  }

  /** Rings the doorbell once, after the current batch of work (xmit_more). */
  private requestKick(): void {
    if (this.kickPending) return;
    this.kickPending = true;
    this.ctx.rt.soon(this.kickNow);
  }

  private readonly kickNow = (): void => {
    this.kickPending = false;
    this.kick();
  };

  kick(): void {
    if (this.closed || this.tx.ready === 0) return;
    this.dev.stats.tx_doorbells++;
    this.hwKick();
  }

  /** The TX ring is full and a frame waits in the qdisc: hardware that completes asynchronously arranges to say when room appears. */
  protected onTxRingFull(): void {}

  /** Called by the hardware side when TX descriptors completed: frames waiting in the qdisc may go. */
  protected txCompleted(): void {
    if (this.dev.qdisc.length > 0) qdiscRun(this.dev);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hwClose();
  }
}

/**
 * qdisc_run: moves frames from the device's queue into its driver until the
 * queue is empty or the TX ring is full (the frame then stays queued, and the
 * driver calls again when descriptors complete).
 */
export function qdiscRun(dev: NetDevice): void {
  const driver = dev.driver;
  if (!driver) return;
  for (let pb = dev.qdisc.peek(); pb; pb = dev.qdisc.peek()) {
    if (!driver.startXmit(pb)) {
      dev.qdisc.stats.requeues++;
      return;
    }
    dev.qdisc.dequeue();
  }
}
