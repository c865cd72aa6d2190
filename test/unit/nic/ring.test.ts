import { describe, expect, it } from 'vitest';
import { Ring } from '../../../src/nic/ring.js';
import { CTRL_CONS, CTRL_PROD, isValidRingSize, ringGeometry, slotSizeFor } from '../../../src/nic/ringLayout.js';

function frame(n: number, len = 60): Uint8Array {
  return new Uint8Array(len).fill(n & 0xff);
}

/** Takes every ready frame off the ring, as the driver's poll does. */
function drain(r: Ring): number[] {
  const out: number[] = [];
  while (r.ready > 0) {
    const i = r.cons;
    out.push(r.bytes[r.slotOffset(i)]!);
    expect(r.frameLength(i)).toBeGreaterThan(0);
    r.release(1);
  }
  return out;
}

describe('descriptor ring', () => {
  it('lays out control, descriptors and 64-byte aligned slots', () => {
    const g = ringGeometry(8, slotSizeFor(1500));
    expect(g.slotSize).toBe(1536);
    expect(g.slotsOffset % 64).toBe(0);
    expect(g.byteLength).toBe(g.slotsOffset + 8 * 1536);
    expect([8, 256, 4096].every(isValidRingSize)).toBe(true);
    expect([0, 4, 7, 100, 8192].some(isValidRingSize)).toBe(false);
  });

  it('hands frames from producer to consumer in order, with their lengths', () => {
    const r = Ring.allocate(8, 128);
    for (let i = 1; i <= 5; i++) expect(r.produce(frame(i, 60 + i), 0, 60 + i)).toBe(true);
    expect(r.ready).toBe(5);
    expect(r.free).toBe(3);
    expect(r.frameLength(r.cons)).toBe(61);
    expect(drain(r)).toEqual([1, 2, 3, 4, 5]);
    expect(r.free).toBe(8);
  });

  it('when full drops the frame and counts a fifo error; too long counts a length error', () => {
    const r = Ring.allocate(8, 128);
    for (let i = 0; i < 8; i++) expect(r.produce(frame(i), 0, 60)).toBe(true);
    expect(r.produce(frame(99), 0, 60)).toBe(false);
    expect(r.produce(frame(99), 0, 60)).toBe(false);
    expect(r.fifoErrors).toBe(2);
    expect(r.produce(frame(7, 129), 0, 129)).toBe(false);
    expect(r.lengthErrors).toBe(1);
    expect(drain(r)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]); // the dropped frames overwrote nothing
  });

  it('keeps working when the free-running indices wrap past 2^32', () => {
    const r = Ring.allocate(8, 128);
    Atomics.store(r.ctrl, CTRL_PROD, -3); // 0xfffffffd
    Atomics.store(r.ctrl, CTRL_CONS, -3);
    const seen: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 6; i++) expect(r.produce(frame(round * 10 + i), 0, 60)).toBe(true);
      expect(r.ready).toBe(6);
      seen.push(...drain(r));
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25]);
    expect(r.prod).toBe(15); // -3 + 18
  });
});

describe('RX interrupt mask', () => {
  it('the producer takes the interrupt once; it stays masked until re-enabled', () => {
    const r = Ring.allocate(8, 128);
    expect(r.irqEnabled).toBe(true);
    expect(r.takeIrq()).toBe(true);
    expect(r.takeIrq()).toBe(false);
    expect(r.irqEnabled).toBe(false);
  });

  it('enableIrq with nothing pending unmasks and says "done"', () => {
    const r = Ring.allocate(8, 128);
    r.takeIrq();
    expect(r.enableIrq()).toBe(false);
    expect(r.irqEnabled).toBe(true);
  });

  it('enableIrq with a frame that landed while masked keeps the interrupt and says "poll again"', () => {
    const r = Ring.allocate(8, 128);
    r.takeIrq(); // the first frame's interrupt; the poll is running
    r.produce(frame(1), 0, 60);
    expect(r.takeIrq()).toBe(false); // masked: no second interrupt
    expect(r.enableIrq()).toBe(true); // the frame is found at unmask time
    expect(r.irqEnabled).toBe(false); // and the poller owns it, still masked
  });
});
