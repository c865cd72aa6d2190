// Hand-built frames for injection tests, made with the wire codecs, and a
// sniffer that decodes what a stack sends (a packet tap, like tcpdump).
import type { Stack } from '../../src/stack.js';
import type { MacAddr, Ipv4Addr } from '../../src/wire/address.js';
import { ARP_LEN, ArpPacket, emitArp, parseArp, type ArpOperation, type ArpRepr } from '../../src/wire/arp.js';
import { emitEthernet, ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetFrame } from '../../src/wire/ethernet.js';
import { ICMP_HEADER_LEN, IcmpPacket } from '../../src/wire/icmp.js';
import { emitIpv4, IPV4_HEADER_LEN, Ipv4Packet, IPPROTO_ICMP } from '../../src/wire/ipv4.js';

export function ethFrame(dst: MacAddr, src: MacAddr, ethertype: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(ETH_HLEN + payload.length);
  emitEthernet({ dst, src, ethertype }, new EthernetFrame().wrap(f));
  f.set(payload, ETH_HLEN);
  return f;
}

export function arpFrame(ethDst: MacAddr, r: ArpRepr & { ethSrc?: MacAddr }): Uint8Array {
  const p = new Uint8Array(ARP_LEN);
  emitArp(r, new ArpPacket().wrap(p));
  return ethFrame(ethDst, r.ethSrc ?? r.senderMac, ETHERTYPE_ARP, p);
}

export interface IpOptions {
  src: Ipv4Addr;
  dst: Ipv4Addr;
  protocol?: number;
  ttl?: number;
  ident?: number;
  dontFrag?: boolean;
  moreFrags?: boolean;
  /** Bytes, a multiple of 8. */
  fragOffset?: number;
}

/** An IPv4 datagram (20-byte header, checksum filled) carrying `payload`. */
export function ipPacket(o: IpOptions, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(IPV4_HEADER_LEN + payload.length);
  emitIpv4(
    {
      src: o.src,
      dst: o.dst,
      protocol: o.protocol ?? IPPROTO_ICMP,
      ttl: o.ttl ?? 64,
      payloadLen: payload.length,
      ident: o.ident ?? 0x1234,
      dontFrag: o.dontFrag ?? false,
      moreFrags: o.moreFrags ?? false,
      fragOffset: o.fragOffset ?? 0,
      dscp: 0,
      ecn: 0,
    },
    new Ipv4Packet().wrap(p),
  );
  p.set(payload, IPV4_HEADER_LEN);
  return p;
}

export function ipFrame(ethDst: MacAddr, ethSrc: MacAddr, o: IpOptions, payload: Uint8Array): Uint8Array {
  return ethFrame(ethDst, ethSrc, ETHERTYPE_IPV4, ipPacket(o, payload));
}

/** An ICMP message of `type` with the 4 bytes of rest-of-header and `data`, checksum filled. */
export function icmpMessage(type: number, code: number, rest: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(ICMP_HEADER_LEN + data.length);
  const v = new IcmpPacket().wrap(m);
  v.type = type;
  v.code = code;
  v.rest = rest;
  m.set(data, ICMP_HEADER_LEN);
  v.fillChecksum();
  return m;
}

export function echoRequest(ident: number, seq: number, data: Uint8Array): Uint8Array {
  return icmpMessage(8, 0, ((ident << 16) | seq) >>> 0, data);
}

/** Cuts an IP payload into fragments of `chunk` bytes (a multiple of 8), each a whole IPv4 packet. */
export function fragments(o: IpOptions, payload: Uint8Array, chunk: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += chunk) {
    const end = Math.min(off + chunk, payload.length);
    out.push(ipPacket({ ...o, fragOffset: off, moreFrags: end < payload.length }, payload.subarray(off, end)));
  }
  return out;
}

export interface Sniffed {
  dir: 'in' | 'out';
  frame: Uint8Array;
  ethDst: MacAddr;
  ethSrc: MacAddr;
  ethertype: number;
  arp: ArpRepr | null;
  ip: { src: Ipv4Addr; dst: Ipv4Addr; protocol: number; ident: number; totalLength: number; moreFrags: boolean; fragOffset: number; dontFrag: boolean } | null;
  /** ICMP type/code when the frame is an unfragmented or first-fragment ICMP message. */
  icmp: { type: number; code: number; rest: number; data: Uint8Array } | null;
}

/** Decodes one Ethernet frame as far as the wire codecs go. */
export function decode(frame: Uint8Array, dir: 'in' | 'out' = 'out'): Sniffed {
  const eth = new EthernetFrame().wrap(frame);
  const s: Sniffed = { dir, frame, ethDst: eth.dst, ethSrc: eth.src, ethertype: eth.ethertype, arp: null, ip: null, icmp: null };
  if (s.ethertype === ETHERTYPE_ARP) {
    const a = new ArpPacket().wrap(frame, ETH_HLEN);
    if (a.check() === null) s.arp = parseArp(a, { op: 1 as ArpOperation, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0 });
  } else if (s.ethertype === ETHERTYPE_IPV4) {
    const ip = new Ipv4Packet().wrap(frame, ETH_HLEN);
    if (ip.check() === null) {
      s.ip = { src: ip.src, dst: ip.dst, protocol: ip.protocol, ident: ip.ident, totalLength: ip.totalLength, moreFrags: ip.moreFrags, fragOffset: ip.fragOffset, dontFrag: ip.dontFrag };
      if (ip.protocol === IPPROTO_ICMP && ip.fragOffset === 0) {
        const m = new IcmpPacket().wrap(frame, ip.payloadOffset, ip.payloadLen);
        if (m.len >= ICMP_HEADER_LEN) s.icmp = { type: m.type, code: m.code, rest: m.rest, data: frame.slice(m.dataOffset, m.off + m.len) };
      }
    }
  }
  return s;
}

/** Records (decoded copies of) every frame `stack` sends, or receives with dir 'in'. The array fills as traffic flows. */
export function sniff(stack: Stack, dir: 'in' | 'out' = 'out'): Sniffed[] {
  const seen: Sniffed[] = [];
  stack.addTap((_dev, buf, off, len, d) => {
    if (d === dir) seen.push(decode(buf.slice(off, off + len), d));
  });
  return seen;
}
