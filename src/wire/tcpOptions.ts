// tcpOptions: the TCP options region (RFC 9293 §3.2) parsed into and emitted
// from one reusable object, so that a segment's options cost no allocation.
//
// Options understood (anything else is skipped by its length):
//   kind 0  EOL             1 byte     end of the option list
//   kind 1  NOP             1 byte     padding
//   kind 2  MSS             len 4      RFC 9293 §3.7.1
//   kind 3  Window scale    len 3      RFC 7323 §2
//   kind 4  SACK permitted  len 2      RFC 2018 §2
//   kind 5  SACK            len 2+8n   RFC 2018 §3, n = 1..4
//   kind 8  Timestamps      len 10     RFC 7323 §3
//
// Parsing follows Linux's tcp_parse_options(): EOL ends the list; NOP is
// skipped; every other option needs a length byte >= 2 that stays within the
// region, else parsing stops (here: 'malformed'); a known option with the
// wrong length is skipped as if unknown. Parsing is a single forward scan —
// every step advances by at least one byte — so it always terminates.
//
// Emission follows Linux's tcp_options_write(), every option on 32-bit words:
//   MSS                 02 04 mm mm
//   SACK-perm + TS      04 02 08 0a <tsval> <tsecr>    (SYN with both)
//   TS                  01 01 08 0a <tsval> <tsecr>
//   SACK-perm alone     01 01 04 02
//   Window scale        01 03 03 ss
//   SACK blocks         01 01 05 len <left right>...

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WINDOW = 3;
export const TCPOPT_SACK_PERM = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;

export const TCPOLEN_MSS = 4;
export const TCPOLEN_WINDOW = 3;
export const TCPOLEN_SACK_PERM = 2;
export const TCPOLEN_SACK_BASE = 2;
export const TCPOLEN_SACK_PERBLOCK = 8;
export const TCPOLEN_TIMESTAMP = 10;

/** The options region is at most 40 bytes (data offset 15 × 4 − 20). */
export const MAX_TCP_OPTION_SPACE = 40;
/** Largest shift a window-scale option may carry (RFC 7323 §2.3). */
export const TCP_MAX_WSCALE = 14;
/** SACK blocks one option can carry in a 40-byte region (RFC 2018 §3). */
export const TCP_NUM_SACKS = 4;

export type OptionsError = 'malformed';

/**
 * The options of one segment. Allocate one per parser or sender and reuse it:
 * `parseTcpOptions` clears it before filling it.
 */
export class TcpOptions {
  /** Maximum segment size; 0 = absent. */
  mss = 0;
  /** Window-scale shift count (0..14); -1 = absent. */
  wscale = -1;
  sackPermitted = false;
  /** Timestamps option present: tsVal and tsEcr are meaningful. */
  timestamps = false;
  tsVal = 0;
  tsEcr = 0;
  /** SACK blocks as [left0, right0, left1, right1, ...]; sackCount are valid. */
  readonly sackBlocks = new Uint32Array(2 * TCP_NUM_SACKS);
  /** Number of SACK blocks, 0..4. */
  sackCount = 0;
}

/** Resets `o` to "no options". */
export function clearTcpOptions(o: TcpOptions): void {
  o.mss = 0;
  o.wscale = -1;
  o.sackPermitted = false;
  o.timestamps = false;
  o.tsVal = 0;
  o.tsEcr = 0;
  o.sackCount = 0;
}

/** Copies every field of `src` into `dst`. */
export function copyTcpOptions(dst: TcpOptions, src: TcpOptions): void {
  dst.mss = src.mss;
  dst.wscale = src.wscale;
  dst.sackPermitted = src.sackPermitted;
  dst.timestamps = src.timestamps;
  dst.tsVal = src.tsVal;
  dst.tsEcr = src.tsEcr;
  dst.sackCount = src.sackCount;
  dst.sackBlocks.set(src.sackBlocks);
}

/**
 * Sets SACK block i (0..3) to [left, right) and makes the count at least i+1.
 */
export function setSackBlock(o: TcpOptions, i: number, left: number, right: number): void {
  o.sackBlocks[2 * i] = left;
  o.sackBlocks[2 * i + 1] = right;
  if (o.sackCount <= i) o.sackCount = i + 1;
}

function read32(buf: Uint8Array, i: number): number {
  return ((buf[i]! << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8) | buf[i + 3]!) >>> 0;
}

function write32(buf: Uint8Array, i: number, v: number): void {
  buf[i] = v >>> 24;
  buf[i + 1] = (v >>> 16) & 0xff;
  buf[i + 2] = (v >>> 8) & 0xff;
  buf[i + 3] = v & 0xff;
}

/**
 * Parses the options region buf[off, off+len) into `out` (cleared first).
 *
 * Returns null when the region is well formed (including an early EOL), or
 * 'malformed' when an option has a length below 2, runs past the region, or
 * the region ends after a kind byte with no length. On 'malformed' the
 * options before the bad one stay in `out`, as Linux keeps them; the caller
 * decides whether to use them (Linux still accepts the segment).
 *
 * Known options with a wrong length are ignored (not an error). A repeated
 * option overwrites the earlier one. Never throws, never allocates.
 */
