import { describe, expect, it } from 'vitest';
import {
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER_LEN,
  ICMP_PARAM_PROBLEM,
  ICMP_REDIRECT,
  ICMP_REDIRECT_HOST,
  ICMP_SOURCE_QUENCH,
  ICMP_TIME_EXCEEDED,
  ICMP_TIME_EXCEEDED_REASSEMBLY,
  ICMP_TIME_EXCEEDED_TTL,
  ICMP_TIMESTAMP,
  ICMP_TIMESTAMP_REPLY,
  ICMP_UNREACH_FRAG_NEEDED,
  ICMP_UNREACH_PORT,
  IcmpPacket,
  emitIcmp,
  icmpLen,
  icmpReprType,
  isIcmpError,
  parseIcmp,
  type IcmpRepr,
} from '../../../src/wire/icmp.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, Ipv4Packet, emitIpv4, parseIpv4 } from '../../../src/wire/ipv4.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { hex, mulberry32, bounded } from '../../helpers/bytes.js';

// A real Linux `ping 127.0.0.1` (tcpdump -i lo -X): echo request, id 0x5514,
// seq 1, 56 data bytes (a 16-byte struct timeval, then 0x10..0x37), and the
// kernel's echo reply (new IP ident, DF clear, ICMP type 0, same data).
const PING_DATA = `2d08 f460 0000 0000 6c83 0d00 0000 0000 1011 1213 1415 1617 1819 1a1b 1c1d 1e1f
  2021 2223 2425 2627 2829 2a2b 2c2d 2e2f 3031 3233 3435 3637`;
const PING_REQUEST = hex(`4500 0054 9210 4000 4001 aa96 7f00 0001 7f00 0001 0800 492b 5514 0001 ${PING_DATA}`);
const PING_REPLY = hex(`4500 0054 9211 0000 4001 ea95 7f00 0001 7f00 0001 0000 512b 5514 0001 ${PING_DATA}`);

// Built by hand and checked with tshark (all IP, ICMP and UDP checksums good):
// 10.0.0.2 answers a UDP datagram 10.0.0.1:40000 > 10.0.0.2:33434 "ping" with
// port unreachable, quoting the whole 32-byte datagram (TOS 0xc0, as Linux).
const PORT_UNREACH = hex(`
  45c0 003c abcd 0000 4001 ba31 0a00 0002 0a00 0001
  0303 111d 0000 0000
  4500 0020 1234 4000 4011 1497 0a00 0001 0a00 0002 9c40 829a 000c ee27 7069 6e67`);
// Router 10.0.0.254 tells 10.0.0.1 that a 1500-byte DF TCP segment needs a
// next-hop MTU of 1400 (RFC 1191), quoting the IP header + 8 bytes.
const FRAG_NEEDED = hex(`
  45c0 0038 0001 0000 ff01 a605 0a00 00fe 0a00 0001
  0304 2fdd 0000 0578
  4500 05dc 4242 4000 3f06 dfd7 0a00 0001 0a00 0002 c350 0050 0102 0304`);

/** The ICMP message inside an IPv4 packet, trimmed to the IP total length. */
function icmpOf(pkt: Uint8Array): IcmpPacket {
  const ip = new Ipv4Packet().wrap(pkt);
  expect(ip.check()).toBeNull();
  expect(ip.protocol).toBe(IPPROTO_ICMP);
  return new IcmpPacket().wrap(pkt, ip.payloadOffset, ip.payloadLen);
}

/** Rebuilds a whole IPv4+ICMP packet from its reprs and data: emit, copy, fill. */
function rebuild(pkt: Uint8Array): Uint8Array {
  const ipIn = new Ipv4Packet().wrap(pkt);
  const icmpIn = icmpOf(pkt);
  const ipRepr = parseIpv4(ipIn);
  const icmpRepr = parseIcmp(icmpIn);
  const out = new Uint8Array(20 + icmpLen(icmpRepr));
  emitIpv4(ipRepr, new Ipv4Packet().wrap(out));
  const icmp = new IcmpPacket().wrap(out, 20);
  emitIcmp(icmpRepr, icmp);
  out.set(pkt.subarray(icmpIn.dataOffset, icmpIn.dataOffset + icmpIn.dataLen), icmp.dataOffset);
  icmp.fillChecksum(icmpLen(icmpRepr));
  return out;
}

