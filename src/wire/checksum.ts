// checksum: the Internet checksum (RFC 1071) — the 16-bit one's-complement of
// the one's-complement sum of 16-bit words. Callers accumulate a 32-bit sum
// over any number of regions (pseudo-header, header, payload) and fold once.

/**
 * Adds the bytes buf[off, off+len) as big-endian 16-bit words to `acc`.
 * An odd final byte is padded with zero (RFC 1071 §4.1). The result is an
 * unfolded sum; pass it on to another call or to `foldChecksum`.
 *
 * Long, 4-byte-aligned regions take the fast path: the one's-complement sum
 * does not depend on byte order (RFC 1071 §2(B)), so native (little-endian)
 * 32-bit words are summed, folded to 16 bits and byte-swapped once.
 */
export function sumWords(buf: Uint8Array, off: number, len: number, acc = 0): number {
  let abs = buf.byteOffset + off;
  if (len >= 128 && (abs & 3) === 2 && LITTLE_ENDIAN) {
    // One big-endian word first, and the rest is aligned.
    acc += (buf[off]! << 8) | buf[off + 1]!;
    off += 2;
    len -= 2;
    abs += 2;
  }
  if (len >= 128 && (abs & 3) === 0 && LITTLE_ENDIAN) {
    const words = len >>> 2;
    let s = sumAligned(new Uint32Array(buf.buffer, abs, words));
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    acc += ((s & 0xff) << 8) | (s >>> 8);
    const done = words << 2;
    return sumBytes(buf, off + done, len - done, acc);
  }
  return sumBytes(buf, off, len, acc);
}

/**
 * The one's-complement sum of native 32-bit words, unfolded. Each word is
 * added as its two 16-bit halves (hi·2^16 + lo ≡ hi + lo mod 2^16 − 1, so the
 * folded sum is the same) into four accumulators that stay small integers —
 * V8 keeps them untagged, a quarter faster than summing whole words as
 * doubles. Folded every 16 Ki words, so none passes 2^30 (a small integer).
 */
function sumAligned(u32: Uint32Array): number {
  const words = u32.length;
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let i = 0;
  while (i < words) {
    const block = Math.min(words, i + 16384);
    const block4 = i + ((block - i) & ~3);
    for (; i < block4; i += 4) {
      const w0 = u32[i]!;
      const w1 = u32[i + 1]!;
      const w2 = u32[i + 2]!;
      const w3 = u32[i + 3]!;
      a += (w0 & 0xffff) + (w1 & 0xffff);
      b += (w0 >>> 16) + (w1 >>> 16);
      c += (w2 & 0xffff) + (w3 & 0xffff);
      d += (w2 >>> 16) + (w3 >>> 16);
    }
    for (; i < block; i++) {
      const w = u32[i]!;
      a += w & 0xffff;
      b += w >>> 16;
    }
    a = (a & 0xffff) + (a >>> 16);
    b = (b & 0xffff) + (b >>> 16);
    c = (c & 0xffff) + (c >>> 16);
    d = (d & 0xffff) + (d >>> 16);
  }
  return a + b + c + d;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The portable loop: big-endian 16-bit words, byte by byte. */
function sumBytes(buf: Uint8Array, off: number, len: number, acc: number): number {
  let sum = acc;
  const end = off + (len & ~1);
  let i = off;
  while (i < end) {
    // Fold every 32 Ki words so the sum stays exact; floor/divide because
    // `acc` may exceed 32 bits (>>> would drop its top).
    const stop = Math.min(end, i + 65536);
    for (; i < stop; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
    sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  if (len & 1) sum += buf[off + len - 1]! << 8;
  return sum;
}

/** Folds a sum to 16 bits and complements it: the value to put in a header. */
export function foldChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The checksum of one region: 0 over data that includes a correct checksum. */
export function internetChecksum(buf: Uint8Array, off: number, len: number): number {
  return foldChecksum(sumWords(buf, off, len));
}

/**
 * The sum of the IPv4 pseudo-header that TCP (RFC 9293 §3.1) and UDP
 * (RFC 768) put in front of their checksums: source, destination, zero,
 * protocol, and the transport length.
 */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}
