// icmp: the Internet Control Message Protocol for IPv4 (RFC 792).
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Type      |     Code      |          Checksum             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                     Rest of header (by type)                  |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     Data ...
//
//   rest of header:  echo            identifier (16) | sequence (16)
//                    frag needed     unused (16)     | next-hop MTU (16)  RFC 1191
//                    param problem   pointer (8)     | unused (24)
//                    redirect        gateway address (32)
//                    timestamp       identifier (16) | sequence (16), then
//                                    originate, receive, transmit times (32 each)
//
// The checksum covers the whole ICMP message, so the view's `len` must be the
// message length (the IPv4 payloadLen), not the frame's.

import { readIpv4, writeIpv4, type Ipv4Addr } from './address.js';
import { internetChecksum } from './checksum.js';
import { WireView } from './view.js';

export const ICMP_HEADER_LEN = 8;

// Types (RFC 792, RFC 950).
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;
export const ICMP_TIMESTAMP = 13;
export const ICMP_TIMESTAMP_REPLY = 14;
export const ICMP_INFO_REQUEST = 15;
export const ICMP_INFO_REPLY = 16;
export const ICMP_ADDRESS = 17;
export const ICMP_ADDRESS_REPLY = 18;

// Destination unreachable codes (RFC 792, RFC 1122, RFC 1812).
export const ICMP_UNREACH_NET = 0;
export const ICMP_UNREACH_HOST = 1;
export const ICMP_UNREACH_PROTOCOL = 2;
export const ICMP_UNREACH_PORT = 3;
export const ICMP_UNREACH_FRAG_NEEDED = 4;
export const ICMP_UNREACH_SRC_ROUTE_FAILED = 5;
export const ICMP_UNREACH_NET_UNKNOWN = 6;
export const ICMP_UNREACH_HOST_UNKNOWN = 7;
export const ICMP_UNREACH_HOST_ISOLATED = 8;
export const ICMP_UNREACH_NET_PROHIBITED = 9;
export const ICMP_UNREACH_HOST_PROHIBITED = 10;
export const ICMP_UNREACH_NET_TOS = 11;
export const ICMP_UNREACH_HOST_TOS = 12;
export const ICMP_UNREACH_ADMIN_PROHIBITED = 13;
export const ICMP_UNREACH_PREC_VIOLATION = 14;
export const ICMP_UNREACH_PREC_CUTOFF = 15;

// Redirect codes.
export const ICMP_REDIRECT_NET = 0;
export const ICMP_REDIRECT_HOST = 1;
export const ICMP_REDIRECT_TOS_NET = 2;
export const ICMP_REDIRECT_TOS_HOST = 3;

// Time exceeded codes.
export const ICMP_TIME_EXCEEDED_TTL = 0;
export const ICMP_TIME_EXCEEDED_REASSEMBLY = 1;

// Parameter problem codes (RFC 792, RFC 1108).
export const ICMP_PARAM_POINTER = 0;
export const ICMP_PARAM_MISSING_OPTION = 1;
export const ICMP_PARAM_BAD_LENGTH = 2;

/**
 * True for the error messages (RFC 1122 §3.2.2: destination unreachable,
 * redirect, source quench, time exceeded, parameter problem). No ICMP error is
 * ever sent about one of these (RFC 1122 §3.2.2, RFC 1812 §4.3.2.7).
 */
export function isIcmpError(type: number): boolean {
  return (
    type === ICMP_DEST_UNREACH ||
    type === ICMP_SOURCE_QUENCH ||
    type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAM_PROBLEM
  );
}

// Field offsets.
const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4;
const ECHO_IDENT = 4;
const ECHO_SEQ = 6;
const NEXT_HOP_MTU = 6;
const POINTER = 4;
const GATEWAY = 4;
// Timestamp and timestamp reply (RFC 792): three 32-bit times after the header.
const TS_ORIGINATE = 8;
const TS_RECEIVE = 12;
const TS_TRANSMIT = 16;

export type IcmpError = 'truncated' | 'checksum';


