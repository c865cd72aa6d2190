// udp: the UDP header (RFC 768) and its checksum over the IPv4 pseudo-header.
//
//   0       2       4       6       8
//   +-------+-------+-------+-------+----------------
//   | src   | dst   | length| cksum | payload ...
//   +-------+-------+-------+-------+----------------
//
// `length` counts header and payload. The view's len is what the IP layer
// delivered (its total length minus its header); bytes past `length` are not
// part of the datagram and are ignored, as Linux's __udp4_lib_rcv trims them.
// A checksum of 0 means the sender computed none (RFC 768; allowed over IPv4
// by RFC 1122 §4.1.3.4); a computed 0 is therefore sent as 0xffff.

import { foldChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import type { Ipv4Addr } from './address.js';
import { WireView } from './view.js';

export const UDP_HLEN = 8;
const IPPROTO_UDP = 17; // the pseudo-header protocol

// Field offsets.
const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

export type UdpError = 'truncated' | 'length';


/**
 * A view over a UDP datagram in buf[off, off+len). `wrap` re-targets it, so
 * one view serves every datagram. Call `check()` before trusting any field.
 */
export class UdpDatagram extends WireView {
  /**
   * null if the header is present and the length field is consistent:
   * 'truncated' when fewer than 8 bytes are present or the length field
   * claims more than len; 'length' when the length field is below 8.
   */
  check(): UdpError | null {
    if (this.len < UDP_HLEN) return 'truncated';
    const l = this.length;
    if (l < UDP_HLEN) return 'length';
    if (l > this.len) return 'truncated';
    return null;
  }

  get srcPort(): number {
    const b = this.buf;
    const o = this.off + SRC_PORT;
    return (b[o]! << 8) | b[o + 1]!;
  }
  set srcPort(v: number) {
    const b = this.buf;
    const o = this.off + SRC_PORT;
    b[o] = (v >>> 8) & 0xff;
    b[o + 1] = v & 0xff;
  }

  get dstPort(): number {
    const b = this.buf;
    const o = this.off + DST_PORT;
    return (b[o]! << 8) | b[o + 1]!;
  }
  set dstPort(v: number) {
    const b = this.buf;
    const o = this.off + DST_PORT;
    b[o] = (v >>> 8) & 0xff;
    b[o + 1] = v & 0xff;
  }

  /** The length field: header plus payload. */
  get length(): number {
    const b = this.buf;
    const o = this.off + LENGTH;
    return (b[o]! << 8) | b[o + 1]!;
  }
  set length(v: number) {
    const b = this.buf;
    const o = this.off + LENGTH;
    b[o] = (v >>> 8) & 0xff;
    b[o + 1] = v & 0xff;
  }

  get checksum(): number {
    const b = this.buf;
    const o = this.off + CHECKSUM;
    return (b[o]! << 8) | b[o + 1]!;
  }
  set checksum(v: number) {
    const b = this.buf;
    const o = this.off + CHECKSUM;
    b[o] = (v >>> 8) & 0xff;
    b[o + 1] = v & 0xff;
  }

  /** Absolute offset of the payload in `buf`. */
  get payloadOffset(): number {
    return this.off + UDP_HLEN;
  }

  /** Payload bytes according to the length field (checked datagrams only). */
  get payloadLen(): number {
    return this.length - UDP_HLEN;
  }

  /**
   * True if the checksum is absent (0) or correct over the pseudo-header and
   * the `length` bytes of the datagram. Call on a checked datagram.
   */
  verifyChecksum(src: Ipv4Addr, dst: Ipv4Addr): boolean {
    if (this.checksum === 0) return true;
    const l = this.length;
    const sum = sumWords(this.buf, this.off, l, pseudoHeaderSum(src, dst, IPPROTO_UDP, l));
    return foldChecksum(sum) === 0;
  }

  /**
   * Computes and writes the checksum over the pseudo-header and the `length`
   * bytes of the datagram (header written, payload in place). A computed 0
   * is written as 0xffff (RFC 768).
   */
  fillChecksum(src: Ipv4Addr, dst: Ipv4Addr): void {
    this.checksum = 0;
    const l = this.length;
    const c = foldChecksum(sumWords(this.buf, this.off, l, pseudoHeaderSum(src, dst, IPPROTO_UDP, l)));
    this.checksum = c === 0 ? 0xffff : c;
  }
}

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  payloadLen: number;
}

/** Reads the header of a checked datagram. Fills `out` if given (no allocation). */
export function parseUdp(dgram: UdpDatagram, out?: UdpRepr): UdpRepr {
  const r = out ?? { srcPort: 0, dstPort: 0, payloadLen: 0 };
  r.srcPort = dgram.srcPort;
  r.dstPort = dgram.dstPort;
  r.payloadLen = dgram.length - UDP_HLEN;
  return r;
}

/**
 * Writes the 8-byte header at dgram.off with the length field set to
 * 8 + payloadLen and a zero checksum. Put the payload at
 * dgram.payloadOffset, then call `dgram.fillChecksum(src, dst)`.
 */
export function emitUdp(repr: UdpRepr, dgram: UdpDatagram): void {
  dgram.srcPort = repr.srcPort;
  dgram.dstPort = repr.dstPort;
  dgram.length = UDP_HLEN + repr.payloadLen;
  dgram.checksum = 0;
}