export function parseTcpOptions(
  buf: Uint8Array,
  off: number,
  len: number,
  out: TcpOptions,
): OptionsError | null {
  clearTcpOptions(out);
  let i = off;
  let end = off + len;
  if (end > buf.length) end = buf.length;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TCPOPT_EOL) return null;
    if (kind === TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return 'malformed'; // a kind with no length byte
    const size = buf[i + 1]!;
    if (size < 2 || size > end - i) return 'malformed';
    switch (kind) {
      case TCPOPT_MSS:
        if (size === TCPOLEN_MSS) out.mss = (buf[i + 2]! << 8) | buf[i + 3]!;
        break;
      case TCPOPT_WINDOW:
        if (size === TCPOLEN_WINDOW) {
          const ws = buf[i + 2]!;
          out.wscale = ws > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : ws;
        }
        break;
      case TCPOPT_SACK_PERM:
        if (size === TCPOLEN_SACK_PERM) out.sackPermitted = true;
        break;
      case TCPOPT_SACK: {
        const body = size - TCPOLEN_SACK_BASE;
        const n = body >>> 3;
        if ((body & 7) === 0 && n >= 1 && n <= TCP_NUM_SACKS) {
          const blocks = out.sackBlocks;
          let p = i + 2;
          for (let k = 0; k < 2 * n; k++, p += 4) blocks[k] = read32(buf, p);
          out.sackCount = n;
        }
        break;
      }
      case TCPOPT_TIMESTAMP:
        if (size === TCPOLEN_TIMESTAMP) {
          out.timestamps = true;
          out.tsVal = read32(buf, i + 2);
          out.tsEcr = read32(buf, i + 6);
        }
        break;
      default:
        break; // unknown kind: skipped by its length
    }
    i += size;
  }
  return null;
}

/** SACK blocks that fit after `used` bytes of other options (Linux's rule). */
function sackBlocksThatFit(o: TcpOptions, used: number): number {
  const n = o.sackCount;
  if (n <= 0) return 0;
  const room = MAX_TCP_OPTION_SPACE - used - 4; // NOP NOP kind len
  const fit = room < TCPOLEN_SACK_PERBLOCK ? 0 : Math.floor(room / TCPOLEN_SACK_PERBLOCK);
  const cap = n > TCP_NUM_SACKS ? TCP_NUM_SACKS : n;
  return cap < fit ? cap : fit;
}

/** Bytes of everything but the SACK blocks. */
function fixedOptionsLength(o: TcpOptions): number {
  let size = 0;
  if (o.mss > 0) size += 4;
  if (o.timestamps) size += 12; // SACK-perm shares the TS word when both are set
  else if (o.sackPermitted) size += 4;
  if (o.wscale >= 0) size += 4;
  return size;
}

/**
 * The bytes `emitTcpOptions` will write for `o`: a multiple of 4, at most 40.
 * SACK blocks that do not fit after the other options are left off from the
 * end, as Linux does (at most 3 blocks fit beside timestamps).
 */
export function tcpOptionsLength(o: TcpOptions): number {
  const size = fixedOptionsLength(o);
  const n = sackBlocksThatFit(o, size);
  return n > 0 ? size + 4 + n * TCPOLEN_SACK_PERBLOCK : size;
}

/**
 * Writes `o` at buf[off] in Linux's layout and returns the bytes written
 * (= tcpOptionsLength(o)). Every option present is written: the caller puts
 * MSS, window scale and SACK-permitted only in SYN segments (RFC 9293
 * §3.7.1, RFC 7323 §2.2, RFC 2018 §2). A window scale above 14 is sent as 14;
 * mss is written modulo 2^16.
 */
export function emitTcpOptions(o: TcpOptions, buf: Uint8Array, off: number): number {
  let i = off;
  if (o.mss > 0) {
    buf[i] = TCPOPT_MSS;
    buf[i + 1] = TCPOLEN_MSS;
    buf[i + 2] = (o.mss >>> 8) & 0xff;
    buf[i + 3] = o.mss & 0xff;
    i += 4;
  }
  if (o.timestamps) {
    if (o.sackPermitted) {
      buf[i] = TCPOPT_SACK_PERM;
      buf[i + 1] = TCPOLEN_SACK_PERM;
    } else {
      buf[i] = TCPOPT_NOP;
      buf[i + 1] = TCPOPT_NOP;
    }
    buf[i + 2] = TCPOPT_TIMESTAMP;
    buf[i + 3] = TCPOLEN_TIMESTAMP;
    write32(buf, i + 4, o.tsVal);
    write32(buf, i + 8, o.tsEcr);
    i += 12;
  } else if (o.sackPermitted) {
    buf[i] = TCPOPT_NOP;
    buf[i + 1] = TCPOPT_NOP;
    buf[i + 2] = TCPOPT_SACK_PERM;
    buf[i + 3] = TCPOLEN_SACK_PERM;
    i += 4;
  }
  if (o.wscale >= 0) {
    buf[i] = TCPOPT_NOP;
    buf[i + 1] = TCPOPT_WINDOW;
    buf[i + 2] = TCPOLEN_WINDOW;
    buf[i + 3] = o.wscale > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : o.wscale;
    i += 4;
  }
  const n = sackBlocksThatFit(o, i - off);
  if (n > 0) {
    buf[i] = TCPOPT_NOP;
    buf[i + 1] = TCPOPT_NOP;
    buf[i + 2] = TCPOPT_SACK;
    buf[i + 3] = TCPOLEN_SACK_BASE + n * TCPOLEN_SACK_PERBLOCK;
    i += 4;
    const blocks = o.sackBlocks;
    for (let k = 0; k < 2 * n; k++, i += 4) write32(buf, i, blocks[k]!);
  }
  return i - off;
}
