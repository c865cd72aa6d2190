// tcp: the TCP header (RFC 9293 §3.1) and its checksum over the IPv4
// pseudo-header.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |          Source Port          |       Destination Port        |  0
//   |                        Sequence Number                        |  4
//   |                    Acknowledgment Number                      |  8
//   |  DOff |  Rsrvd|C|E|U|A|P|R|S|F|            Window             | 12
//   |           Checksum            |         Urgent Pointer        | 16
//   |                    Options (DOff*4 - 20 bytes)                | 20
//   |                             Data                              |
//
// The view's len is the whole segment as the IP layer delivered it (total
// length minus IP header): TCP has no length field of its own, so the
// payload is whatever follows the header.

import { foldChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import type { Ipv4Addr } from './address.js';
import { TcpOptions, emitTcpOptions, parseTcpOptions, tcpOptionsLength } from './tcpOptions.js';
import { WireView } from './view.js';

export const TCP_HLEN = 20;
export const TCP_MAX_HLEN = 60;

const IPPROTO_TCP = 6; // the pseudo-header protocol

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

// Field offsets.
const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ = 4;
const ACK = 8;
const DATA_OFF = 12; // high nibble: header length in 32-bit words
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;

export type TcpError = 'truncated' | 'data-offset';


/** SEG.LEN (RFC 9293 §3.4): payload octets plus one each for SYN and FIN. */
export function segmentLength(flags: number, payloadLen: number): number {
  return payloadLen + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
}

/**
 * A view over a TCP segment in buf[off, off+len). `wrap` re-targets it, so
 * one view serves every segment. Call `check()` before trusting any field.
 */
export class TcpSegment extends WireView {
  /**
   * null if the fixed header is present and the data offset is sane:
   * 'truncated' when fewer than 20 bytes are present; 'data-offset' when the
   * header length is below 20 or beyond len. (Linux's tcp_v4_rcv counts a
   * data offset below 5 words in TCP_MIB_INERRS and silently discards the
   * other two cases.)
   */
  check(): TcpError | null {
    if (this.len < TCP_HLEN) return 'truncated';
    const hl = this.dataOffset;
    if (hl < TCP_HLEN || hl > this.len) return 'data-offset';
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

  /** Sequence number, uint32. */
  get seq(): number {
    const b = this.buf;
    const o = this.off + SEQ;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
  set seq(v: number) {
    const b = this.buf;
    const o = this.off + SEQ;
    b[o] = (v >>> 24) & 0xff;
    b[o + 1] = (v >>> 16) & 0xff;
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
  }

  /** Acknowledgment number, uint32 (meaningful only with ACK set). */
  get ack(): number {
    const b = this.buf;
    const o = this.off + ACK;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
  set ack(v: number) {
    const b = this.buf;
    const o = this.off + ACK;
    b[o] = (v >>> 24) & 0xff;
    b[o + 1] = (v >>> 16) & 0xff;
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
  }

  /** Header length in bytes (the data-offset field × 4): 0..60. */
  get dataOffset(): number {
    return (this.buf[this.off + DATA_OFF]! >>> 4) << 2;
  }
  /** Sets the header length in bytes (a multiple of 4, 20..60); clears the reserved bits. */
  set dataOffset(bytes: number) {
    this.buf[this.off + DATA_OFF] = ((bytes >>> 2) & 0xf) << 4;
  }

  /** The 8 flag bits CWR..FIN (byte 13). */
  get flags(): number {
    return this.buf[this.off + FLAGS]!;
  }
  set flags(v: number) {
    this.buf[this.off + FLAGS] = v & 0xff;
  }

  /** The 4 reserved bits of byte 12 (bit 0 is AccECN's AE; we send 0). */
  get reserved(): number {
    return this.buf[this.off + DATA_OFF]! & 0x0f;
  }

  get fin(): boolean {
    return (this.buf[this.off + FLAGS]! & TCP_FIN) !== 0;
  }
  get syn(): boolean {
    return (this.buf[this.off + FLAGS]! & TCP_SYN) !== 0;
  }
  get rst(): boolean {
    return (this.buf[this.off + FLAGS]! & TCP_RST) !== 0;
  }
  get psh(): boolean {
    return (this.buf[this.off + FLAGS]! & TCP_PSH) !== 0;
  }
  get ackFlag(): boolean {
    return (this.buf[this.off + FLAGS]! & TCP_ACK) !== 0;
  }
  get urg(): boolean {
    return (this.buf[this.off + FLAGS]! & TCP_URG) !== 0;
  }

  /** The raw 16-bit window field (unscaled). */
  get window(): number {
    const b = this.buf;
    const o = this.off + WINDOW;
    return (b[o]! << 8) | b[o + 1]!;
  }
  set window(v: number) {
    const b = this.buf;
    const o = this.off + WINDOW;
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

  get urgentPtr(): number {
    const b = this.buf;
    const o = this.off + URGENT;
    return (b[o]! << 8) | b[o + 1]!;
  }
  set urgentPtr(v: number) {
    const b = this.buf;
    const o = this.off + URGENT;
    b[o] = (v >>> 8) & 0xff;
    b[o + 1] = v & 0xff;
  }

  /** Absolute offset of the options region in `buf`. */
  get optionsOffset(): number {
    return this.off + TCP_HLEN;
  }

  /** Bytes of options (dataOffset − 20; checked segments only). */
  get optionsLen(): number {
    return this.dataOffset - TCP_HLEN;
  }

  /** Absolute offset of the payload in `buf`. */
  get payloadOffset(): number {
    return this.off + this.dataOffset;
  }

  /** Payload bytes: everything after the header (checked segments only). */
  get payloadLen(): number {
    return this.len - this.dataOffset;
  }

  /** SEG.LEN: payload plus SYN and FIN (RFC 9293 §3.4). */
  get segmentLength(): number {
    return segmentLength(this.flags, this.len - this.dataOffset);
  }

  /**
   * True if the checksum is correct over the pseudo-header and the first
   * `tcpLen` bytes (header + payload; default: the whole view). TCP has no
   * "no checksum" value: 0 is checked like any other.
   */
  verifyChecksum(src: Ipv4Addr, dst: Ipv4Addr, tcpLen: number = this.len): boolean {
    const sum = sumWords(this.buf, this.off, tcpLen, pseudoHeaderSum(src, dst, IPPROTO_TCP, tcpLen));
    return foldChecksum(sum) === 0;
  }

  /**
   * Computes and writes the checksum over the pseudo-header and the first
   * `tcpLen` bytes (header + payload; default: the whole view). Call after
   * the payload is in place.
   */
  fillChecksum(src: Ipv4Addr, dst: Ipv4Addr, tcpLen: number = this.len): void {
    this.checksum = 0;
    this.checksum = foldChecksum(
      sumWords(this.buf, this.off, tcpLen, pseudoHeaderSum(src, dst, IPPROTO_TCP, tcpLen)),
    );
  }
}

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  /** Copied from the header as is; meaningful only when flags has TCP_ACK. */
  ack: number;
  flags: number;
  /** The raw window field (the receiver scales it). */
  window: number;
  urgentPtr: number;
  payloadLen: number;
  options: TcpOptions;
}

/** A TcpRepr with its own TcpOptions: make one per parser/sender and reuse it. */
export function createTcpRepr(): TcpRepr {
  return {
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    urgentPtr: 0,
    payloadLen: 0,
    options: new TcpOptions(),
  };
}

/**
 * Reads the header and options of a checked segment into `out` (allocated
 * when absent — pass one on the per-packet path) and returns it.
 *
 * Options are parsed as Linux's tcp_parse_options does: a malformed option
 * stops the scan but the segment is still accepted, with the options before
 * it kept. Call `parseTcpOptions` on the region directly to see the error.
 */
export function parseTcp(seg: TcpSegment, out?: TcpRepr): TcpRepr {
  const r = out ?? createTcpRepr();
  r.srcPort = seg.srcPort;
  r.dstPort = seg.dstPort;
  r.seq = seg.seq;
  r.ack = seg.ack;
  r.flags = seg.flags;
  r.window = seg.window;
  r.urgentPtr = seg.urgentPtr;
  const hl = seg.dataOffset;
  r.payloadLen = seg.len - hl;
  parseTcpOptions(seg.buf, seg.off + TCP_HLEN, hl - TCP_HLEN, r.options);
  return r;
}

/** Header bytes `emitTcp` writes for `repr`: 20 + options, a multiple of 4. */
export function tcpHeaderLen(repr: TcpRepr): number {
  return TCP_HLEN + tcpOptionsLength(repr.options);
}

/**
 * Writes the header and options of `repr` at seg.off, with a zero checksum,
 * and returns the header length. Size the headroom first with
 * `tcpHeaderLen(repr)` (or TCP_HLEN + tcpOptionsLength(opts)). The payload
 * goes at seg.off + the returned length; once it is there, wrap the view
 * over header + payload and call `seg.fillChecksum(src, dst)`.
 * repr.payloadLen is not written anywhere (TCP has no length field).
 */
export function emitTcp(repr: TcpRepr, seg: TcpSegment): number {
  const b = seg.buf;
  const o = seg.off;
  const hl = TCP_HLEN + emitTcpOptions(repr.options, b, o + TCP_HLEN);
  seg.srcPort = repr.srcPort;
  seg.dstPort = repr.dstPort;
  seg.seq = repr.seq;
  seg.ack = repr.ack;
  b[o + DATA_OFF] = (hl >>> 2) << 4;
  b[o + FLAGS] = repr.flags & 0xff;
  seg.window = repr.window;
  seg.checksum = 0;
  seg.urgentPtr = repr.urgentPtr;
  return hl;
}
