import { describe, expect, it } from 'vitest';
import { readIpv4 } from '../../../src/wire/address.js';
import {
  TCP_ACK,
  TCP_FIN,
  TCP_HLEN,
  TCP_PSH,
  TCP_SYN,
  TcpSegment,
  createTcpRepr,
  emitTcp,
  parseTcp,
  segmentLength,
  tcpHeaderLen,
} from '../../../src/wire/tcp.js';
import { TcpOptions, parseTcpOptions, setSackBlock, tcpOptionsLength } from '../../../src/wire/tcpOptions.js';
import { hex, toHex, mulberry32 } from '../../helpers/bytes.js';

// Real IPv4 packets from tcpdump traces published online, checksums intact
// (each was checked against its IPv4 pseudo-header before being copied here).

// Linux SYN, 10.0.0.4:33408 -> 10.0.0.3:9527, seq 2741304532, win 64240,
// options [mss 1460,sackOK,TS val 3003747107 ecr 0,nop,wscale 7].
const SYN =
  '4500 003c d3a4 4000 4006 5311 0a00 0004 0a00 0003' +
  '8280 2537 a364 fcd4 0000 0000 a002 faf0 b2ea 0000' +
  '0204 05b4 0402 080a b309 8b23 0000 0000 0103 0307';

// Linux SYN-ACK, 64.105.205.123:80 -> 192.168.0.200:58982, seq 1704004503,
// ack 2730474048, win 5792, options [mss 1400,sackOK,TS val 3757379566 ecr 774403430,nop,wscale 0].
const SYNACK =
  '4500 003c 0000 4000 3006 7b67 4069 cd7b c0a8 00c8' +
  '0050 e666 6591 0b97 a2bf ba40 a012 16a0 19ec 0000' +
  '0204 0578 0402 080a dff5 0fee 2e28 7566 0103 0300';

// Linux pure ACK completing the first handshake: ack 1, win 502,
// options [nop,nop,TS val 3003747108 ecr 2489161299].
const ACK =
  '4500 0034 d3a5 4000 4006 5318 0a00 0004 0a00 0003' +
  '8280 2537 a364 fcd5 46c1 a122 8010 01f6 c80b 0000' +
  '0101 080a b309 8b24 945d 9653';

// Linux SYN-ACK without timestamps (p0f test data, LINUX_26_SYN_ACK),
// 140.99.93.175:80 -> 10.255.228.169:3884, options [mss 1380,nop,nop,sackOK,nop,wscale 9].
const SYNACK_NOTS =
  '4500 0034 0000 4000 3306 6e09 8c63 5daf 0aff e4a9' +
  '0050 0f2c ff15 564e babd 6b49 8012 16d0 f3dc 0000' +
  '0204 0564 0101 0402 0103 0309';

// Linux data segment, 192.168.59.148:53934 -> 192.168.59.129:23, Flags [P.],
// seq 1:13, 12 bytes of telnet negotiation.
const DATA =
  '4500 0040 29e2 4000 4006 1870 c0a8 3b94 c0a8 3b81' +
  'd2ae 0017 ee2d 5fb8 beab 46cc 8018 01f6 7050 0000' +
  '0101 080a 657d 54dc 5f9a 98a5' +
  'fffb 18ff fb20 fffb 23ff fb27';

// Linux FIN+ACK, 192.168.59.148:36819 -> 192.168.59.129:23.
const FIN =
  '4500 0034 0dad 4000 4006 34b1 c0a8 3b94 c0a8 3b81' +
  '8fd3 0017 5997 c619 2bfd 3ea6 8011 01f6 7858 0000' +
  '0101 080a 6579 2ca6 5f95 f813';

