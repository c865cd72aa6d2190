import { describe, expect, it } from 'vitest';
import { readIpv4 } from '../../../src/wire/address.js';
import { UDP_HLEN, UdpDatagram, emitUdp, parseUdp, type UdpRepr } from '../../../src/wire/udp.js';
import { hex, mulberry32 } from '../../helpers/bytes.js';

// smoltcp's src/wire/udp.rs test vector: 192.168.1.1:48896 -> 192.168.1.2:53.
const SMOL_SRC = 0xc0a80101;
const SMOL_DST = 0xc0a80102;
const SMOL = 'bf00 0035 000c 124d aa00 00ff';
const SMOL_NO_CKSUM = 'bf00 0035 000c 0000 aa00 00ff';

// A DNS query as IPv4 + UDP, 172.16.31.3:40351 -> 172.16.31.1:53,
// "44379+ A? jd.com. (24)": rebuilt byte for byte from a tcpdump trace; its
// UDP checksum 0xe678 was confirmed independently (tshark: "[correct]").
const DNS_QUERY =
  '4500 0034 fc57 4000 4011 a83c ac10 1f03 ac10 1f01' + // IPv4
  '9d9f 0035 0020 e678' + // UDP: 40351 -> 53, length 32
  'ad5b 0100 0001 0000 0000 0000 026a 6403 636f 6d00 0001 0001'; // DNS

describe('UdpDatagram on real bytes', () => {
  it('parses smoltcp\'s datagram and verifies its checksum', () => {
    const d = new UdpDatagram().wrap(hex(SMOL));
    expect(d.check()).toBeNull();
    expect(d.srcPort).toBe(48896);
    expect(d.dstPort).toBe(53);
    expect(d.length).toBe(12);
    expect(d.checksum).toBe(0x124d);
    expect(d.payloadOffset).toBe(8);
    expect(d.payloadLen).toBe(4);
    expect(d.verifyChecksum(SMOL_SRC, SMOL_DST)).toBe(true);
    expect(d.verifyChecksum(SMOL_SRC, SMOL_DST + 1)).toBe(false);
    expect(parseUdp(d)).toEqual({ srcPort: 48896, dstPort: 53, payloadLen: 4 });
  });

  it('parses a DNS query inside an IPv4 packet', () => {
    const pkt = hex(DNS_QUERY);
    const src = readIpv4(pkt, 12);
    const dst = readIpv4(pkt, 16);
    const d = new UdpDatagram().wrap(pkt, 20);
    expect(d.check()).toBeNull();
    expect(d.srcPort).toBe(40351);
    expect(d.dstPort).toBe(53);
    expect(d.length).toBe(32);
    expect(d.payloadOffset).toBe(28);
    expect(d.payloadLen).toBe(24);
    expect(d.verifyChecksum(src, dst)).toBe(true);
    // The DNS id is the first payload word.
    expect((pkt[d.payloadOffset]! << 8) | pkt[d.payloadOffset + 1]!).toBe(44379);
  });

  it('emit reproduces both datagrams exactly', () => {
    const cases: [string, number, number, number][] = [
      [SMOL, 0, SMOL_SRC, SMOL_DST],
      [DNS_QUERY, 20, 0xac101f03, 0xac101f01],
    ];
    const view = new UdpDatagram();
    for (const [h, at, src, dst] of cases) {
      const want = hex(h).subarray(at);
      const repr = parseUdp(view.wrap(want));
      const out = new Uint8Array(want.length);
      out.set(want.subarray(UDP_HLEN), UDP_HLEN); // payload first, as the send path does
      view.wrap(out);
      emitUdp(repr, view);
      expect(view.checksum).toBe(0);
      view.fillChecksum(src, dst);
      expect(Buffer.from(out).toString('hex')).toBe(Buffer.from(want).toString('hex'));
    }
  });

  it('accepts a zero checksum as "none" (RFC 768)', () => {
    const d = new UdpDatagram().wrap(hex(SMOL_NO_CKSUM));
    expect(d.check()).toBeNull();
    expect(d.verifyChecksum(SMOL_SRC, SMOL_DST)).toBe(true);
    expect(d.verifyChecksum(1, 2)).toBe(true);
  });

  it('rejects a corrupted datagram', () => {
    const b = hex(SMOL);
    b[9] ^= 0x01;
    expect(new UdpDatagram().wrap(b).verifyChecksum(SMOL_SRC, SMOL_DST)).toBe(false);
  });

  it('sends a computed 0 as 0xffff, which verifies', () => {
    const buf = new Uint8Array(12);
    const d = new UdpDatagram().wrap(buf);
    emitUdp({ srcPort: 1234, dstPort: 5678, payloadLen: 4 }, d);
    d.fillChecksum(SMOL_SRC, SMOL_DST);
    const c = d.checksum;
    // A payload word equal to the checksum brings the sum to 0xffff, so the
    // computed checksum becomes 0.
    buf[8] = c >>> 8;
    buf[9] = c & 0xff;
    d.fillChecksum(SMOL_SRC, SMOL_DST);
    expect(d.checksum).toBe(0xffff);
    expect(d.verifyChecksum(SMOL_SRC, SMOL_DST)).toBe(true);
  });
});

