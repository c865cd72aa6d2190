// bytes: helpers the codec tests share — hex literals, a seeded PRNG for
// fuzzing (mulberry32), and a bounds-checking view that throws on any read
// outside the window a parser was given.

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** mulberry32: floats in [0, 1) from a 32-bit seed; the same sequence every run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Uint8Array whose index reads and writes throw outside [lo, hi). */
export function bounded(buf: Uint8Array, lo: number, hi: number): Uint8Array {
  const inRange = (p: string | symbol): number | null => {
    if (typeof p !== 'string') return null;
    const n = Number(p);
    return Number.isInteger(n) && String(n) === p ? n : null;
  };
  return new Proxy(buf, {
    get(t, p) {
      const n = inRange(p);
      if (n !== null) {
        if (n < lo || n >= hi) throw new RangeError(`read of byte ${n} outside [${lo}, ${hi})`);
        return t[n];
      }
      const v: unknown = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
    set(t, p, v) {
      const n = inRange(p);
      if (n !== null && (n < lo || n >= hi)) throw new RangeError(`write of byte ${n} outside [${lo}, ${hi})`);
      return Reflect.set(t, p, v, t);
    },
  });
}
