import { describe, expect, it } from 'vitest';
import {
  seqAdd,
  seqDiff,
  seqGeq,
  seqGt,
  seqInRange,
  seqInWindow,
  seqLeq,
  seqLt,
  seqMax,
  seqMin,
} from '../../../src/tcp/seqnum.js';

describe('seqnum comparisons', () => {
  it('orders plain numbers', () => {
    expect(seqLt(1, 2)).toBe(true);
    expect(seqLt(2, 1)).toBe(false);
    expect(seqLt(5, 5)).toBe(false);
    expect(seqLeq(5, 5)).toBe(true);
    expect(seqGt(2, 1)).toBe(true);
    expect(seqGeq(5, 5)).toBe(true);
    expect(seqGeq(4, 5)).toBe(false);
  });

  it('orders across the 2^32 wrap', () => {
    expect(seqLt(0xfffffff0, 0x10)).toBe(true);
    expect(seqGt(0x10, 0xfffffff0)).toBe(true);
    expect(seqLt(0x10, 0xfffffff0)).toBe(false);
    expect(seqLt(0xffffffff, 0)).toBe(true);
    expect(seqGt(0, 0xffffffff)).toBe(true);
    expect(seqLeq(0xffffffff, 0xffffffff)).toBe(true);
    expect(seqGeq(0, 0xffffffff)).toBe(true);
    // Plain `<` gets this wrong — the reason these helpers exist.
    expect(0xfffffff0 < 0x10).toBe(false);
  });

  it('decides by the sign of the 32-bit difference up to 2^31 apart', () => {
    expect(seqLt(0, 0x7fffffff)).toBe(true);
    // Exactly 2^31 apart the difference is -2^31 both ways: each is "before"
    // the other, as with Linux's before(). TCP never compares such numbers.
    expect(seqLt(0, 0x80000000)).toBe(true);
    expect(seqLt(0x80000000, 0)).toBe(true);
    // 2^31 + 1 ahead is 2^31 - 1 behind.
    expect(seqLt(0x80000001, 0)).toBe(true);
    expect(seqGt(0x7fffffff, 0)).toBe(true);
  });

  it('is antisymmetric and total for random pairs', () => {
    let s = 12345;
    const rnd = (): number => {
      s = (s * 1103515245 + 12345) >>> 0;
      return s;
    };
    for (let i = 0; i < 2000; i++) {
      const a = rnd();
      const b = rnd();
      if (a === b || ((a - b) | 0) === -0x80000000) continue;
      expect(seqLt(a, b)).toBe(seqGt(b, a));
      expect(seqLt(a, b)).not.toBe(seqLt(b, a));
      expect(seqLeq(a, b)).toBe(!seqGt(a, b));
    }
  });
});

describe('seqnum arithmetic', () => {
  it('adds modulo 2^32', () => {
    expect(seqAdd(0xffffffff, 1)).toBe(0);
    expect(seqAdd(0xfffffff0, 0x20)).toBe(0x10);
    expect(seqAdd(5, -10)).toBe(0xfffffffb);
    expect(seqAdd(0, 0)).toBe(0);
  });

  it('takes signed differences', () => {
    expect(seqDiff(0x10, 0xfffffff0)).toBe(0x20);
    expect(seqDiff(0xfffffff0, 0x10)).toBe(-0x20);
    expect(seqDiff(7, 7)).toBe(0);
    expect(seqDiff(seqAdd(123, 1000), 123)).toBe(1000);
  });

  it('picks max and min across the wrap', () => {
    expect(seqMax(0xfffffff0, 0x10)).toBe(0x10);
    expect(seqMin(0xfffffff0, 0x10)).toBe(0xfffffff0);
    expect(seqMax(3, 9)).toBe(9);
    expect(seqMin(3, 9)).toBe(3);
    expect(seqMax(4, 4)).toBe(4);
  });
});

describe('seqInWindow / seqInRange', () => {
  it('is start <= x < start + size', () => {
    expect(seqInWindow(100, 100, 10)).toBe(true);
    expect(seqInWindow(109, 100, 10)).toBe(true);
    expect(seqInWindow(110, 100, 10)).toBe(false);
    expect(seqInWindow(99, 100, 10)).toBe(false);
  });

  it('holds nothing when the window is empty', () => {
    expect(seqInWindow(100, 100, 0)).toBe(false);
    expect(seqInRange(100, 100, 100)).toBe(false);
  });

  it('spans 2^32', () => {
    const start = 0xfffffff0;
    expect(seqInWindow(0xfffffff0, start, 0x40)).toBe(true);
    expect(seqInWindow(0xffffffff, start, 0x40)).toBe(true);
    expect(seqInWindow(0, start, 0x40)).toBe(true);
    expect(seqInWindow(0x2f, start, 0x40)).toBe(true);
    expect(seqInWindow(0x30, start, 0x40)).toBe(false);
    expect(seqInWindow(0xffffffef, start, 0x40)).toBe(false);
    expect(seqInRange(0, 0xfffffff0, 0x30)).toBe(true);
    expect(seqInRange(0x30, 0xfffffff0, 0x30)).toBe(false);
    expect(seqInRange(0xffffffef, 0xfffffff0, 0x30)).toBe(false);
  });

  it('accepts a window of 2^30 (largest scaled window, RFC 7323)', () => {
    const size = 0x40000000;
    expect(seqInWindow(seqAdd(0xc0000000, size - 1), 0xc0000000, size)).toBe(true);
    expect(seqInWindow(seqAdd(0xc0000000, size), 0xc0000000, size)).toBe(false);
  });
});
