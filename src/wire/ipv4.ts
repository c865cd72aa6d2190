// ipv4: the Internet Protocol version 4 header (RFC 791).
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version|  IHL  |   DSCP    |ECN|          Total Length         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |         Identification        |Flags|     Fragment Offset     |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Time to Live |    Protocol   |         Header Checksum       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                       Source Address                          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Destination Address                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Options                    |    Padding    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The view's `len` is what the link layer delivered, which may exceed the
// total length (Ethernet pads short frames to 60 bytes); payloadLen is always
// derived from the total length, never from `len`.

import { readIpv4, writeIpv4, type Ipv4Addr } from './address.js';
import { internetChecksum } from './checksum.js';
import { WireView } from './view.js';

/** Header length without options. */
export const IPV4_HEADER_LEN = 20;
/** Largest header: IHL 15. */
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_MIN_MTU = 68; // RFC 791: every module must forward 68 octets
export const IPV4_DEFAULT_TTL = 64; // Linux net.ipv4.ip_default_ttl

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** Flag bits of the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG_RESERVED = 0x8000;
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAG_OFFSET_MASK = 0x1fff;

/** Option types (RFC 791 §3.1 and the IANA registry). */
export const IPOPT_END = 0;
export const IPOPT_NOOP = 1;
export const IPOPT_RR = 7;
export const IPOPT_TIMESTAMP = 68;
export const IPOPT_LSRR = 131;
export const IPOPT_SSRR = 137;
export const IPOPT_RA = 148; // Router Alert (RFC 2113)

// Field offsets.
const VER_IHL = 0;
const DSCP_ECN = 1;
const TOTAL_LEN = 2;
const IDENT = 4;
const FLAGS_FRAG = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;

export type Ipv4Error = 'truncated' | 'version' | 'ihl' | 'total-length' | 'checksum' | 'options';


/**
 * A reusable view over an IPv4 packet in buf[off, off+len). Call `check()`
 * before trusting any field; after it passes, every getter reads inside
 * [off, off+len) and the whole header, options included, is in bounds.
 */
export class Ipv4Packet extends WireView {
  /**
   * null if the packet is well formed: a version 4 header with IHL ≥ 5, all
   * of the header and total length present, valid option framing and (unless
   * `checksum` is false, e.g. for a packet we built ourselves) a correct
   * header checksum.
   */
  check(checksum = true): Ipv4Error | null {
    const err = this.checkHeader();
    if (err !== null) return err;
    const b = this.buf;
    const o = this.off;
    const hlen = (b[o + VER_IHL]! & 0x0f) << 2;
    if (this.len < ((b[o + TOTAL_LEN]! << 8) | b[o + TOTAL_LEN + 1]!)) return 'truncated';
    if (checksum && internetChecksum(b, o, hlen) !== 0) return 'checksum';
    if (hlen > IPV4_HEADER_LEN && !optionsWellFormed(b, o + IPV4_HEADER_LEN, o + hlen)) return 'options';
    return null;
  }

  /**
   * The header-only part of check(): at least 20 bytes, version 4, IHL ≥ 5,
   * the whole header (options included) present, totalLength ≥ headerLen.
   * For the datagram quoted in an ICMP error, which is cut short by design
   * (its header plus 8 bytes, RFC 792): no totalLength-vs-len, checksum or
   * option checks. After it passes, every getter reads inside the header;
   * payloadLen then describes the original datagram, not the bytes present.
   */
  checkHeader(): Ipv4Error | null {
    const len = this.len;
    if (len < IPV4_HEADER_LEN) return 'truncated';
    const b = this.buf;
    const o = this.off;
    const vihl = b[o + VER_IHL]!;
    if (vihl >>> 4 !== 4) return 'version';
    const hlen = (vihl & 0x0f) << 2;
    if (hlen < IPV4_HEADER_LEN) return 'ihl';
    if (len < hlen) return 'truncated';
    if (((b[o + TOTAL_LEN]! << 8) | b[o + TOTAL_LEN + 1]!) < hlen) return 'total-length';
    return null;
  }

  get version(): number {
    return this.buf[this.off + VER_IHL]! >>> 4;
  }
  set version(v: number) {
    const b = this.buf;
    const o = this.off + VER_IHL;
    b[o] = ((v & 0x0f) << 4) | (b[o]! & 0x0f);
  }

  /** The IHL field: header length in 32-bit words. */
  get ihl(): number {
    return this.buf[this.off + VER_IHL]! & 0x0f;
  }
  set ihl(words: number) {
    const b = this.buf;
    const o = this.off + VER_IHL;
    b[o] = (b[o]! & 0xf0) | (words & 0x0f);
  }

  /** Header length in bytes (IHL × 4). */
  get headerLen(): number {
    return (this.buf[this.off + VER_IHL]! & 0x0f) << 2;
  }
  set headerLen(bytes: number) {
    this.ihl = bytes >>> 2;
  }