describe('IcmpPacket: echo', () => {
  it('parses the captured Linux echo request', () => {
    const m = icmpOf(PING_REQUEST);
    expect(m.len).toBe(64);
    expect(m.check()).toBeNull();
    expect([m.type, m.code, m.checksum, m.echoIdent, m.echoSeq]).toEqual([ICMP_ECHO_REQUEST, 0, 0x492b, 0x5514, 1]);
    expect(parseIcmp(m)).toEqual({ kind: 'echo-request', code: 0, ident: 0x5514, seq: 1, dataLen: 56 });
    // The data: struct timeval (x86-64, little-endian) then the 0x10.. pattern.
    const d = m.dataOffset;
    const view = new DataView(PING_REQUEST.buffer, PING_REQUEST.byteOffset);
    expect(view.getUint32(d, true)).toBe(0x60f4082d); // 2021-07-18 tv_sec
    expect(view.getUint32(d + 8, true)).toBe(885_612); // tv_usec: ...33.885612
    for (let i = 16; i < 56; i++) expect(PING_REQUEST[d + i]).toBe(i);
  });

  it('rebuilds the captured request and reply byte for byte', () => {
    expect(rebuild(PING_REQUEST)).toEqual(PING_REQUEST);
    expect(rebuild(PING_REPLY)).toEqual(PING_REPLY);
  });

  it('turns the request into the kernel reply in place', () => {
    const b = PING_REQUEST.slice();
    const ip = new Ipv4Packet().wrap(b);
    const icmp = new IcmpPacket().wrap(b, ip.payloadOffset, ip.payloadLen);
    const req = parseIcmp(icmp);
    if (req.kind !== 'echo-request') throw new Error('not an echo request');
    emitIcmp({ ...req, kind: 'echo-reply' }, icmp); // the data is already in place
    icmp.fillChecksum();
    const ipReq = parseIpv4(ip);
    emitIpv4({ ...ipReq, src: ipReq.dst, dst: ipReq.src, ident: 0x9211, dontFrag: false }, ip);
    expect(b).toEqual(PING_REPLY);
  });

  it('handles odd-length messages', () => {
    const b = new Uint8Array(8 + 57);
    for (let i = 8; i < b.length; i++) b[i] = i * 7;
    const m = new IcmpPacket().wrap(b);
    emitIcmp({ kind: 'echo-request', code: 0, ident: 0xffff, seq: 0xfffe, dataLen: 57 }, m);
    m.fillChecksum();
    expect(m.check()).toBeNull();
    expect(internetChecksum(b, 0, b.length)).toBe(0);
    expect(parseIcmp(m)).toEqual({ kind: 'echo-request', code: 0, ident: 0xffff, seq: 0xfffe, dataLen: 57 });
  });
});

