// checksum: the Internet checksum (RFC 1071) — the 16-bit one's-complement of
// the one's-complement sum of 16-bit words. Callers accumulate a 32-bit sum
// over any number of regions (pseudo-header, header, payload) and fold once.

/**
 * Adds the bytes buf[off, off+len) as big-endian 16-bit words to `acc`.
 * An odd final byte is padded with zero (RFC 1071 §4.1). The result is an
 * unfolded sum; pass it on to another call or to `foldChecksum`.
 * Words are summed in a plain loop; folding every 64 Ki words keeps the
 * accumulator exact in a double (it never loses bits below 2^53).
 */
export function sumWords(buf: Uint8Array, off: number, len: number, acc = 0): number {
  let sum = acc;
  const end = off + (len & ~1);
  let i = off;
  while (i < end) {
    // Fold every 32 Ki words: the sum stays below 2^31 + a carry.
    const stop = Math.min(end, i + 65536);
    for (; i < stop; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
    // Not `sum >>> 16`: that truncates to 32 bits first and would drop the
    // carries of a caller's accumulator of 2^32 or more.
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