// macOS/BSD SYN, 192.168.0.200:58982 -> 64.105.205.123:80, 24 bytes of options
// [mss 1460,nop,wscale 3,nop,nop,TS val 774403430 ecr 0,sackOK,eol].
const BSD_SYN =
  '4500 0040 284c 4000 4006 4317 c0a8 00c8 4069 cd7b' +
  'e666 0050 a2bf ba3f 0000 0000 b002 ffff 8065 0000' +
  '0204 05b4 0103 0303 0101 080a 2e28 7566 0000 0000 0402 0000';

/** Wraps the TCP segment of an IPv4 packet; returns it with the addresses. */
function segOf(h: string): { pkt: Uint8Array; seg: TcpSegment; src: number; dst: number } {
  const pkt = hex(h);
  const ihl = (pkt[0]! & 0x0f) * 4;
  const total = (pkt[2]! << 8) | pkt[3]!;
  const seg = new TcpSegment().wrap(pkt, ihl, total - ihl);
  return { pkt, seg, src: readIpv4(pkt, 12), dst: readIpv4(pkt, 16) };
}

describe('TcpSegment on real packets', () => {
  it('parses a Linux SYN', () => {
    const { seg, src, dst } = segOf(SYN);
    expect(seg.check()).toBeNull();
    expect(seg.srcPort).toBe(33408);
    expect(seg.dstPort).toBe(9527);
    expect(seg.seq).toBe(2741304532);
    expect(seg.ack).toBe(0);
    expect(seg.dataOffset).toBe(40);
    expect(seg.flags).toBe(TCP_SYN);
    expect(seg.syn).toBe(true);
    expect(seg.ackFlag).toBe(false);
    expect(seg.window).toBe(64240);
    expect(seg.checksum).toBe(0xb2ea);
    expect(seg.urgentPtr).toBe(0);
    expect(seg.optionsOffset).toBe(40);
    expect(seg.optionsLen).toBe(20);
    expect(seg.payloadOffset).toBe(60);
    expect(seg.payloadLen).toBe(0);
    expect(seg.segmentLength).toBe(1);
    expect(seg.verifyChecksum(src, dst)).toBe(true);
    expect(seg.verifyChecksum(src, dst + 1)).toBe(false);

    const r = parseTcp(seg, createTcpRepr());
    expect(r.seq).toBe(2741304532);
    expect(r.payloadLen).toBe(0);
    expect(r.options.mss).toBe(1460);
    expect(r.options.sackPermitted).toBe(true);
    expect(r.options.timestamps).toBe(true);
    expect(r.options.tsVal).toBe(3003747107);
    expect(r.options.tsEcr).toBe(0);
    expect(r.options.wscale).toBe(7);
  });

  it('parses a Linux SYN-ACK', () => {
    const { seg, src, dst } = segOf(SYNACK);
    expect(seg.check()).toBeNull();
    expect(seg.srcPort).toBe(80);
    expect(seg.dstPort).toBe(58982);
    expect(seg.seq).toBe(1704004503);
    expect(seg.ack).toBe(2730474048);
    expect(seg.flags).toBe(TCP_SYN | TCP_ACK);
    expect(seg.window).toBe(5792);
    expect(seg.segmentLength).toBe(1);
    expect(seg.verifyChecksum(src, dst)).toBe(true);
    const r = parseTcp(seg);
    expect(r.options.mss).toBe(1400);
    expect(r.options.wscale).toBe(0);
    expect(r.options.tsVal).toBe(3757379566);
    expect(r.options.tsEcr).toBe(774403430);
  });

  it('parses a pure ACK with timestamps', () => {
    const { seg, src, dst } = segOf(ACK);
    expect(seg.check()).toBeNull();
    expect(seg.seq).toBe(2741304533);
    expect(seg.ack).toBe(1187094818);
    expect(seg.flags).toBe(TCP_ACK);
    expect(seg.window).toBe(502);
    expect(seg.dataOffset).toBe(32);
    expect(seg.payloadLen).toBe(0);
    expect(seg.segmentLength).toBe(0);
    expect(seg.verifyChecksum(src, dst)).toBe(true);
    const r = parseTcp(seg);
    expect(r.options.mss).toBe(0);
    expect(r.options.tsVal).toBe(3003747108);
    expect(r.options.tsEcr).toBe(2489161299);
  });

  it('parses a data segment and finds its payload', () => {
    const { pkt, seg, src, dst } = segOf(DATA);
    expect(seg.check()).toBeNull();
    expect(seg.flags).toBe(TCP_PSH | TCP_ACK);
    expect(seg.psh).toBe(true);
    expect(seg.seq).toBe(3995951032);
    expect(seg.ack).toBe(3198895820);
    expect(seg.payloadOffset).toBe(52);
    expect(seg.payloadLen).toBe(12);
    expect(seg.segmentLength).toBe(12);
    expect(toHex(pkt.subarray(seg.payloadOffset, seg.payloadOffset + seg.payloadLen))).toBe('fffb18fffb20fffb23fffb27');
    expect(seg.verifyChecksum(src, dst)).toBe(true);
    expect(parseTcp(seg).payloadLen).toBe(12);
  });

  it('counts FIN in the segment length', () => {
    const { seg, src, dst } = segOf(FIN);
    expect(seg.check()).toBeNull();
    expect(seg.flags).toBe(TCP_FIN | TCP_ACK);
    expect(seg.fin).toBe(true);
    expect(seg.segmentLength).toBe(1);
    expect(seg.verifyChecksum(src, dst)).toBe(true);
  });

  it('parses a SYN-ACK without timestamps and a BSD SYN', () => {
    const a = segOf(SYNACK_NOTS);
    expect(a.seg.check()).toBeNull();
    expect(a.seg.verifyChecksum(a.src, a.dst)).toBe(true);
    const ra = parseTcp(a.seg);
    expect([ra.options.mss, ra.options.sackPermitted, ra.options.timestamps, ra.options.wscale]).toEqual([
      1380, true, false, 9,
    ]);

    const b = segOf(BSD_SYN);
    expect(b.seg.check()).toBeNull();
    expect(b.seg.dataOffset).toBe(44);
    expect(b.seg.verifyChecksum(b.src, b.dst)).toBe(true);
    const rb = parseTcp(b.seg);
    expect(rb.window).toBe(65535);
    expect([rb.options.mss, rb.options.wscale, rb.options.tsVal, rb.options.sackPermitted]).toEqual([
      1460, 3, 774403430, true,
    ]);
  });

  it('detects a corrupted segment', () => {
    for (const h of [SYN, SYNACK, ACK, DATA, FIN]) {
      const { pkt, seg, src, dst } = segOf(h);
      pkt[pkt.length - 1] ^= 0x40;
      expect(seg.verifyChecksum(src, dst)).toBe(false);
    }
  });

  it('emit + fillChecksum reproduces the Linux segments byte for byte', () => {
    const repr = createTcpRepr();
    for (const h of [SYN, SYNACK, ACK, SYNACK_NOTS, DATA, FIN]) {
      const { seg, src, dst } = segOf(h);
      const want = seg.buf.subarray(seg.off, seg.off + seg.len);
      parseTcp(seg, repr);
      const hl = tcpHeaderLen(repr);
      expect(hl).toBe(seg.dataOffset);
      expect(TCP_HLEN + tcpOptionsLength(repr.options)).toBe(hl);

      // Send path: payload already in place behind the headroom.
      const out = new Uint8Array(hl + repr.payloadLen);
      out.set(want.subarray(seg.dataOffset), hl);
      const view = new TcpSegment().wrap(out);
      expect(emitTcp(repr, view)).toBe(hl);
      expect(view.checksum).toBe(0);
      view.fillChecksum(src, dst);
      expect(toHex(out)).toBe(toHex(want));
    }
  });
});