  get dscp(): number {
    return this.buf[this.off + DSCP_ECN]! >>> 2;
  }
  set dscp(v: number) {
    const b = this.buf;
    const o = this.off + DSCP_ECN;
    b[o] = ((v & 0x3f) << 2) | (b[o]! & 0x03);
  }

  get ecn(): number {
    return this.buf[this.off + DSCP_ECN]! & 0x03;
  }
  set ecn(v: number) {
    const b = this.buf;
    const o = this.off + DSCP_ECN;
    b[o] = (b[o]! & 0xfc) | (v & 0x03);
  }

  get totalLength(): number {
    return this.u16(TOTAL_LEN);
  }
  set totalLength(v: number) {
    this.setU16(TOTAL_LEN, v);
  }

  get ident(): number {
    return this.u16(IDENT);
  }
  set ident(v: number) {
    this.setU16(IDENT, v);
  }

  /** The three flag bits (reserved, DF, MF) as a number 0..7. */
  get flags(): number {
    return this.buf[this.off + FLAGS_FRAG]! >>> 5;
  }
  set flags(v: number) {
    const b = this.buf;
    const o = this.off + FLAGS_FRAG;
    b[o] = ((v & 0x07) << 5) | (b[o]! & 0x1f);
  }

  get dontFrag(): boolean {
    return (this.buf[this.off + FLAGS_FRAG]! & 0x40) !== 0;
  }
  set dontFrag(v: boolean) {
    const b = this.buf;
    const o = this.off + FLAGS_FRAG;
    b[o] = v ? b[o]! | 0x40 : b[o]! & ~0x40;
  }

  get moreFrags(): boolean {
    return (this.buf[this.off + FLAGS_FRAG]! & 0x20) !== 0;
  }
  set moreFrags(v: boolean) {
    const b = this.buf;
    const o = this.off + FLAGS_FRAG;
    b[o] = v ? b[o]! | 0x20 : b[o]! & ~0x20;
  }

  /** Fragment offset in bytes (the field × 8). */
  get fragOffset(): number {
    return (this.u16(FLAGS_FRAG) & IPV4_FRAG_OFFSET_MASK) << 3;
  }
  /** Sets the offset in bytes; it must be a multiple of 8 (low bits are dropped). */
  set fragOffset(bytes: number) {
    const field = (bytes >>> 3) & IPV4_FRAG_OFFSET_MASK;
    this.setU16(FLAGS_FRAG, (this.u16(FLAGS_FRAG) & 0xe000) | field);
  }

  get ttl(): number {
    return this.buf[this.off + TTL]!;
  }
  set ttl(v: number) {
    this.buf[this.off + TTL] = v;
  }

  get protocol(): number {
    return this.buf[this.off + PROTOCOL]!;
  }
  set protocol(v: number) {
    this.buf[this.off + PROTOCOL] = v;
  }

  get checksum(): number {
    return this.u16(CHECKSUM);
  }
  set checksum(v: number) {
    this.setU16(CHECKSUM, v);
  }

  get src(): Ipv4Addr {
    return readIpv4(this.buf, this.off + SRC);
  }
  set src(a: Ipv4Addr) {
    writeIpv4(this.buf, this.off + SRC, a);
  }

  get dst(): Ipv4Addr {
    return readIpv4(this.buf, this.off + DST);
  }
  set dst(a: Ipv4Addr) {
    writeIpv4(this.buf, this.off + DST, a);
  }

  /** Absolute offset of the options in `buf`. */
  get optionsOffset(): number {
    return this.off + IPV4_HEADER_LEN;
  }

  /** Bytes of options (and option padding): headerLen − 20. */
  get optionsLen(): number {
    return this.headerLen - IPV4_HEADER_LEN;
  }

  /** Absolute offset of the payload in `buf`. */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }

  /** totalLength − headerLen: excludes any link-layer padding. */
  get payloadLen(): number {
    return this.totalLength - this.headerLen;
  }

  /** True if the header checksum is correct (header must be in bounds). */
  verifyChecksum(): boolean {
    return internetChecksum(this.buf, this.off, this.headerLen) === 0;
  }

  /** Computes and stores the header checksum over headerLen bytes. */
  fillChecksum(): void {
    const b = this.buf;
    const o = this.off;
    b[o + CHECKSUM] = 0;
    b[o + CHECKSUM + 1] = 0;
    const c = internetChecksum(b, o, (b[o + VER_IHL]! & 0x0f) << 2);
    b[o + CHECKSUM] = c >>> 8;
    b[o + CHECKSUM + 1] = c & 0xff;
  }

  private u16(field: number): number {
    const b = this.buf;
    const o = this.off + field;
    return (b[o]! << 8) | b[o + 1]!;
  }

  private setU16(field: number, v: number): void {
    const b = this.buf;
    const o = this.off + field;
    b[o] = v >>> 8;
    b[o + 1] = v & 0xff;
  }
}

