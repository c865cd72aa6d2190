// The out-of-order queue: overlaps trimmed, in-order drain, a byte limit,
// the 2^32 wrap, and SACK blocks in the order of RFC 2018 §4.
import { describe, expect, it } from 'vitest';
import { OfoQueue } from '../../../src/tcp/reassembly.js';

/** Bytes whose value is their sequence number mod 251, tagged by `tag` in the high bit. */
const data = (seq: number, n: number, tag = 0) => Uint8Array.from({ length: n }, (_, i) => (((seq + i) >>> 0) % 127) | tag);

function drainAll(q: OfoQueue, rcvNxt: number): { n: number; bytes: number[] } {
  const parts: Uint8Array[] = [];
  const n = q.drain(rcvNxt, parts);
  return { n, bytes: parts.flatMap((p) => [...p]) };
}

function blocks(q: OfoQueue, max = 4): Array<[number, number]> {
  const out = new Uint32Array(8);
  const n = q.sackBlocks(out, max);
  return Array.from({ length: n }, (_, i) => [out[2 * i]!, out[2 * i + 1]!]);
}

describe('OfoQueue', () => {
  it('holds segments beyond a hole and drains them in order once it is filled', () => {
    const q = new OfoQueue(1 << 20);
    expect(q.insert(300, data(300, 100))).toBe(true);
    expect(q.insert(200, data(200, 100))).toBe(true);
    expect(q.bytes).toBe(200);
    expect(q.length).toBe(2);
    expect(drainAll(q, 100)).toEqual({ n: 0, bytes: [] }); // 100..200 still missing
    const r = drainAll(q, 200);
    expect(r.n).toBe(200);
    expect(r.bytes).toEqual([...data(200, 200)]);
    expect(q.bytes).toBe(0);
    expect(q.length).toBe(0);
  });

  it('keeps the bytes that came first where a later segment overlaps them', () => {
    const q = new OfoQueue(1 << 20);
    q.insert(100, data(100, 50, 0x80)); // 100..150, tagged
    q.insert(120, data(120, 60)); // 120..180: only 150..180 is new
    expect(q.bytes).toBe(80);
    const r = drainAll(q, 100);
    expect(r.n).toBe(80);
    expect(r.bytes).toEqual([...data(100, 50, 0x80), ...data(150, 30)]);
  });

  it('a segment covering queued data on both sides adds only the pieces around it', () => {
    const q = new OfoQueue(1 << 20);
    q.insert(120, data(120, 10, 0x80));
    q.insert(140, data(140, 10, 0x80));
    q.insert(100, data(100, 60));
    expect(q.bytes).toBe(60);
    const r = drainAll(q, 100);
    expect(r.bytes).toEqual([...data(100, 20), ...data(120, 10, 0x80), ...data(130, 10), ...data(140, 10, 0x80), ...data(150, 10)]);
  });

  it('a pure duplicate changes nothing and is not a drop', () => {
    const q = new OfoQueue(1 << 20);
    q.insert(100, data(100, 50));
    expect(q.insert(110, data(110, 10))).toBe(true);
    expect(q.bytes).toBe(50);
    expect(q.length).toBe(1);
  });

  it('drops what does not fit under its byte limit, whole', () => {
    const q = new OfoQueue(150);
    expect(q.insert(100, data(100, 100))).toBe(true);
    expect(q.insert(300, data(300, 60))).toBe(false);
    expect(q.bytes).toBe(100);
    expect(q.insert(300, data(300, 50))).toBe(true);
    expect(q.bytes).toBe(150);
  });

  it('drains from an RCV.NXT inside a queued segment (part of it already delivered)', () => {
    const q = new OfoQueue(1 << 20);
    q.insert(100, data(100, 100));
    const r = drainAll(q, 150);
    expect(r.n).toBe(50);
    expect(r.bytes).toEqual([...data(150, 50)]);
    q.insert(300, data(300, 10));
    expect(drainAll(q, 400)).toEqual({ n: 0, bytes: [] }); // already past it: discarded
    expect(q.length).toBe(0);
  });

  it('works across the 2^32 wrap', () => {
    const q = new OfoQueue(1 << 20);
    const base = 0xffffffc0;
    q.insert(0x10, data(0x10, 0x20));
    q.insert(base + 0x20, data(base + 0x20, 0x30)); // 0xffffffe0 .. 0x10
    expect(blocks(q)).toEqual([[0xffffffe0, 0x30]]);
    const r = drainAll(q, 0xffffffe0);
    expect(r.n).toBe(0x50);
    expect(r.bytes).toEqual([...data(0xffffffe0, 0x50)]);
  });

  describe('SACK blocks (RFC 2018 §4)', () => {
    it('the block with the most recent segment first, then the others by how recently they changed', () => {
      const q = new OfoQueue(1 << 20);
      q.insert(200, data(200, 10));
      q.insert(400, data(400, 10));
      q.insert(600, data(600, 10));
      expect(blocks(q)).toEqual([
        [600, 610],
        [400, 410],
        [200, 210],
      ]);
      q.insert(210, data(210, 10)); // extends the oldest block
      expect(blocks(q)).toEqual([
        [200, 220],
        [600, 610],
        [400, 410],
      ]);
      q.insert(410, data(410, 190)); // joins 400..410 with 600..610
      expect(blocks(q)).toEqual([
        [400, 610],
        [200, 220],
      ]);
    });

    it('reports no more blocks than asked (3 beside timestamps, 4 without)', () => {
      const q = new OfoQueue(1 << 20);
      for (let i = 0; i < 6; i++) q.insert(1000 + 100 * i, data(1000 + 100 * i, 10));
      expect(blocks(q, 3)).toEqual([
        [1500, 1510],
        [1400, 1410],
        [1300, 1310],
      ]);
      expect(blocks(q, 4)).toHaveLength(4);
    });

    it('a duplicate of a queued segment makes its block the first again', () => {
      const q = new OfoQueue(1 << 20);
      q.insert(200, data(200, 10));
      q.insert(400, data(400, 10));
      q.insert(200, data(200, 10));
      expect(blocks(q)[0]).toEqual([200, 210]);
    });

    it('clear forgets everything', () => {
      const q = new OfoQueue(1 << 20);
      q.insert(200, data(200, 10));
      q.clear();
      expect(q.bytes).toBe(0);
      expect(blocks(q)).toEqual([]);
    });
  });
});