describe('TcpSegment.check', () => {
  it('truncated below 20 bytes', () => {
    const s = new TcpSegment();
    expect(s.wrap(new Uint8Array(0)).check()).toBe('truncated');
    expect(s.wrap(new Uint8Array(19)).check()).toBe('truncated');
    const { pkt } = segOf(SYN);
    expect(s.wrap(pkt, 20, 19).check()).toBe('truncated');
  });

  it('data-offset below 20 or beyond the segment', () => {
    const { seg } = segOf(SYN);
    const b = seg.buf;
    const at = seg.off + 12;
    for (const words of [0, 1, 4]) {
      b[at] = words << 4;
      expect(seg.check()).toBe('data-offset');
    }
    b[at] = 11 << 4; // 44 > 40
    expect(seg.check()).toBe('data-offset');
    b[at] = 15 << 4;
    expect(seg.check()).toBe('data-offset');
    b[at] = 10 << 4; // exactly the segment
    expect(seg.check()).toBeNull();
    b[at] = 5 << 4;
    expect(seg.check()).toBeNull();
    expect(seg.payloadLen).toBe(20); // the options now count as payload
  });

  it('ignores the reserved bits when reading the data offset', () => {
    const { seg } = segOf(ACK);
    seg.buf[seg.off + 12] = 0x8f;
    expect(seg.dataOffset).toBe(32);
    expect(seg.reserved).toBe(0x0f);
    expect(seg.check()).toBeNull();
  });

  it('wrap clamps len to the buffer', () => {
    const { pkt } = segOf(SYN);
    expect(new TcpSegment().wrap(pkt, 20, 1000).len).toBe(40);
    expect(new TcpSegment().wrap(pkt, 100).len).toBe(0);
  });
});