/** A reusable view over an ICMP message in buf[off, off+len). */
export class IcmpPacket extends WireView {
  /**
   * null if the 8-byte header is present and (unless `checksum` is false) the
   * checksum over all `len` bytes is correct.
   */
  check(checksum = true): IcmpError | null {
    if (this.len < ICMP_HEADER_LEN) return 'truncated';
    if (checksum && internetChecksum(this.buf, this.off, this.len) !== 0) return 'checksum';
    return null;
  }

  get type(): number {
    return this.buf[this.off + TYPE]!;
  }
  set type(v: number) {
    this.buf[this.off + TYPE] = v;
  }

  get code(): number {
    return this.buf[this.off + CODE]!;
  }
  set code(v: number) {
    this.buf[this.off + CODE] = v;
  }

  get checksum(): number {
    return this.u16(CHECKSUM);
  }
  set checksum(v: number) {
    this.setU16(CHECKSUM, v);
  }

  /** The 32-bit rest-of-header word, unsigned. */
  get rest(): number {
    return ((this.u16(REST) << 16) | this.u16(REST + 2)) >>> 0;
  }
  set rest(v: number) {
    this.setU16(REST, v >>> 16);
    this.setU16(REST + 2, v & 0xffff);
  }

  /** Echo and timestamp identifier. */
  get echoIdent(): number {
    return this.u16(ECHO_IDENT);
  }
  set echoIdent(v: number) {
    this.setU16(ECHO_IDENT, v);
  }

  /** Echo and timestamp sequence number. */
  get echoSeq(): number {
    return this.u16(ECHO_SEQ);
  }
  set echoSeq(v: number) {
    this.setU16(ECHO_SEQ, v);
  }

  /** Next-hop MTU of a fragmentation-needed message (RFC 1191); 0 from old routers. */
  get nextHopMtu(): number {
    return this.u16(NEXT_HOP_MTU);
  }
  set nextHopMtu(v: number) {
    this.setU16(NEXT_HOP_MTU, v);
  }

  /** Octet offset of the error in the original datagram (parameter problem). */
  get pointer(): number {
    return this.buf[this.off + POINTER]!;
  }
  set pointer(v: number) {
    this.buf[this.off + POINTER] = v;
  }

  /** Gateway address of a redirect. */
  get gateway(): Ipv4Addr {
    return readIpv4(this.buf, this.off + GATEWAY);
  }
  set gateway(a: Ipv4Addr) {
    writeIpv4(this.buf, this.off + GATEWAY, a);
  }

  /** Timestamp messages: ms since midnight UT when the request left (RFC 792). */
  get originateTime(): number {
    return this.u32(TS_ORIGINATE);
  }
  set originateTime(v: number) {
    this.setU32(TS_ORIGINATE, v);
  }
  /** When the replier received the request. */
  get receiveTime(): number {
    return this.u32(TS_RECEIVE);
  }
  set receiveTime(v: number) {
    this.setU32(TS_RECEIVE, v);
  }
  /** When the replier sent its reply. */
  get transmitTime(): number {
    return this.u32(TS_TRANSMIT);
  }
  set transmitTime(v: number) {
    this.setU32(TS_TRANSMIT, v);
  }

  /** Absolute offset of the data in `buf`. */
  get dataOffset(): number {
    return this.off + ICMP_HEADER_LEN;
  }

  get dataLen(): number {
    return this.len - ICMP_HEADER_LEN;
  }

  /** True if the checksum over the first `len` bytes (default: all) is correct. */
  verifyChecksum(len = this.len): boolean {
    return internetChecksum(this.buf, this.off, len) === 0;
  }

