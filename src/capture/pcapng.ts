// pcapng: the PCAP Next Generation capture file format
// (draft-ietf-opsawg-pcapng). A file here is one section: a Section Header
// Block, one Interface Description Block (Ethernet, the snapshot length,
// if_name, if_tsresol), an Enhanced Packet Block per frame, and on close an
// Interface Statistics Block with the received and dropped counts. Every
// block is padded to 32 bits and repeats its total length at the end.
//
// Each EPB carries epb_flags with the direction (bits 0-1: 1 inbound,
// 2 outbound) and optionally an opt_comment, which is how the stack shows a
// frame's drop reason or netfilter verdict in Wireshark.
//
// Written little-endian (the SHB's byte-order magic says so). Pure
// encoding: the I/O is CaptureWriter's (writer.ts).

import { LINKTYPE_ETHERNET } from './pcap.js';
import type { CaptureDirection, CaptureEncoder, CaptureStats, TimestampResolution } from './writer.js';

export const BLOCK_SHB = 0x0a0d0d0a;
export const BLOCK_IDB = 0x00000001;
export const BLOCK_ISB = 0x00000005;
export const BLOCK_EPB = 0x00000006;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
export const SHB_USERAPPL = 4;
export const IF_NAME = 2;
export const IF_DESCRIPTION = 3;
export const IF_TSRESOL = 9;
export const EPB_FLAGS = 2;
export const ISB_ENDTIME = 3;
export const ISB_IFRECV = 4;
export const ISB_IFDROP = 5;

/** epb_flags direction values (bits 0-1). */
export const EPB_FLAG_INBOUND = 1;
export const EPB_FLAG_OUTBOUND = 2;

/**
 * The most comment bytes kept per frame: an option's length is 16 bits;
 * a multiple of 4 so that a cut before a partial UTF-8 character (never
 * written) keeps the same padded size. Longer comments are cut there.
 */
export const MAX_COMMENT_BYTES = 65532;

/** The fixed part of an EPB: header, fields, epb_flags, opt_endofopt, trailing length. */
const EPB_FIXED = 28 + 8 + 4 + 4;

const pad4 = (n: number): number => (n + 3) & ~3;

export interface PcapngEncoderOptions {
  /** Bytes kept of each frame (validated by the caller, 1..262144). */
  snaplen: number;
  resolution: TimestampResolution;
  /** if_name; default 'ustack0'. */
  ifName?: string | undefined;
  /** if_description; omitted if undefined. */
  ifDescription?: string | undefined;
  /** shb_userappl; default 'ustack'. */
  userAppl?: string | undefined;
}

/** Encodes pcapng: one section, one Ethernet interface (id 0). */
export class PcapngEncoder implements CaptureEncoder {
  readonly format = 'pcapng' as const;
  readonly comments = true;
  readonly snaplen: number;
  readonly resolution: TimestampResolution;
  readonly ifName: string;
  readonly ifDescription: string | undefined;
  readonly userAppl: string;
  /** Timestamp units per second: 1e9 or 1e6. */
  private readonly unit: number;
  /** Output of splitTime (fields, so the hot path allocates nothing). */
  private tsHigh = 0;
  private tsLow = 0;

  constructor(options: PcapngEncoderOptions) {
    this.snaplen = options.snaplen;
    this.resolution = options.resolution;
    this.unit = options.resolution === 'ns' ? 1e9 : 1e6;
    this.ifName = options.ifName ?? 'ustack0';
    this.ifDescription = options.ifDescription;
    this.userAppl = options.userAppl ?? 'ustack';
    for (const [what, s] of [
      ['ifName', this.ifName],
      ['ifDescription', this.ifDescription],
      ['userAppl', this.userAppl],
    ] as const) {
      if (s !== undefined && Buffer.byteLength(s, 'utf8') > MAX_COMMENT_BYTES) {
        throw new RangeError(`capture: ${what} longer than ${MAX_COMMENT_BYTES} bytes`);
      }
    }
  }

  /** The Section Header Block and the Interface Description Block. */
  header(): Buffer {
    const shb = block(BLOCK_SHB, 16, [[SHB_USERAPPL, Buffer.from(this.userAppl, 'utf8')]], (b) => {
      b.writeUInt32LE(BYTE_ORDER_MAGIC, 8);
      b.writeUInt16LE(1, 12); // major version
      b.writeUInt16LE(0, 14); // minor version
      b.writeInt32LE(-1, 16); // section length: unspecified (-1, 64 bits)
      b.writeInt32LE(-1, 20);
    });
    const opts: [number, Buffer][] = [[IF_NAME, Buffer.from(this.ifName, 'utf8')]];
    if (this.ifDescription !== undefined) opts.push([IF_DESCRIPTION, Buffer.from(this.ifDescription, 'utf8')]);
    opts.push([IF_TSRESOL, Buffer.of(this.resolution === 'ns' ? 9 : 6)]);
    const idb = block(BLOCK_IDB, 8, opts, (b) => {
      b.writeUInt16LE(LINKTYPE_ETHERNET, 8);
      b.writeUInt16LE(0, 10); // reserved
      b.writeUInt32LE(this.snaplen, 12);
    });
    return Buffer.concat([shb, idb]);
  }