describe('IcmpPacket: errors', () => {
  it('parses port unreachable and the quoted datagram', () => {
    const m = icmpOf(PORT_UNREACH);
    expect(m.check()).toBeNull();
    expect(parseIcmp(m)).toEqual({ kind: 'dest-unreachable', code: ICMP_UNREACH_PORT, nextHopMtu: 0, dataLen: 32 });
    expect(isIcmpError(m.type)).toBe(true);
    const quoted = new Ipv4Packet().wrap(PORT_UNREACH, m.dataOffset, m.dataLen);
    expect(quoted.check()).toBeNull(); // Linux quotes it whole when it fits
    expect([quoted.protocol, quoted.src, quoted.dst]).toEqual([IPPROTO_UDP, 0x0a000001, 0x0a000002]);
    const udp = quoted.payloadOffset;
    expect((PORT_UNREACH[udp + 2]! << 8) | PORT_UNREACH[udp + 3]!).toBe(33434);
  });

  it('parses fragmentation needed with its next-hop MTU (RFC 1191)', () => {
    const m = icmpOf(FRAG_NEEDED);
    expect(m.check()).toBeNull();
    expect(parseIcmp(m)).toEqual({ kind: 'dest-unreachable', code: ICMP_UNREACH_FRAG_NEEDED, nextHopMtu: 1400, dataLen: 28 });
    expect(m.rest).toBe(1400);
    const quoted = new Ipv4Packet().wrap(FRAG_NEEDED, m.dataOffset, m.dataLen);
    expect(quoted.check()).toBe('truncated'); // header + 8 bytes of a 1500-byte packet
    expect(quoted.checkHeader()).toBeNull();
    expect([quoted.protocol, quoted.totalLength, quoted.dontFrag, quoted.dst]).toEqual([IPPROTO_TCP, 1500, true, 0x0a000002]);
  });

  it('rebuilds both error messages byte for byte', () => {
    expect(rebuild(PORT_UNREACH)).toEqual(PORT_UNREACH);
    expect(rebuild(FRAG_NEEDED)).toEqual(FRAG_NEEDED);
  });

  it('lays out the rest-of-header word per type', () => {
    const b = new Uint8Array(8).fill(0xee);
    const m = new IcmpPacket().wrap(b);
    emitIcmp({ kind: 'param-problem', code: 0, pointer: 8, dataLen: 0 }, m); // pointer at the TTL
    expect(Array.from(b)).toEqual([12, 0, 0, 0, 8, 0, 0, 0]);
    emitIcmp({ kind: 'time-exceeded', code: ICMP_TIME_EXCEEDED_REASSEMBLY, dataLen: 0 }, m);
    expect(Array.from(b)).toEqual([11, 1, 0, 0, 0, 0, 0, 0]);
    emitIcmp({ kind: 'dest-unreachable', code: ICMP_UNREACH_FRAG_NEEDED, nextHopMtu: 1280, dataLen: 0 }, m);
    expect(Array.from(b)).toEqual([3, 4, 0, 0, 0, 0, 5, 0]);
    emitIcmp({ kind: 'other', type: ICMP_REDIRECT, code: ICMP_REDIRECT_HOST, rest: 0x0a0000fe, dataLen: 0 }, m);
    expect(Array.from(b)).toEqual([5, 1, 0, 0, 10, 0, 0, 0xfe]);
    expect(m.gateway).toBe(0x0a0000fe);
    emitIcmp({ kind: 'echo-reply', code: 0, ident: 0x1234, seq: 0xabcd, dataLen: 0 }, m);
    expect(Array.from(b)).toEqual([0, 0, 0, 0, 0x12, 0x34, 0xab, 0xcd]);
  });

  it('round trips every kind through emit, fillChecksum, check and parse', () => {
    const reprs: IcmpRepr[] = [
      { kind: 'echo-request', code: 0, ident: 1, seq: 2, dataLen: 5 },
      { kind: 'echo-reply', code: 0, ident: 0xffff, seq: 0, dataLen: 0 },
      { kind: 'dest-unreachable', code: ICMP_UNREACH_PORT, nextHopMtu: 0, dataLen: 28 },
      { kind: 'dest-unreachable', code: ICMP_UNREACH_FRAG_NEEDED, nextHopMtu: 576, dataLen: 28 },
      { kind: 'time-exceeded', code: ICMP_TIME_EXCEEDED_TTL, dataLen: 28 },
      { kind: 'param-problem', code: 0, pointer: 255, dataLen: 28 },
      { kind: 'other', type: ICMP_SOURCE_QUENCH, code: 0, rest: 0, dataLen: 28 },
      { kind: 'other', type: ICMP_REDIRECT, code: 1, rest: 0xc0a80101, dataLen: 28 },
      { kind: 'other', type: ICMP_TIMESTAMP, code: 0, rest: 0x00010002, dataLen: 12 },
      { kind: 'other', type: ICMP_TIMESTAMP_REPLY, code: 0, rest: 0xffffffff, dataLen: 12 },
      { kind: 'other', type: 200, code: 99, rest: 0x80000000, dataLen: 1 },
    ];
    const expectedTypes = [8, 0, 3, 3, 11, 12, 4, 5, 13, 14, 200];
    reprs.forEach((repr, i) => {
      const b = new Uint8Array(4 + icmpLen(repr) + 4).fill(0x3c);
      const m = new IcmpPacket().wrap(b, 4, icmpLen(repr));
      emitIcmp(repr, m);
      expect(m.checksum).toBe(0);
      m.fillChecksum(icmpLen(repr));
      expect(m.check()).toBeNull();
      expect(parseIcmp(m)).toEqual(repr);
      expect(icmpReprType(repr)).toBe(expectedTypes[i]);
      expect(b[3]).toBe(0x3c);
      expect(b[b.length - 4]).toBe(0x3c);
    });
  });

  it('isIcmpError: the RFC 1122 error types only', () => {
    for (let t = 0; t < 256; t++) {
      const err = t === ICMP_DEST_UNREACH || t === 4 || t === 5 || t === ICMP_TIME_EXCEEDED || t === ICMP_PARAM_PROBLEM;
      expect(isIcmpError(t), `type ${t}`).toBe(err);
    }
    expect(isIcmpError(ICMP_ECHO_REQUEST)).toBe(false);
    expect(isIcmpError(ICMP_ECHO_REPLY)).toBe(false);
  });
});

