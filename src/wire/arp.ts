// arp: the Address Resolution Protocol packet (RFC 826), for Ethernet
// hardware addresses and IPv4 protocol addresses only — the one combination
// this stack speaks. Anything else is rejected by check().
//
//   0       2       4   5   6       8             14      18            24      28
//   +-------+-------+---+---+-------+-------------+-------+-------------+-------+
//   | htype | ptype |hln|pln|  op   | sender MAC  | s. IP | target MAC  | t. IP |
//   +-------+-------+---+---+-------+-------------+-------+-------------+-------+
//
// On Ethernet an ARP packet is padded to the minimum frame: bytes after the
// first 28 are ignored.

import { readIpv4, readMac, writeIpv4, writeMac, type Ipv4Addr, type MacAddr } from './address.js';
import { WireView } from './view.js';

export const ARP_HTYPE_ETHERNET = 1;
export const ARP_PTYPE_IPV4 = 0x0800;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;
/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;

export type ArpOperation = typeof ARP_OP_REQUEST | typeof ARP_OP_REPLY;

// Field offsets.
const HTYPE = 0;
const PTYPE = 2;
const HLEN = 4;
const PLEN = 5;
const OPER = 6;
const SHA = 8;
const SPA = 14;
const THA = 18;
const TPA = 24;

export type ArpError =
  | 'truncated'
  | 'unsupported-hardware'
  | 'unsupported-protocol'
  | 'bad-lengths'
  | 'bad-operation';


/** A reusable view over an ARP packet in buf[off, off+len). */
export class ArpPacket extends WireView {
  /** null if this is a complete Ethernet/IPv4 request or reply. */
  check(): ArpError | null {
    if (this.len < ARP_LEN) return 'truncated';
    if (this.htype !== ARP_HTYPE_ETHERNET) return 'unsupported-hardware';
    if (this.ptype !== ARP_PTYPE_IPV4) return 'unsupported-protocol';
    if (this.hlen !== 6 || this.plen !== 4) return 'bad-lengths';
    const op = this.op;
    if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return 'bad-operation';
    return null;
  }

  get htype(): number {
    return this.u16(HTYPE);
  }
  set htype(v: number) {
    this.setU16(HTYPE, v);
  }

  get ptype(): number {
    return this.u16(PTYPE);
  }
  set ptype(v: number) {
    this.setU16(PTYPE, v);
  }

  get hlen(): number {
    return this.buf[this.off + HLEN]!;
  }
  set hlen(v: number) {
    this.buf[this.off + HLEN] = v;
  }

  get plen(): number {
    return this.buf[this.off + PLEN]!;
  }
  set plen(v: number) {
    this.buf[this.off + PLEN] = v;
  }

  get op(): number {
    return this.u16(OPER);
  }
  set op(v: number) {
    this.setU16(OPER, v);
  }

  get senderMac(): MacAddr {
    return readMac(this.buf, this.off + SHA);
  }
  set senderMac(m: MacAddr) {
    writeMac(this.buf, this.off + SHA, m);
  }

  get senderIp(): Ipv4Addr {
    return readIpv4(this.buf, this.off + SPA);
  }
  set senderIp(a: Ipv4Addr) {
    writeIpv4(this.buf, this.off + SPA, a);
  }

  get targetMac(): MacAddr {
    return readMac(this.buf, this.off + THA);
  }
  set targetMac(m: MacAddr) {
    writeMac(this.buf, this.off + THA, m);
  }

  get targetIp(): Ipv4Addr {
    return readIpv4(this.buf, this.off + TPA);
  }
  set targetIp(a: Ipv4Addr) {
    writeIpv4(this.buf, this.off + TPA, a);
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

export interface ArpRepr {
  op: ArpOperation;
  senderMac: MacAddr;
  senderIp: Ipv4Addr;
  targetMac: MacAddr;
  targetIp: Ipv4Addr;
}

/** Reads a packet that passed check(). Fills `out` if given (no allocation). */
export function parseArp(pkt: ArpPacket, out?: ArpRepr): ArpRepr {
  const r = out ?? { op: ARP_OP_REQUEST, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0 };
  r.op = pkt.op as ArpOperation;
  r.senderMac = pkt.senderMac;
  r.senderIp = pkt.senderIp;
  r.targetMac = pkt.targetMac;
  r.targetIp = pkt.targetIp;
  return r;
}

/** Writes all 28 bytes at pkt.off. */
export function emitArp(repr: ArpRepr, pkt: ArpPacket): void {
  pkt.htype = ARP_HTYPE_ETHERNET;
  pkt.ptype = ARP_PTYPE_IPV4;
  pkt.hlen = 6;
  pkt.plen = 4;
  pkt.op = repr.op;
  pkt.senderMac = repr.senderMac;
  pkt.senderIp = repr.senderIp;
  pkt.targetMac = repr.targetMac;
  pkt.targetIp = repr.targetIp;
}

export function arpLen(_repr?: ArpRepr): number {
  return ARP_LEN;
}