  recordSize(caplen: number, commentBytes: number): number {
    let size = EPB_FIXED + pad4(caplen);
    if (commentBytes > 0) size += 4 + pad4(commentBytes < MAX_COMMENT_BYTES ? commentBytes : MAX_COMMENT_BYTES);
    return size;
  }

  writeRecord(
    dst: Buffer,
    pos: number,
    frame: Uint8Array,
    off: number,
    caplen: number,
    origLen: number,
    sec: number,
    nsec: number,
    dir: CaptureDirection,
    comment: string | undefined,
    commentBytes: number,
  ): number {
    const size = this.recordSize(caplen, commentBytes);
    const start = pos;
    this.splitTime(sec, nsec);
    dst.writeUInt32LE(BLOCK_EPB, pos);
    dst.writeUInt32LE(size, pos + 4);
    dst.writeUInt32LE(0, pos + 8); // interface id
    dst.writeUInt32LE(this.tsHigh, pos + 12);
    dst.writeUInt32LE(this.tsLow, pos + 16);
    dst.writeUInt32LE(caplen, pos + 20);
    dst.writeUInt32LE(origLen, pos + 24);
    pos += 28;
    dst.set(frame.subarray(off, off + caplen), pos);
    pos += caplen;
    for (const end = start + 28 + pad4(caplen); pos < end; pos++) dst[pos] = 0;
    dst.writeUInt16LE(EPB_FLAGS, pos);
    dst.writeUInt16LE(4, pos + 2);
    dst.writeUInt32LE(dir === 'in' ? EPB_FLAG_INBOUND : EPB_FLAG_OUTBOUND, pos + 4);
    pos += 8;
    if (commentBytes > 0 && comment !== undefined) {
      const room = pad4(commentBytes < MAX_COMMENT_BYTES ? commentBytes : MAX_COMMENT_BYTES);
      const n = dst.write(comment, pos + 4, commentBytes < MAX_COMMENT_BYTES ? commentBytes : MAX_COMMENT_BYTES, 'utf8');
      dst.writeUInt16LE(OPT_COMMENT, pos);
      dst.writeUInt16LE(n, pos + 2);
      pos += 4;
      dst.fill(0, pos + n, pos + room);
      pos += room;
    }
    dst.writeUInt32LE(0, pos); // opt_endofopt
    dst.writeUInt32LE(size, pos + 4);
    return pos + 8;
  }

  /**
   * An Interface Statistics Block for interface 0, stamped with the last
   * frame's time: isb_endtime, isb_ifrecv (frames seen: recorded and
   * dropped), isb_ifdrop (frames dropped by the writer).
   */
  trailer(stats: Readonly<CaptureStats>, sec: number, nsec: number): Buffer {
    const u64 = (n: number): Buffer => {
      const b = Buffer.alloc(8);
      b.writeUInt32LE(n >>> 0, 0);
      b.writeUInt32LE(Math.floor(n / 0x100000000), 4);
      return b;
    };
    this.splitTime(sec, nsec);
    const time = Buffer.alloc(8);
    time.writeUInt32LE(this.tsHigh, 0);
    time.writeUInt32LE(this.tsLow, 4);
    const opts: [number, Buffer][] = [
      [ISB_ENDTIME, time],
      [ISB_IFRECV, u64(stats.frames + stats.dropped)],
      [ISB_IFDROP, u64(stats.dropped)],
    ];
    return block(BLOCK_ISB, 12, opts, (b) => {
      b.writeUInt32LE(0, 8); // interface id
      b.writeUInt32LE(this.tsHigh, 12);
      b.writeUInt32LE(this.tsLow, 16);
    });
  }

  /**
   * sec * unit + frac as 32-bit halves, exactly, in doubles: with
   * sec = sH * 2^16 + sL (sec < 2^32), q = sH * unit and
   * p = sL * unit + frac stay below 2^53, and
   * total = q * 2^16 + p = floor(q / 2^16) * 2^32 + m, m = (q mod 2^16) * 2^16 + p.
   */
  private splitTime(sec: number, nsec: number): void {
    const unit = this.unit;
    const frac = unit === 1e9 ? nsec : Math.floor(nsec / 1000);
    const sH = sec >>> 16;
    const sL = sec & 0xffff;
    const q = sH * unit;
    const p = sL * unit + frac;
    const m = (q % 65536) * 65536 + p;
    this.tsHigh = Math.floor(q / 65536) + Math.floor(m / 0x100000000);
    this.tsLow = m >>> 0;
  }
}

/**
 * A block: type, total length, `fixed` bytes of body (filled by `fill`,
 * which sees the whole block; the body starts at 8), the options each
 * padded to 32 bits, opt_endofopt, and the total length again.
 */
function block(type: number, fixed: number, options: [number, Buffer][], fill: (b: Buffer) => void): Buffer {
  let size = 8 + fixed + 4 + 4;
  for (const [, v] of options) size += 4 + pad4(v.length);
  const b = Buffer.alloc(size);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(size, 4);
  fill(b);
  let pos = 8 + fixed;
  for (const [code, v] of options) {
    b.writeUInt16LE(code, pos);
    b.writeUInt16LE(v.length, pos + 2);
    v.copy(b, pos + 4);
    pos += 4 + pad4(v.length);
  }
  b.writeUInt32LE(0, pos); // opt_endofopt
  b.writeUInt32LE(size, size - 4);
  return b;
}