describe('IcmpPacket check', () => {
  it("is 'truncated' below 8 bytes and 'checksum' for any shorter cut", () => {
    const m = new IcmpPacket();
    const msg = PING_REQUEST.subarray(20);
    for (let n = 0; n < ICMP_HEADER_LEN; n++) {
      expect(m.wrap(msg.subarray(0, n)).check(), `len ${n}`).toBe('truncated');
      expect(m.check(false)).toBe('truncated');
    }
    for (let n = ICMP_HEADER_LEN; n < msg.length; n++) {
      expect(m.wrap(msg.subarray(0, n)).check(), `len ${n}`).toBe('checksum');
      expect(m.check(false)).toBeNull();
    }
    expect(m.wrap(msg).check()).toBeNull();
  });

  it("'checksum' on any single-bit flip", () => {
    const m = new IcmpPacket();
    const msg = PING_REQUEST.slice(20);
    for (let i = 0; i < msg.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        msg[i]! ^= 1 << bit;
        expect(m.wrap(msg).check()).toBe('checksum');
        msg[i]! ^= 1 << bit;
      }
    }
    expect(m.wrap(msg).check()).toBeNull();
  });

  it('needs the message length: padding after it breaks the checksum unless len is given', () => {
    // The echo request of a 60-byte frame: trailing zeros do not change the sum,
    // but non-zero padding does; verify/fill accept an explicit length.
    const b = new Uint8Array(80).fill(0xab);
    b.set(PING_REQUEST.subarray(20), 0);
    const m = new IcmpPacket().wrap(b);
    expect(m.check()).toBe('checksum');
    expect(m.verifyChecksum(64)).toBe(true);
    b[2] = 0;
    b[3] = 0;
    m.fillChecksum(64);
    expect(m.checksum).toBe(0x492b);
  });

  it('fuzz: check/parse never throw and never read outside [off, off+len)', () => {
    const rnd = mulberry32(792);
    const byte = (): number => Math.floor(rnd() * 256);
    const m = new IcmpPacket();
    expect(() => m.wrap(bounded(PING_REQUEST, 20, 27), 20, 7).echoSeq).toThrow(RangeError);
    const seeds = [PING_REQUEST.subarray(20), PORT_UNREACH.subarray(20), FRAG_NEEDED.subarray(20)];
    const seen = new Set<string>();
    const kinds = new Set<string>();
    for (let iter = 0; iter < 10_000; iter++) {
      let body: Uint8Array;
      if (rnd() < 0.3) {
        body = new Uint8Array(Math.floor(rnd() * 40));
        for (let i = 0; i < body.length; i++) body[i] = byte();
      } else {
        body = seeds[Math.floor(rnd() * seeds.length)]!.slice();
        if (rnd() < 0.5) body[0] = rnd() < 0.7 ? [0, 3, 8, 11, 12, 5, 13][Math.floor(rnd() * 7)]! : byte();
        const flips = Math.floor(rnd() * 3);
        for (let k = 0; k < flips; k++) body[Math.floor(rnd() * body.length)] = byte();
        if (rnd() < 0.3) body = body.subarray(0, Math.floor(rnd() * body.length));
        if (rnd() < 0.6 && body.length >= 8) {
          body[2] = 0;
          body[3] = 0;
          const c = internetChecksum(body, 0, body.length);
          body[2] = c >>> 8;
          body[3] = c & 0xff;
        }
      }
      const pre = Math.floor(rnd() * 8);
      const big = new Uint8Array(pre + body.length + 8);
      for (let i = 0; i < big.length; i++) big[i] = byte();
      big.set(body, pre);
      m.wrap(bounded(big, pre, pre + body.length), pre, body.length);
      const strict = m.check();
      const lax = m.check(false);
      seen.add(String(strict));
      const refOk = body.length >= 8;
      expect(lax === null).toBe(refOk);
      expect(strict === null).toBe(refOk && internetChecksum(body, 0, body.length) === 0);
      if (lax === null) {
        const r = parseIcmp(m);
        kinds.add(r.kind);
        expect(r.dataLen).toBe(body.length - 8);
        expect(m.dataOffset + m.dataLen).toBe(pre + body.length);
        void [m.type, m.code, m.checksum, m.rest, m.echoIdent, m.echoSeq, m.nextHopMtu, m.pointer, m.gateway, m.verifyChecksum()];
      }
    }
    expect([...seen].sort()).toEqual(['checksum', 'null', 'truncated']);
    expect([...kinds].sort()).toEqual(['dest-unreachable', 'echo-reply', 'echo-request', 'other', 'param-problem', 'time-exceeded']);
  });
});