describe('emitTcp', () => {
  it('writes SACK blocks and reaches the 60-byte maximum', () => {
    const repr = createTcpRepr();
    repr.srcPort = 80;
    repr.dstPort = 40000;
    repr.seq = 0xfffffff0;
    repr.ack = 0x10;
    repr.flags = TCP_ACK;
    repr.window = 0xffff;
    repr.options.timestamps = true;
    repr.options.tsVal = 0xdeadbeef;
    repr.options.tsEcr = 1;
    setSackBlock(repr.options, 0, 100, 200);
    setSackBlock(repr.options, 1, 300, 400);
    setSackBlock(repr.options, 2, 500, 600);
    expect(tcpHeaderLen(repr)).toBe(60);
    const buf = new Uint8Array(60);
    const seg = new TcpSegment().wrap(buf);
    expect(emitTcp(repr, seg)).toBe(60);
    seg.fillChecksum(0x0a000001, 0x0a000002);
    expect(seg.check()).toBeNull();
    expect(seg.verifyChecksum(0x0a000001, 0x0a000002)).toBe(true);
    const back = parseTcp(seg);
    expect(back.seq).toBe(0xfffffff0);
    expect(back.ack).toBe(0x10);
    expect(back.window).toBe(0xffff);
    expect(back.options.sackCount).toBe(3);
    expect(Array.from(back.options.sackBlocks.subarray(0, 6))).toEqual([100, 200, 300, 400, 500, 600]);
  });

  it('writes a bare header of 20 bytes and clears the reserved bits', () => {
    const repr = createTcpRepr();
    repr.flags = 0x1ff; // only the low 8 bits are flags
    const buf = new Uint8Array(20).fill(0xff);
    expect(emitTcp(repr, new TcpSegment().wrap(buf))).toBe(20);
    expect(buf[12]).toBe(0x50);
    expect(buf[13]).toBe(0xff);
  });

  it('computes SEG.LEN', () => {
    expect(segmentLength(TCP_SYN, 0)).toBe(1);
    expect(segmentLength(TCP_SYN | TCP_FIN, 10)).toBe(12);
    expect(segmentLength(TCP_ACK, 1448)).toBe(1448);
  });
});

