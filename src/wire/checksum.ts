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
    const u32 = new Uint32Array(buf.buffer, abs, words);
    let s = 0;
    // A double holds 2^21 32-bit words exactly; fold between blocks of 2^20.
    for (let i = 0; i < words; ) {
      const stop = Math.min(words, i + 1048576);
      for (; i < stop; i++) s += u32[i]!;
      s = (s % 0x10000) + Math.floor(s / 0x10000);
    }
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    acc += ((s & 0xff) << 8) | (s >>> 8);
    const done = words << 2;
    return sumBytes(buf, off + done, len - done, acc);
  }
  return sumBytes(buf, off, len, acc);
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
