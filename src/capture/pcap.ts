// pcap: the libpcap classic capture file format
// (https://www.tcpdump.org/manpages/pcap-savefile.5.html,
// draft-ietf-opsawg-pcap). A 24-byte global header, then per frame a
// 16-byte record header and the captured bytes. Written little-endian; the
// magic number tells readers the byte order and the timestamp resolution.
// Classic pcap has no direction and no comments: use pcapng for those.
//
// Pure encoding: the I/O is CaptureWriter's (writer.ts).

import type { CaptureDirection, CaptureEncoder, CaptureStats, TimestampResolution } from './writer.js';

/** LINKTYPE_ETHERNET: the only link type the stack's devices produce. */
export const LINKTYPE_ETHERNET = 1;

/** Magic of a file with microsecond timestamps. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
/** Magic of a file with nanosecond timestamps. */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
/** Size of the global (file) header. */
export const PCAP_HEADER_LEN = 24;
/** Size of a record header. */
export const PCAP_RECORD_HEADER_LEN = 16;

export interface PcapEncoderOptions {
  /** Bytes kept of each frame (validated by the caller, 1..262144). */
  snaplen: number;
  resolution: TimestampResolution;
}

/** Encodes the libpcap classic format, little-endian, link type Ethernet. */
export class PcapEncoder implements CaptureEncoder {
  readonly format = 'pcap' as const;
  readonly comments = false;
  readonly snaplen: number;
  readonly resolution: TimestampResolution;
  private readonly ns: boolean;

  constructor(options: PcapEncoderOptions) {
    this.snaplen = options.snaplen;
    this.resolution = options.resolution;
    this.ns = options.resolution === 'ns';
  }

  /** magic, version 2.4, thiszone 0, sigfigs 0, snaplen, link type. */
  header(): Buffer {
    const b = Buffer.alloc(PCAP_HEADER_LEN);
    b.writeUInt32LE(this.ns ? PCAP_MAGIC_NS : PCAP_MAGIC_US, 0);
    b.writeUInt16LE(PCAP_VERSION_MAJOR, 4);
    b.writeUInt16LE(PCAP_VERSION_MINOR, 6);
    b.writeInt32LE(0, 8); // thiszone: timestamps are UTC
    b.writeUInt32LE(0, 12); // sigfigs
    b.writeUInt32LE(this.snaplen, 16);
    b.writeUInt32LE(LINKTYPE_ETHERNET, 20);
    return b;
  }

  recordSize(caplen: number, _commentBytes: number): number {
    return PCAP_RECORD_HEADER_LEN + caplen;
  }

  /** ts_sec, ts_usec or ts_nsec, incl_len (captured), orig_len, data. */
  writeRecord(
    dst: Buffer,
    pos: number,
    frame: Uint8Array,
    off: number,
    caplen: number,
    origLen: number,
    sec: number,
    nsec: number,
    _dir: CaptureDirection,
    _comment: string | undefined,
    _commentBytes: number,
  ): number {
    dst.writeUInt32LE(sec, pos);
    dst.writeUInt32LE(this.ns ? nsec : Math.floor(nsec / 1000), pos + 4);
    dst.writeUInt32LE(caplen, pos + 8);
    dst.writeUInt32LE(origLen, pos + 12);
    pos += PCAP_RECORD_HEADER_LEN;
    dst.set(frame.subarray(off, off + caplen), pos);
    return pos + caplen;
  }

  trailer(_stats: Readonly<CaptureStats>, _sec: number, _nsec: number): Buffer | null {
    return null;
  }
}