describe('UdpDatagram.check', () => {
  it('truncated: fewer than 8 bytes', () => {
    const d = new UdpDatagram();
    expect(d.wrap(new Uint8Array(0)).check()).toBe('truncated');
    expect(d.wrap(hex('bf00 0035 000c 12')).check()).toBe('truncated');
  });

  it('truncated: the length field claims more than is present', () => {
    expect(new UdpDatagram().wrap(hex('bf00 0035 000d 124d aa00 00ff')).check()).toBe('truncated');
    // The view's len, not the buffer, bounds the datagram.
    expect(new UdpDatagram().wrap(hex(SMOL), 0, 11).check()).toBe('truncated');
  });

  it('length: the length field is below 8', () => {
    expect(new UdpDatagram().wrap(hex('bf00 0035 0007 124d aa00 00ff')).check()).toBe('length');
    expect(new UdpDatagram().wrap(hex('bf00 0035 0000 124d')).check()).toBe('length');
  });

  it('ignores bytes past the length field (Ethernet padding)', () => {
    const padded = hex(SMOL + '0000 0000 0000');
    const d = new UdpDatagram().wrap(padded);
    expect(d.check()).toBeNull();
    expect(d.payloadLen).toBe(4);
    expect(d.verifyChecksum(SMOL_SRC, SMOL_DST)).toBe(true);
    padded[14] = 0x55; // padding is not covered by the checksum
    expect(d.verifyChecksum(SMOL_SRC, SMOL_DST)).toBe(true);
  });

  it('wrap clamps len to the buffer', () => {
    const d = new UdpDatagram().wrap(hex(SMOL), 4, 100);
    expect(d.len).toBe(8);
    expect(new UdpDatagram().wrap(hex(SMOL), 20).len).toBe(0);
  });
});

describe('UDP fuzz (seeded)', () => {
  it('check() never throws and gates every read', () => {
    const rnd = mulberry32(0xdecaf);
    const base = hex(DNS_QUERY).subarray(20);
    const d = new UdpDatagram();
    const repr: UdpRepr = { srcPort: 0, dstPort: 0, payloadLen: 0 };
    let ok = 0;
    for (let iter = 0; iter < 20_000; iter++) {
      const buf = Uint8Array.from(base);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) buf[Math.floor(rnd() * 8)] = Math.floor(rnd() * 256);
      const len = Math.floor(rnd() * (buf.length + 1));
      d.wrap(buf, 0, len);
      const err = d.check();
      if (err !== null) continue;
      ok++;
      parseUdp(d, repr);
      if (repr.payloadLen < 0 || UDP_HLEN + repr.payloadLen > len) throw new Error(`bad payloadLen at ${iter}`);
      d.verifyChecksum(0xac101f03, 0xac101f01);
    }
    expect(ok).toBeGreaterThan(100);
  });

  it('fillChecksum then verifyChecksum holds for random datagrams', () => {
    const rnd = mulberry32(7);
    const d = new UdpDatagram();
    for (let iter = 0; iter < 2000; iter++) {
      const payloadLen = Math.floor(rnd() * 100);
      const buf = new Uint8Array(UDP_HLEN + payloadLen);
      for (let i = UDP_HLEN; i < buf.length; i++) buf[i] = Math.floor(rnd() * 256);
      d.wrap(buf);
      emitUdp({ srcPort: Math.floor(rnd() * 65536), dstPort: Math.floor(rnd() * 65536), payloadLen }, d);
      const src = (rnd() * 2 ** 32) >>> 0;
      const dst = (rnd() * 2 ** 32) >>> 0;
      d.fillChecksum(src, dst);
      expect(d.check()).toBeNull();
      expect(d.checksum).not.toBe(0);
      expect(d.verifyChecksum(src, dst)).toBe(true);
    }
  });
});
