// ethernet: the Ethernet II frame header (IEEE 802.3 / DIX), without FCS —
// a TAP device hands us frames with the FCS already stripped.
//
//   0                   6                   12      14
//   +-------------------+-------------------+-------+----------------
//   | destination MAC   | source MAC        | type  | payload ...
//   +-------------------+-------------------+-------+----------------
//
// A frame shorter than ETH_ZLEN (60) on the wire has been padded by the sender;
// the padding belongs to the frame, not to the payload, and upper layers trim
// it with their own length fields (IPv4 total length, the fixed ARP size).

import { readMac, writeMac, type MacAddr } from './address.js';
import { WireView } from './view.js';

export const ETH_ALEN = 6;
/** Header length: two MACs and the ethertype. */
export const ETH_HLEN = 14;
/** Minimum frame length without FCS: shorter frames are padded to this. */
export const ETH_ZLEN = 60;
/** Maximum payload (the standard MTU). */
export const ETH_DATA_LEN = 1500;
/** Maximum frame length without FCS and VLAN tag. */
export const ETH_FRAME_LEN = 1514;
export const ETH_FCS_LEN = 4;

/** Values below this in the type field are 802.3 lengths, not ethertypes. */
export const ETHERTYPE_MIN = 0x0600;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;

// Field offsets.
const DST = 0;
const SRC = 6;
const ETHERTYPE = 12;

export type EthernetError = 'truncated';


/**
 * A view over an Ethernet frame in buf[off, off+len). `wrap` re-targets it, so
 * one view serves every frame. Call `check()` before trusting any field.
 */
export class EthernetFrame extends WireView {
  /** null if the header is present; the fields are then safe to read. */
  check(): EthernetError | null {
    return this.len < ETH_HLEN ? 'truncated' : null;
  }

  get dst(): MacAddr {
    return readMac(this.buf, this.off + DST);
  }
  set dst(m: MacAddr) {
    writeMac(this.buf, this.off + DST, m);
  }

  get src(): MacAddr {
    return readMac(this.buf, this.off + SRC);
  }
  set src(m: MacAddr) {
    writeMac(this.buf, this.off + SRC, m);
  }

  get ethertype(): number {
    const b = this.buf;
    const o = this.off + ETHERTYPE;
    return (b[o]! << 8) | b[o + 1]!;
  }
  set ethertype(t: number) {
    const b = this.buf;
    const o = this.off + ETHERTYPE;
    b[o] = t >>> 8;
    b[o + 1] = t & 0xff;
  }

  /** Absolute offset of the payload in `buf`. */
  get payloadOffset(): number {
    return this.off + ETH_HLEN;
  }

  /** Bytes after the header, including any padding. */
  get payloadLen(): number {
    return this.len - ETH_HLEN;
  }
}

export interface EthernetRepr {
  dst: MacAddr;
  src: MacAddr;
  ethertype: number;
}

/** Reads the header of a checked frame. Fills `out` if given (no allocation). */
export function parseEthernet(frame: EthernetFrame, out?: EthernetRepr): EthernetRepr {
  const r = out ?? { dst: 0, src: 0, ethertype: 0 };
  r.dst = frame.dst;
  r.src = frame.src;
  r.ethertype = frame.ethertype;
  return r;
}

/** Writes the 14-byte header at frame.off. */
export function emitEthernet(repr: EthernetRepr, frame: EthernetFrame): void {
  frame.dst = repr.dst;
  frame.src = repr.src;
  frame.ethertype = repr.ethertype;
}

export function ethernetHeaderLen(_repr?: EthernetRepr): number {
  return ETH_HLEN;
}
