// seqnum: TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4), after
// gVisor's pkg/tcpip/seqnum and Linux's before()/after().
//
// A sequence number is a uint32 held in a JS number. Two numbers are compared
// by the sign of their 32-bit difference, so the comparison is correct across
// the wrap as long as they are less than 2^31 apart — which TCP guarantees for
// any two numbers it compares (windows are below 2^30, RFC 7323 §2.3).
//
// Never compare sequence numbers with `<` or `>`: 0xfffffff0 is *before* 0x10.

/** a < b (mod 2^32). */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** a <= b (mod 2^32). */
export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** a > b (mod 2^32). */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** a >= b (mod 2^32). */
export function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** a + n as a uint32 (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance a - b, in [-2^31, 2^31). */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * start <= x < start + size (mod 2^32): x lies in the window of `size` bytes
 * that begins at `start`. An empty window (size 0) holds nothing; size must
 * be in [0, 2^32).
 */
export function seqInWindow(x: number, start: number, size: number): boolean {
  return ((x - start) >>> 0) < size;
}

/** start <= x < end (mod 2^32): x lies in [start, end). */
export function seqInRange(x: number, start: number, end: number): boolean {
  return ((x - start) >>> 0) < ((end - start) >>> 0);
}

/** The later of a and b (mod 2^32). */
export function seqMax(a: number, b: number): number {
  return ((a - b) | 0) < 0 ? b : a;
}

/** The earlier of a and b (mod 2^32). */
export function seqMin(a: number, b: number): number {
  return ((a - b) | 0) < 0 ? a : b;
}
