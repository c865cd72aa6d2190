import { describe, expect, it } from 'vitest';
import { foldChecksum, internetChecksum, pseudoHeaderSum, sumWords } from '../../../src/wire/checksum.js';
import { hex, mulberry32 } from '../../helpers/bytes.js';

/** Straightforward reference: end-around carry after every word. */
function refChecksum(b: Uint8Array, acc = 0): number {
  let s = acc % 0xffff; // 2^16 ≡ 1 (mod 0xffff): reduce the start value exactly
  if (acc !== 0 && s === 0) s = 0xffff;
  for (let i = 0; i < b.length; i += 2) {
    s += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
    if (s > 0xffff) s -= 0xffff;
  }
  return ~s & 0xffff;
}

describe('internet checksum (RFC 1071)', () => {
  it('RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
    const b = hex('0001 f203 f4f5 f6f7');
    expect(foldChecksum(sumWords(b, 0, b.length)) ^ 0xffff).toBe(0xddf2);
    expect(internetChecksum(b, 0, b.length)).toBe(0x220d);
  });

  it('Wikipedia IPv4 header example: checksum b861', () => {
    const h = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
    expect(internetChecksum(h, 0, 20)).toBe(0);
    h[10] = 0;
    h[11] = 0;
    expect(internetChecksum(h, 0, 20)).toBe(0xb861);
  });

  it('pads an odd final byte with zero', () => {
    expect(internetChecksum(hex('01'), 0, 1)).toBe(0xfeff);
    expect(internetChecksum(hex('123456'), 0, 3)).toBe(~(0x1234 + 0x5600) & 0xffff);
    // The odd byte is the high half of a word, whatever the absolute offset.
    const b = hex('aa 1234 56 bb');
    expect(internetChecksum(b, 1, 3)).toBe(~(0x1234 + 0x5600) & 0xffff);
  });

  it('all zeros (and empty) give ffff', () => {
    expect(internetChecksum(new Uint8Array(0), 0, 0)).toBe(0xffff);
    for (const n of [1, 2, 3, 20, 1501]) expect(internetChecksum(new Uint8Array(n), 0, n)).toBe(0xffff);
  });

  it('all 0xff: even lengths give 0, odd lengths 00ff', () => {
    for (const n of [2, 4, 20, 1500, 70000]) expect(internetChecksum(new Uint8Array(n).fill(0xff), 0, n)).toBe(0);
    for (const n of [1, 3, 21, 1501, 70001]) expect(internetChecksum(new Uint8Array(n).fill(0xff), 0, n)).toBe(0x00ff);
  });

  it('a region that includes its own correct checksum sums to 0', () => {
    const b = hex('4500 0054 9210 4000 4001 0000 7f00 0001 7f00 0001');
    const c = internetChecksum(b, 0, 20);
    expect(c).toBe(0xaa96); // the header of a real Linux ping (see icmp.test.ts)
    b[10] = c >>> 8;
    b[11] = c & 0xff;
    expect(internetChecksum(b, 0, 20)).toBe(0);
  });

  it('sumWords over a region split at even offsets equals the whole', () => {
    const rnd = mulberry32(1071);
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + Math.floor(rnd() * 300);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
      const whole = foldChecksum(sumWords(b, 0, n));
      for (let k = 0; k <= n; k += 2) {
        const split = foldChecksum(sumWords(b, k, n - k, sumWords(b, 0, k)));
        expect(split).toBe(whole);
      }
      // Three regions, and an accumulator that starts with a pseudo-header sum.
      const a = 2 * Math.floor((rnd() * n) / 2);
      const c = a + 2 * Math.floor((rnd() * (n - a)) / 2);
      const p = pseudoHeaderSum(0x0a000001, 0x0a000002, 6, n);
      const three = sumWords(b, c, n - c, sumWords(b, a, c - a, sumWords(b, 0, a, p)));
      expect(foldChecksum(three)).toBe(foldChecksum(sumWords(b, 0, n, p)));
    }
  });

  it('matches a word-by-word reference on random data, including > 64 KiB', () => {
    const rnd = mulberry32(42);
    for (const n of [0, 1, 2, 3, 63, 64, 65535, 65536, 65537, 131072, 200001]) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
      expect(internetChecksum(b, 0, n)).toBe(refChecksum(b));
    }
  });

  it('stays exact with a large starting accumulator', () => {
    const b = hex('ffff ffff 1234 56');
    for (const acc of [0xffff, 0x1_0000, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 40 + 3, 2 ** 52]) {
      expect(foldChecksum(sumWords(b, 0, b.length, acc))).toBe(refChecksum(b, acc));
    }
  });

  it('foldChecksum folds any carry count', () => {
    expect(foldChecksum(0)).toBe(0xffff);
    expect(foldChecksum(0xffff)).toBe(0);
    expect(foldChecksum(0x1_0000)).toBe(0xfffe); // 0x10000 → 0x0001
    expect(foldChecksum(0x1_fffe)).toBe(0); // 0x1fffe → 0xffff
    expect(foldChecksum(2 ** 48)).toBe(0xfffe); // 2^48 ≡ 1 (mod 0xffff)
    expect(foldChecksum(2 ** 40)).toBe(0xfeff); // 2^40 ≡ 0x100
  });

  it('pseudoHeaderSum equals summing the pseudo-header bytes', () => {
    const ph = hex('c0a8 0001 c0a8 00c7 0011 0073');
    expect(foldChecksum(pseudoHeaderSum(0xc0a80001, 0xc0a800c7, 17, 0x73))).toBe(internetChecksum(ph, 0, 12));
    const ph2 = hex('ffff ffff ffff ffff 0006 ffff');
    expect(foldChecksum(pseudoHeaderSum(0xffffffff, 0xffffffff, 6, 0xffff))).toBe(internetChecksum(ph2, 0, 12));
  });
});

describe('sumWords fast path (aligned native 32-bit words)', () => {
  function ref(b: Uint8Array, off: number, len: number): number {
    let s = 0;
    for (let i = 0; i + 1 < len; i += 2) s += (b[off + i]! << 8) | b[off + i + 1]!;
    if (len & 1) s += b[off + len - 1]! << 8;
    while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
    return s;
  }

  it('equals the byte loop for every alignment and length', () => {
    const buf = new Uint8Array(70000);
    let x = 12345;
    for (let i = 0; i < buf.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      buf[i] = x >>> 24;
    }
    for (const off of [0, 1, 2, 3, 4, 5, 8, 64]) {
      for (const len of [0, 1, 127, 128, 129, 130, 131, 1460, 1461, 4000, 65535, 65536, 69000 - off]) {
        expect(foldChecksum(sumWords(buf, off, len, 0xdeadbeef))).toBe(foldChecksum(ref(buf, off, len) + 0xdeadbeef));
      }
    }
    // All ones: every accumulator at its largest, across several 16 Ki-word blocks.
    for (const n of [65536, 65540, 300_000]) {
      const ff = new Uint8Array(n).fill(0xff);
      expect(foldChecksum(sumWords(ff, 0, n))).toBe(foldChecksum(ref(ff, 0, n)));
    }
  });
});