describe('TCP fuzz (seeded)', () => {
  it('mutated headers: check() gates every read, nothing throws or loops', { timeout: 20_000 }, () => {
    const rnd = mulberry32(0x7c9);
    const bases = [SYN, SYNACK, ACK, DATA, BSD_SYN].map((h) => {
      const { seg } = segOf(h);
      return seg.buf.subarray(seg.off, seg.off + seg.len);
    });
    const seg = new TcpSegment();
    const repr = createTcpRepr();
    const buf = new Uint8Array(80);
    let accepted = 0;
    for (let iter = 0; iter < 20_000; iter++) {
      const base = bases[iter % bases.length]!;
      buf.fill(0);
      buf.set(base);
      const flips = 1 + Math.floor(rnd() * 6);
      for (let k = 0; k < flips; k++) {
        // Mostly the data offset and the options, sometimes anywhere.
        const at = rnd() < 0.3 ? 12 : 20 + Math.floor(rnd() * 44);
        buf[at] = Math.floor(rnd() * 256);
      }
      const len = rnd() < 0.2 ? Math.floor(rnd() * 80) : Math.max(base.length, 20 + Math.floor(rnd() * 60));
      seg.wrap(buf, 0, len);
      if (seg.check() !== null) continue;
      accepted++;
      parseTcp(seg, repr);
      if (repr.payloadLen < 0 || repr.options.sackCount > 4) throw new Error(`invariant broken at ${iter}`);
      if (repr.options.wscale > 14 || repr.options.wscale < -1) throw new Error(`wscale at ${iter}`);
      seg.verifyChecksum(1, 2);
    }
    expect(accepted).toBeGreaterThan(5000);
  });

  it('random option regions in a header: parseTcp agrees with parseTcpOptions', () => {
    const rnd = mulberry32(99);
    const seg = new TcpSegment();
    const repr = createTcpRepr();
    const direct = new TcpOptions();
    const buf = new Uint8Array(60);
    for (let iter = 0; iter < 20_000; iter++) {
      const words = 5 + Math.floor(rnd() * 11);
      for (let i = 20; i < 60; i++) buf[i] = rnd() < 0.5 ? Math.floor(rnd() * 10) : Math.floor(rnd() * 256);
      seg.wrap(buf);
      seg.dataOffset = words * 4;
      expect(seg.check()).toBeNull();
      parseTcp(seg, repr);
      parseTcpOptions(buf, 20, words * 4 - 20, direct);
      if (
        repr.options.mss !== direct.mss ||
        repr.options.wscale !== direct.wscale ||
        repr.options.sackCount !== direct.sackCount ||
        repr.options.sackCount > 4 ||
        repr.payloadLen !== 60 - words * 4
      ) {
        throw new Error(`mismatch at ${iter}`);
      }
    }
  });

  it('fillChecksum then verifyChecksum holds for random segments (odd lengths too)', () => {
    const rnd = mulberry32(3);
    const seg = new TcpSegment();
    const repr = createTcpRepr();
    for (let iter = 0; iter < 2000; iter++) {
      repr.seq = (rnd() * 2 ** 32) >>> 0;
      repr.ack = (rnd() * 2 ** 32) >>> 0;
      repr.flags = Math.floor(rnd() * 256);
      repr.window = Math.floor(rnd() * 65536);
      repr.options.timestamps = rnd() < 0.5;
      repr.payloadLen = Math.floor(rnd() * 200);
      const hl = tcpHeaderLen(repr);
      const buf = new Uint8Array(hl + repr.payloadLen);
      for (let i = hl; i < buf.length; i++) buf[i] = Math.floor(rnd() * 256);
      seg.wrap(buf);
      emitTcp(repr, seg);
      const src = (rnd() * 2 ** 32) >>> 0;
      const dst = (rnd() * 2 ** 32) >>> 0;
      seg.fillChecksum(src, dst);
      expect(seg.check()).toBeNull();
      expect(seg.payloadLen).toBe(repr.payloadLen);
      expect(seg.verifyChecksum(src, dst)).toBe(true);
    }
  });
});
