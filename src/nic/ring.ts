// ring: JS access to a descriptor ring laid out as ringLayout.ts draws it.
// A ring has one producer and one consumer. On a TAP device the native RX
// thread produces into the RX ring ("DMA") and JS consumes; JS produces into
// the TX ring and the native side consumes. The memory link plays the
// hardware's part in JS. The index words are read and written with Atomics,
// because the other side may be another thread.

import {
  CTRL_CONS,
  CTRL_FIFO_ERRORS,
  CTRL_IRQ,
  CTRL_LENGTH_ERRORS,
  CTRL_PROD,
  ringGeometry,
  type RingGeometry,
} from './ringLayout.js';

export class Ring {
  readonly slots: number;
  readonly mask: number;
  readonly slotSize: number;
  /** The whole ring as bytes: slot i starts at slotsOffset + i * slotSize. */
  readonly bytes: Uint8Array;
  readonly ctrl: Int32Array;
  readonly desc: Uint32Array;
  readonly slotsOffset: number;

  constructor(memory: ArrayBuffer, slots: number, slotSize: number) {
    const g: RingGeometry = ringGeometry(slots, slotSize);
    if (memory.byteLength < g.byteLength) throw new RangeError(`ring memory is ${memory.byteLength} bytes, needs ${g.byteLength}`);
    this.slots = slots;
    this.mask = slots - 1;
    this.slotSize = slotSize;
    this.bytes = new Uint8Array(memory, 0, g.byteLength);
    this.ctrl = new Int32Array(memory, 0, g.descOffset / 4);
    this.desc = new Uint32Array(memory, g.descOffset, slots);
    this.slotsOffset = g.slotsOffset;
  }

  /** Allocates zeroed memory for a ring that JS both produces and consumes (memory link). */
  static allocate(slots: number, slotSize: number): Ring {
    const ring = new Ring(new ArrayBuffer(ringGeometry(slots, slotSize).byteLength), slots, slotSize);
    Atomics.store(ring.ctrl, CTRL_IRQ, 1);
    return ring;
  }

  get prod(): number {
    return Atomics.load(this.ctrl, CTRL_PROD) >>> 0;
  }
  get cons(): number {
    return Atomics.load(this.ctrl, CTRL_CONS) >>> 0;
  }
  /** Frames published and not yet consumed. */
  get ready(): number {
    return (this.prod - this.cons) >>> 0;
  }
  get free(): number {
    return this.slots - this.ready;
  }
  /** Byte offset of the slot that holds ring index `i`. */
  slotOffset(i: number): number {
    return this.slotsOffset + (i & this.mask) * this.slotSize;
  }
  get fifoErrors(): number {
    return Atomics.load(this.ctrl, CTRL_FIFO_ERRORS) >>> 0;
  }
  get lengthErrors(): number {
    return Atomics.load(this.ctrl, CTRL_LENGTH_ERRORS) >>> 0;
  }

  // ---- consumer side

  /** Length of the frame at consumer index `i` (i from cons up to prod). */
  frameLength(i: number): number {
    return this.desc[i & this.mask]!;
  }
  /** Gives `n` consumed slots back to the producer. */
  release(n: number): void {
    Atomics.store(this.ctrl, CTRL_CONS, (this.cons + n) | 0);
  }

  // ---- producer side (JS hardware: the memory link; JS driver: the TX ring)

  /**
   * Copies a frame into the next free slot and publishes it. Returns false
   * and counts a fifo error when the ring is full — the NIC had no
   * descriptor — or a length error when the frame does not fit a slot.
   */
  produce(src: Uint8Array, off: number, len: number): boolean {
    if (len > this.slotSize) {
      Atomics.add(this.ctrl, CTRL_LENGTH_ERRORS, 1);
      return false;
    }
    const p = this.prod;
    if (((p - this.cons) >>> 0) >= this.slots) {
      Atomics.add(this.ctrl, CTRL_FIFO_ERRORS, 1);
      return false;
    }
    this.bytes.set(src.subarray(off, off + len), this.slotOffset(p));
    this.desc[p & this.mask] = len;
    Atomics.store(this.ctrl, CTRL_PROD, (p + 1) | 0);
    return true;
  }

  // ---- interrupt mask (RX rings)

  /**
   * The producer's side of the mask: after publishing, raise an interrupt only
   * if interrupts were enabled, masking them in the same atomic step.
   */
  takeIrq(): boolean {
    return Atomics.exchange(this.ctrl, CTRL_IRQ, 0) === 1;
  }

  /**
   * napiComplete's side: unmask, then look again. Frames published between the
   * last poll and the unmask raised no interrupt (it was masked), so if any are
   * there, try to take the interrupt back ourselves: true means "keep polling".
   * If the producer won that race it raised an interrupt, and the IRQ handler
   * will schedule the poll instead.
   */
  enableIrq(): boolean {
    Atomics.store(this.ctrl, CTRL_IRQ, 1);
    if (this.ready === 0) return false;
    return Atomics.compareExchange(this.ctrl, CTRL_IRQ, 1, 0) === 1;
  }

  /**
   * TX side of the same handshake: ask to be interrupted when the consumer
   * completes descriptors. Returns true if room appeared meanwhile and the
   * request was taken back — the caller goes on at once instead of waiting.
   */
  armCompletionIrq(): boolean {
    Atomics.store(this.ctrl, CTRL_IRQ, 1);
    if (this.free === 0) return false;
    return Atomics.compareExchange(this.ctrl, CTRL_IRQ, 1, 0) === 1;
  }

  get irqEnabled(): boolean {
    return Atomics.load(this.ctrl, CTRL_IRQ) === 1;
  }
}