  /** Computes and stores the checksum over the first `len` bytes (default: all). */
  fillChecksum(len = this.len): void {
    const b = this.buf;
    const o = this.off;
    b[o + CHECKSUM] = 0;
    b[o + CHECKSUM + 1] = 0;
    const c = internetChecksum(b, o, len);
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

  private u32(field: number): number {
    return ((this.u16(field) << 16) | this.u16(field + 2)) >>> 0;
  }

  private setU32(field: number, v: number): void {
    this.setU16(field, v >>> 16);
    this.setU16(field + 2, v & 0xffff);
  }
}

// Representations. Data never leaves the buffer: `dataLen` says how much
// follows the header (at view.dataOffset). For errors the data is the
// offending datagram's IP header and at least 8 bytes of its payload.

export interface IcmpEchoRepr {
  kind: 'echo-request' | 'echo-reply';
  /** Always 0 on the wire; kept so a reply can copy what arrived (as Linux does). */
  code: number;
  ident: number;
  seq: number;
  dataLen: number;
}

export interface IcmpDestUnreachableRepr {
  kind: 'dest-unreachable';
  code: number;
  /** Meaningful for ICMP_UNREACH_FRAG_NEEDED; 0 otherwise. */
  nextHopMtu: number;
  dataLen: number;
}

export interface IcmpTimeExceededRepr {
  kind: 'time-exceeded';
  code: number;
  dataLen: number;
}

export interface IcmpParamProblemRepr {
  kind: 'param-problem';
  code: number;
  pointer: number;
  dataLen: number;
}

/** Every other type (source quench, redirect, timestamp, ...): raw fields. */
export interface IcmpOtherRepr {
  kind: 'other';
  type: number;
  code: number;
  rest: number;
  dataLen: number;
}

export type IcmpRepr =
  | IcmpEchoRepr
  | IcmpDestUnreachableRepr
  | IcmpTimeExceededRepr
  | IcmpParamProblemRepr
  | IcmpOtherRepr;

/** Reads a message that passed check(). Allocates the returned repr. */
export function parseIcmp(pkt: IcmpPacket): IcmpRepr {
  const type = pkt.type;
  const code = pkt.code;
  const dataLen = pkt.len - ICMP_HEADER_LEN;
  switch (type) {
    case ICMP_ECHO_REQUEST:
    case ICMP_ECHO_REPLY:
      return {
        kind: type === ICMP_ECHO_REQUEST ? 'echo-request' : 'echo-reply',
        code,
        ident: pkt.echoIdent,
        seq: pkt.echoSeq,
        dataLen,
      };
    case ICMP_DEST_UNREACH:
      return { kind: 'dest-unreachable', code, nextHopMtu: pkt.nextHopMtu, dataLen };
    case ICMP_TIME_EXCEEDED:
      return { kind: 'time-exceeded', code, dataLen };
    case ICMP_PARAM_PROBLEM:
      return { kind: 'param-problem', code, pointer: pkt.pointer, dataLen };
    default:
      return { kind: 'other', type, code, rest: pkt.rest, dataLen };
  }
}

/** The ICMP type number a repr emits as. */
export function icmpReprType(repr: IcmpRepr): number {
  switch (repr.kind) {
    case 'echo-request':
      return ICMP_ECHO_REQUEST;
    case 'echo-reply':
      return ICMP_ECHO_REPLY;
    case 'dest-unreachable':
      return ICMP_DEST_UNREACH;
    case 'time-exceeded':
      return ICMP_TIME_EXCEEDED;
    case 'param-problem':
      return ICMP_PARAM_PROBLEM;
    case 'other':
      return repr.type;
  }
}

/** Header plus data: the message length, i.e. the IPv4 payloadLen. */
export function icmpLen(repr: IcmpRepr): number {
  return ICMP_HEADER_LEN + repr.dataLen;
}

/**
 * Writes the 8-byte header at pkt.off with a ZERO checksum. The data must be
 * at pkt.dataOffset before the checksum is computed: copy it (if it is not
 * already there, as for an in-place echo reply), then call
 * `pkt.fillChecksum(icmpLen(repr))`. Unused header bits are written as 0.
 */
export function emitIcmp(repr: IcmpRepr, pkt: IcmpPacket): void {
  pkt.type = icmpReprType(repr);
  pkt.code = repr.code;
  pkt.checksum = 0;
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      pkt.echoIdent = repr.ident;
      pkt.echoSeq = repr.seq;
      break;
    case 'dest-unreachable':
      pkt.rest = repr.nextHopMtu & 0xffff;
      break;
    case 'time-exceeded':
      pkt.rest = 0;
      break;
    case 'param-problem':
      pkt.rest = (repr.pointer & 0xff) * 0x100_0000;
      break;
    case 'other':
      pkt.rest = repr.rest;
      break;
  }
}
