// memoryLink: two virtual NICs joined by a cable, for deterministic tests on
// a virtual clock. Each end has real RX and TX descriptor rings (the same
// Ring code the TAP uses); the cable plays the hardware: a kick takes the
// frames off one end's TX ring, passes them through that direction's fault
// injector, and writes them into the other end's RX ring — dropping and
// counting them as rx_fifo_errors when that ring is full — then raises the
// other end's interrupt if it is unmasked.
//
//   stack A ── TX ring ─kick─▶ FaultInjector(A→B) ─▶ RX ring ── irq ──▶ stack B
//   stack A ◀─ irq ── RX ring ◀─ FaultInjector(B→A) ◀─kick─ TX ring ── stack B

import type { NetDevice, NetDriver } from './device.js';
import { FaultInjector, type FaultConfig } from './faults.js';
import { Ring } from './ring.js';
import { DEFAULT_RING_SLOTS, slotSizeFor } from './ringLayout.js';
import { RingNic, type DriverFactory, type NicContext } from './ringNic.js';
import type { Runtime } from '../core/runtime.js';

export interface MemoryPortOptions {
  rxSlots?: number;
  txSlots?: number;
}

class MemoryNic extends RingNic {
  wire: FaultInjector | null = null;

  protected hwKick(): void {
    const tx = this.tx;
    let n = 0;
    while (tx.ready > 0) {
      const i = tx.cons;
      const off = tx.slotOffset(i);
      const frame = tx.bytes.slice(off, off + tx.frameLength(i));
      tx.release(1);
      n++;
      if (this.wire) this.wire.send(frame);
    }
    if (n > 0) this.txCompleted();
  }

  /** The wire delivers a frame into this end's RX ring ("DMA"), then maybe interrupts. */
  receiveFromWire(frame: Uint8Array): void {
    if (this.closed) return;
    if (this.rx.produce(frame, 0, frame.length) && this.rx.takeIrq()) this.irq();
    this.syncRxErrors();
  }

  protected hwClose(): void {
    this.wire?.clear();
  }
}

export class MemoryLink {
  private ends: [MemoryNic | null, MemoryNic | null] = [null, null];
  /** The fault injectors of each direction: [A→B, B→A]. */
  readonly wires: [FaultInjector, FaultInjector];

  constructor(rt: Runtime, faults: FaultConfig = {}, faultsBack: FaultConfig = faults) {
    this.wires = [
      new FaultInjector(rt, faults, (f) => this.ends[1]?.receiveFromWire(f)),
      new FaultInjector(rt, faultsBack, (f) => this.ends[0]?.receiveFromWire(f)),
    ];
  }

  /** The driver factory for end 0 or 1, to pass to Stack.addInterface. */
  port(side: 0 | 1, opts: MemoryPortOptions = {}): DriverFactory {
    return (dev: NetDevice, ctx: NicContext): NetDriver => {
      const slotSize = slotSizeFor(dev.mtu);
      const nic = new MemoryNic(
        dev,
        Ring.allocate(opts.rxSlots ?? DEFAULT_RING_SLOTS, slotSize),
        Ring.allocate(opts.txSlots ?? DEFAULT_RING_SLOTS, slotSize),
        ctx,
      );
      nic.wire = this.wires[side];
      this.ends[side] = nic;
      return nic;
    };
  }

  /**
   * Puts a hand-built frame on the wire towards end `side`, past the fault
   * injectors: it lands in that end's RX ring exactly as a frame from the
   * peer would (ring full → rx_fifo_errors; interrupt if unmasked).
   */
  inject(side: 0 | 1, frame: Uint8Array): void {
    this.ends[side]?.receiveFromWire(frame);
  }

  /** Sets the impairments of both directions at once. */
  setFaults(cfg: FaultConfig): void {
    this.wires[0].config = cfg;
    this.wires[1].config = cfg;
  }
}
