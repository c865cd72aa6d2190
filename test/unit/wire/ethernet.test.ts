import { describe, expect, it } from 'vitest';
import {
  ETH_HLEN,
  ETH_ZLEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_VLAN,
  EthernetFrame,
  emitEthernet,
  ethernetHeaderLen,
  parseEthernet,
  type EthernetRepr,
} from '../../../src/wire/ethernet.js';
import { MAC_BROADCAST, parseMac } from '../../../src/wire/address.js';
import { hex, mulberry32, bounded } from '../../helpers/bytes.js';

// An ARP request as received by a Linux host (tcpdump -e: "bc:ee:7b:9d:ee:02 >
// Broadcast, ethertype ARP (0x0806), length 60: Request who-has 192.168.5.190
// tell 192.168.5.109"): 14 + 28 bytes, padded with 18 zeros to ETH_ZLEN.
const ARP_FRAME = hex(`
  ffff ffff ffff bcee 7b9d ee02 0806
  0001 0800 0604 0001 bcee 7b9d ee02 c0a8 056d 0000 0000 0000 c0a8 05be
  0000 0000 0000 0000 0000 0000 0000 0000 0000`);

describe('EthernetFrame', () => {
  it('parses a captured ARP broadcast frame with padding', () => {
    expect(ARP_FRAME.length).toBe(ETH_ZLEN);
    const f = new EthernetFrame().wrap(ARP_FRAME);
    expect(f.check()).toBeNull();
    expect(f.dst).toBe(MAC_BROADCAST);
    expect(f.src).toBe(parseMac('bc:ee:7b:9d:ee:02'));
    expect(f.ethertype).toBe(ETHERTYPE_ARP);
    expect(f.payloadOffset).toBe(ETH_HLEN);
    expect(f.payloadLen).toBe(46);
    expect(parseEthernet(f)).toEqual({ dst: MAC_BROADCAST, src: 0xbcee7b9dee02, ethertype: 0x0806 });
  });

  it('emit reproduces the captured header bytes', () => {
    const out = new Uint8Array(ETH_ZLEN);
    out.set(ARP_FRAME.subarray(ETH_HLEN), ETH_HLEN);
    const repr = parseEthernet(new EthernetFrame().wrap(ARP_FRAME));
    emitEthernet(repr, new EthernetFrame().wrap(out));
    expect(out).toEqual(ARP_FRAME);
    expect(ethernetHeaderLen(repr)).toBe(14);
  });

  it('works at an offset inside a larger buffer and writes nothing outside', () => {
    const big = new Uint8Array(100).fill(0xee);
    const f = new EthernetFrame().wrap(big, 10, 20);
    emitEthernet({ dst: 0x0102_0304_0506, src: 0x5254_0012_3456, ethertype: ETHERTYPE_IPV4 }, f);
    expect(Array.from(big.subarray(10, 24))).toEqual([1, 2, 3, 4, 5, 6, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 8, 0]);
    expect(big[9]).toBe(0xee);
    expect(big[24]).toBe(0xee);
    expect(f.check()).toBeNull();
    expect(f.payloadOffset).toBe(24);
    expect(f.payloadLen).toBe(6);
  });

  it('setters round trip', () => {
    const f = new EthernetFrame().wrap(new Uint8Array(14));
    f.dst = 0xffff_ffff_fffe;
    f.src = 0x8000_0000_0001;
    f.ethertype = ETHERTYPE_VLAN;
    expect([f.dst, f.src, f.ethertype]).toEqual([0xffff_ffff_fffe, 0x8000_0000_0001, 0x8100]);
  });

  it('reuses a parse target when given one', () => {
    const out: EthernetRepr = { dst: 0, src: 0, ethertype: 0 };
    expect(parseEthernet(new EthernetFrame().wrap(ARP_FRAME), out)).toBe(out);
    expect(out.ethertype).toBe(ETHERTYPE_ARP);
  });

  it("is 'truncated' below 14 bytes and fine from 14", () => {
    const f = new EthernetFrame();
    for (let n = 0; n < ETH_HLEN; n++) expect(f.wrap(ARP_FRAME.subarray(0, n)).check(), `len ${n}`).toBe('truncated');
    expect(f.wrap(ARP_FRAME.subarray(0, 14)).check()).toBeNull();
    expect(f.payloadLen).toBe(0);
  });

  it('wrap clamps len to the buffer', () => {
    const f = new EthernetFrame();
    f.wrap(ARP_FRAME, 50, 1000);
    expect(f.len).toBe(10);
    expect(f.check()).toBe('truncated');
    f.wrap(ARP_FRAME, 70);
    expect(f.len).toBe(0);
    f.wrap(ARP_FRAME, 0, -5);
    expect(f.len).toBe(0);
  });

  it('fuzz: check never throws and getters stay inside [off, off+len)', () => {
    const rnd = mulberry32(0xe7e7);
    const f = new EthernetFrame();
    // The harness itself catches a read past the end.
    expect(() => f.wrap(bounded(ARP_FRAME, 0, 13), 0, 13).ethertype).toThrow(RangeError);
    for (let iter = 0; iter < 10_000; iter++) {
      const n = Math.floor(rnd() * 40);
      const pre = Math.floor(rnd() * 8);
      const big = new Uint8Array(pre + n + 8);
      for (let i = 0; i < big.length; i++) big[i] = Math.floor(rnd() * 256);
      f.wrap(bounded(big, pre, pre + n), pre, n);
      const err = f.check();
      expect(err === null || err === 'truncated').toBe(true);
      expect(err === null).toBe(n >= ETH_HLEN);
      if (err === null) {
        const r = parseEthernet(f);
        expect(r.dst).toBeLessThan(2 ** 48);
        expect(f.payloadOffset + f.payloadLen).toBe(pre + n);
      }
    }
  });
});