/**
 * Walks the options in b[start, end): END stops the walk (the rest is
 * padding), NOP is one byte, every other option is type-length-value with a
 * length ≥ 2 that stays inside the header. Each step advances at least one
 * byte, so the walk always ends.
 */
function optionsWellFormed(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const type = b[i]!;
    if (type === IPOPT_END) return true;
    if (type === IPOPT_NOOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return false;
    const optLen = b[i + 1]!;
    if (optLen < 2 || optLen > end - i) return false;
    i += optLen;
  }
  return true;
}

export interface Ipv4Repr {
  src: Ipv4Addr;
  dst: Ipv4Addr;
  protocol: number;
  ttl: number;
  /** Bytes after the header: totalLength − headerLen. */
  payloadLen: number;
  ident: number;
  dontFrag: boolean;
  moreFrags: boolean;
  /** In bytes, a multiple of 8. */
  fragOffset: number;
  dscp: number;
  ecn: number;
}

/**
 * Reads a packet that passed check(). Options are skipped (use the view's
 * optionsOffset/optionsLen); payloadLen excludes them. Fills `out` if given.
 */
export function parseIpv4(pkt: Ipv4Packet, out?: Ipv4Repr): Ipv4Repr {
  const r =
    out ??
    {
      src: 0,
      dst: 0,
      protocol: 0,
      ttl: 0,
      payloadLen: 0,
      ident: 0,
      dontFrag: false,
      moreFrags: false,
      fragOffset: 0,
      dscp: 0,
      ecn: 0,
    };
  r.src = pkt.src;
  r.dst = pkt.dst;
  r.protocol = pkt.protocol;
  r.ttl = pkt.ttl;
  r.payloadLen = pkt.payloadLen;
  r.ident = pkt.ident;
  r.dontFrag = pkt.dontFrag;
  r.moreFrags = pkt.moreFrags;
  r.fragOffset = pkt.fragOffset;
  r.dscp = pkt.dscp;
  r.ecn = pkt.ecn;
  return r;
}

/** Header length emitIpv4 writes: no options. */
export function ipv4HeaderLen(_repr?: Ipv4Repr): number {
  return IPV4_HEADER_LEN;
}

/** Writes a 20-byte header (IHL 5, no options) at pkt.off, checksum included. */
export function emitIpv4(repr: Ipv4Repr, pkt: Ipv4Packet): void {
  const b = pkt.buf;
  const o = pkt.off;
  const total = IPV4_HEADER_LEN + repr.payloadLen;
  const ff =
    (repr.dontFrag ? IPV4_FLAG_DF : 0) |
    (repr.moreFrags ? IPV4_FLAG_MF : 0) |
    ((repr.fragOffset >>> 3) & IPV4_FRAG_OFFSET_MASK);
  b[o + VER_IHL] = 0x45;
  b[o + DSCP_ECN] = ((repr.dscp & 0x3f) << 2) | (repr.ecn & 0x03);
  b[o + TOTAL_LEN] = total >>> 8;
  b[o + TOTAL_LEN + 1] = total & 0xff;
  b[o + IDENT] = repr.ident >>> 8;
  b[o + IDENT + 1] = repr.ident & 0xff;
  b[o + FLAGS_FRAG] = ff >>> 8;
  b[o + FLAGS_FRAG + 1] = ff & 0xff;
  b[o + TTL] = repr.ttl;
  b[o + PROTOCOL] = repr.protocol;
  writeIpv4(b, o + SRC, repr.src);
  writeIpv4(b, o + DST, repr.dst);
  pkt.fillChecksum();
}

/** True for a fragment: MF set or a non-zero offset. */
export function isFragment(pkt: Ipv4Packet): boolean {
  const o = pkt.off + FLAGS_FRAG;
  const b = pkt.buf;
  return (((b[o]! << 8) | b[o + 1]!) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) !== 0;
}

// Address classification (RFC 1122 §3.2.1.3, RFC 5735 / RFC 6890).

/** 224.0.0.0/4 (class D). */
export function isMulticastIpv4(a: Ipv4Addr): boolean {
  return a >>> 28 === 0xe;
}

/** 127.0.0.0/8. */
export function isLoopbackIpv4(a: Ipv4Addr): boolean {
  return a >>> 24 === 127;
}

/** 255.255.255.255. */
export function isLimitedBroadcast(a: Ipv4Addr): boolean {
  return a >>> 0 === 0xffffffff;
}

/** 0.0.0.0/8 ("this network"; 0.0.0.0 itself included). */
export function isZeroNet(a: Ipv4Addr): boolean {
  return a >>> 24 === 0;
}

/** 240.0.0.0/4 (class E, reserved) except the limited broadcast address. */
export function isReservedClassE(a: Ipv4Addr): boolean {
  return a >>> 28 === 0xf && a >>> 0 !== 0xffffffff;
}

/** 169.254.0.0/16 (RFC 3927). */
export function isLinkLocalIpv4(a: Ipv4Addr): boolean {
  return a >>> 16 === 0xa9fe;
}
