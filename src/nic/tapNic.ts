// tapNic: the driver of a real Linux TAP device. The native addon plays the
// NIC hardware (its RX thread "DMAs" frames into the RX ring and raises the
// interrupt; txKick writes the TX ring out); everything else is the shared
// RingNic driver. Optional fault injection on both directions stands in for
// netem, which this machine's kernel lacks: frames the host sends are
// impaired after the RX ring, frames the stack sends before the TX ring.

import type { PacketBuffer } from '../core/packetBuffer.js';
import type { NetDevice, NetDriver } from './device.js';
import { FaultInjector, type FaultConfig } from './faults.js';
import { Ring } from './ring.js';
import { DEFAULT_RING_SLOTS, isValidRingSize, slotSizeFor } from './ringLayout.js';
import { RingNic, RX_HEADROOM, type DriverFactory, type NicContext } from './ringNic.js';
import { open as openTap, type TapDevice } from './tapAddon.js';

export interface TapNicOptions {
  /** Interface name on the host side. */
  name: string;
  /** Network namespace to create the TAP in (a name under /var/run/netns, or a path). */
  netns?: string;
  rxSlots?: number;
  txSlots?: number;
  /** Impairments of frames from the host (rx) and to the host (tx). */
  rxFaults?: FaultConfig;
  txFaults?: FaultConfig;
}

class TapNic extends RingNic {
  private readonly rxWire: FaultInjector | null;
  private readonly txWire: FaultInjector | null;
  /** True while startXmit hands a frame to the impaired wire (see startXmit). */
  private inXmit = false;

  constructor(
    dev: NetDevice,
    readonly tap: TapDevice,
    rx: Ring,
    tx: Ring,
    ctx: NicContext,
    o: TapNicOptions,
  ) {
    super(dev, rx, tx, ctx);
    this.rxWire = o.rxFaults ? new FaultInjector(ctx.rt, o.rxFaults, (f) => this.receiveImpaired(f)) : null;
    this.txWire = o.txFaults ? new FaultInjector(ctx.rt, o.txFaults, (f) => this.transmitImpaired(f)) : null;
  }

  get faultStats() {
    return { rx: this.rxWire?.stats ?? null, tx: this.txWire?.stats ?? null };
  }

  protected override deliver(pb: PacketBuffer): void {
    if (!this.rxWire?.active) {
      this.dev.receive(pb);
      return;
    }
    const frame = pb.buf.slice(pb.head, pb.head + pb.len);
    pb.free();
    this.rxWire.send(frame);
  }

  private receiveImpaired(frame: Uint8Array): void {
    if (this.closed) return;
    const pb = this.ctx.pool.alloc(frame.length, RX_HEADROOM);
    pb.buf.set(frame, pb.put(frame.length));
    pb.ifindex = this.dev.ifindex;
    this.dev.receive(pb);
  }

  override startXmit(pb: PacketBuffer): boolean {
    if (!this.txWire?.active || this.closed) return super.startXmit(pb);
    const frame = pb.buf.slice(pb.head, pb.head + pb.len);
    this.dev.stats.tx_packets++;
    this.dev.stats.tx_bytes += pb.len;
    pb.free();
    // The wire may deliver at once (no delay drawn): transmitImpaired then kicks the
    // TX ring, and txCompleted must not re-enter the qdiscRun that called us — it
    // would hand this same, already freed, frame to startXmit again.
    this.inXmit = true;
    try {
      this.txWire.send(frame);
    } finally {
      this.inXmit = false;
    }
    return true;
  }

  /** The qdiscRun that called startXmit goes on by itself: never re-enter it from there. */
  protected override txCompleted(): void {
    if (!this.inXmit) super.txCompleted();
  }

  private transmitImpaired(frame: Uint8Array): void {
    if (this.closed) return;
    if (!this.tx.produce(frame, 0, frame.length)) this.dev.stats.tx_dropped++;
    this.kick();
  }

  /** The doorbell: the native TX thread writes the frames and completes the descriptors. */
  protected hwKick(): void {
    try {
      this.tap.txKick();
    } catch {
      this.dev.stats.tx_errors++;
    }
  }

  /** The TX ring is full: ask the TX thread for a completion interrupt. */
  protected override onTxRingFull(): void {
    if (this.tx.armCompletionIrq()) this.ctx.rt.soon(() => this.txCompleted());
  }

  /** The TX completion interrupt: descriptors came back, the qdisc may go on. */
  readonly txIrq = (): void => {
    if (this.closed) return;
    this.dev.stats.tx_completions++;
    this.txCompleted();
  };

  protected hwClose(): void {
    this.rxWire?.clear();
    this.txWire?.clear();
    this.tap.close();
  }
}

function ringSize(n: number | undefined, what: string): number {
  const v = n ?? DEFAULT_RING_SLOTS;
  if (!isValidRingSize(v)) throw Object.assign(new Error(`${what} ring size must be a power of two from 8 to 4096, got ${v}`), { code: 'EINVAL' });
  return v;
}

/**
 * A driver factory that opens the TAP when the device is attached. The host
 * side's MAC is reported through `onOpen` (the stack's own MAC is its own).
 */
export function tapDriver(o: TapNicOptions, onOpen?: (tap: TapDevice, nic: NetDriver) => void): DriverFactory {
  const rxSlots = ringSize(o.rxSlots, 'RX');
  const txSlots = ringSize(o.txSlots, 'TX');
  return (dev, ctx) => {
    const slotSize = slotSizeFor(dev.mtu);
    let nic: TapNic | null = null;
    const tap = openTap({
      name: o.name,
      netns: o.netns,
      mtu: dev.mtu,
      rxSlots,
      txSlots,
      slotSize,
      onIrq: (kind) => (kind === 1 ? nic?.txIrq() : nic?.irq()),
    });
    nic = new TapNic(dev, tap, new Ring(tap.rx, rxSlots, slotSize), new Ring(tap.tx, txSlots, slotSize), ctx, o);
    onOpen?.(tap, nic);
    return nic;
  };
}

export type { TapNic };
