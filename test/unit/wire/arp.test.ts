import { describe, expect, it } from 'vitest';
import {
  ARP_LEN,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  ArpPacket,
  arpLen,
  emitArp,
  parseArp,
  type ArpError,
  type ArpRepr,
} from '../../../src/wire/arp.js';
import { ETH_HLEN, ETHERTYPE_ARP, EthernetFrame, emitEthernet } from '../../../src/wire/ethernet.js';
import { MAC_BROADCAST, parseIpv4, parseMac } from '../../../src/wire/address.js';
import { hex, mulberry32, bounded } from '../../helpers/bytes.js';

// A Linux capture (tcpdump -e -X on 192.168.5.190):
//   bc:ee:7b:9d:ee:02 > Broadcast, ethertype ARP (0x0806), length 60:
//     Request who-has 192.168.5.190 tell 192.168.5.109, length 46
//   40:16:7e:79:c7:36 > bc:ee:7b:9d:ee:02, ethertype ARP (0x0806), length 42:
//     Reply 192.168.5.190 is-at 40:16:7e:79:c7:36, length 28
// The request arrived padded to 60 bytes; the reply was captured on its way
// out, before any padding.
const REQUEST_FRAME = hex(`
  ffff ffff ffff bcee 7b9d ee02 0806
  0001 0800 0604 0001 bcee 7b9d ee02 c0a8 056d 0000 0000 0000 c0a8 05be
  0000 0000 0000 0000 0000 0000 0000 0000 0000`);
const REPLY_FRAME = hex(`
  bcee 7b9d ee02 4016 7e79 c736 0806
  0001 0800 0604 0002 4016 7e79 c736 c0a8 05be bcee 7b9d ee02 c0a8 056d`);

// "who-has 10.0.0.2 tell 10.0.0.1" as Linux sends it (target MAC zero).
const WHO_HAS_10_0_0_2 = hex(`
  0001 0800 0604 0001 5254 0012 3456 0a00 0001 0000 0000 0000 0a00 0002`);

const mac = (s: string): number => parseMac(s)!;
const ip = (s: string): number => parseIpv4(s)!;

describe('ArpPacket', () => {
  it('parses the captured request (with Ethernet padding after it)', () => {
    const p = new ArpPacket().wrap(REQUEST_FRAME, ETH_HLEN);
    expect(p.len).toBe(46);
    expect(p.check()).toBeNull();
    expect([p.htype, p.ptype, p.hlen, p.plen, p.op]).toEqual([1, 0x0800, 6, 4, 1]);
    expect(parseArp(p)).toEqual({
      op: ARP_OP_REQUEST,
      senderMac: mac('bc:ee:7b:9d:ee:02'),
      senderIp: ip('192.168.5.109'),
      targetMac: 0,
      targetIp: ip('192.168.5.190'),
    });
  });

  it('parses the captured reply', () => {
    const p = new ArpPacket().wrap(REPLY_FRAME, ETH_HLEN);
    expect(p.check()).toBeNull();
    expect(parseArp(p)).toEqual({
      op: ARP_OP_REPLY,
      senderMac: mac('40:16:7e:79:c7:36'),
      senderIp: ip('192.168.5.190'),
      targetMac: mac('bc:ee:7b:9d:ee:02'),
      targetIp: ip('192.168.5.109'),
    });
  });

  it('emit reproduces both captured frames byte for byte', () => {
    for (const frame of [REQUEST_FRAME, REPLY_FRAME]) {
      const repr = parseArp(new ArpPacket().wrap(frame, ETH_HLEN));
      const eth = new EthernetFrame().wrap(frame);
      const out = new Uint8Array(frame.length); // zero padding, as a NIC adds
      emitEthernet({ dst: eth.dst, src: eth.src, ethertype: ETHERTYPE_ARP }, new EthernetFrame().wrap(out));
      emitArp(repr, new ArpPacket().wrap(out, ETH_HLEN));
      expect(out).toEqual(frame);
    }
  });

  it('emits the request Linux sends for who-has 10.0.0.2 tell 10.0.0.1', () => {
    const out = new Uint8Array(ARP_LEN).fill(0xaa);
    emitArp(
      { op: ARP_OP_REQUEST, senderMac: mac('52:54:00:12:34:56'), senderIp: ip('10.0.0.1'), targetMac: 0, targetIp: ip('10.0.0.2') },
      new ArpPacket().wrap(out),
    );
    expect(out).toEqual(WHO_HAS_10_0_0_2);
    expect(arpLen()).toBe(28);
  });

  it('reuses a parse target when given one', () => {
    const out: ArpRepr = { op: ARP_OP_REPLY, senderMac: 1, senderIp: 1, targetMac: 1, targetIp: 1 };
    expect(parseArp(new ArpPacket().wrap(WHO_HAS_10_0_0_2), out)).toBe(out);
    expect(out).toEqual({ op: 1, senderMac: 0x525400123456, senderIp: 0x0a000001, targetMac: 0, targetIp: 0x0a000002 });
  });

  it('setters round trip', () => {
    const p = new ArpPacket().wrap(new Uint8Array(ARP_LEN));
    p.senderMac = MAC_BROADCAST;
    p.targetMac = 0x8000_0000_0001;
    p.senderIp = 0xffffffff;
    p.targetIp = 0x80000000;
    p.op = ARP_OP_REPLY;
    expect([p.senderMac, p.targetMac, p.senderIp, p.targetIp, p.op]).toEqual([
      MAC_BROADCAST,
      0x8000_0000_0001,
      0xffffffff,
      0x80000000,
      2,
    ]);
  });

  it("is 'truncated' at every length below 28", () => {
    const p = new ArpPacket();
    const arp = REQUEST_FRAME.subarray(ETH_HLEN, ETH_HLEN + ARP_LEN);
    for (let n = 0; n < ARP_LEN; n++) expect(p.wrap(arp.subarray(0, n)).check(), `len ${n}`).toBe('truncated');
    expect(p.wrap(arp).check()).toBeNull();
    // Truncation is reported before anything else is looked at.
    const bad = new Uint8Array(27).fill(0xff);
    expect(p.wrap(bad).check()).toBe('truncated');
  });

  it('rejects each unsupported or malformed field', () => {
    const cases: Array<[number, number[], ArpError]> = [
      [0, [0x00, 0x06], 'unsupported-hardware'], // IEEE 802 networks
      [0, [0x00, 0x00], 'unsupported-hardware'],
      [2, [0x86, 0xdd], 'unsupported-protocol'],
      [2, [0x08, 0x06], 'unsupported-protocol'],
      [4, [0x08], 'bad-lengths'], // hlen
      [4, [0x00], 'bad-lengths'],
      [5, [0x10], 'bad-lengths'], // plen
      [6, [0x00, 0x00], 'bad-operation'],
      [6, [0x00, 0x03], 'bad-operation'], // RARP request
      [6, [0x00, 0x04], 'bad-operation'], // RARP reply
      [6, [0x01, 0x01], 'bad-operation'],
    ];
    const p = new ArpPacket();
    for (const [at, bytes, reason] of cases) {
      const b = WHO_HAS_10_0_0_2.slice();
      b.set(bytes, at);
      expect(p.wrap(b).check(), `${at}: ${bytes}`).toBe(reason);
    }
  });

  it('fuzz: check/parse never throw and stay inside [off, off+len)', () => {
    const rnd = mulberry32(826);
    const p = new ArpPacket();
    expect(() => p.wrap(bounded(WHO_HAS_10_0_0_2, 0, 27), 0, 27).targetIp).toThrow(RangeError);
    const reasons = new Set<string>();
    for (let iter = 0; iter < 10_000; iter++) {
      let body: Uint8Array;
      const mode = rnd();
      if (mode < 0.3) {
        body = new Uint8Array(Math.floor(rnd() * 40));
        for (let i = 0; i < body.length; i++) body[i] = Math.floor(rnd() * 256);
      } else {
        // Mutate a valid packet: a few bytes, then maybe cut or extend it.
        const src = rnd() < 0.5 ? WHO_HAS_10_0_0_2 : REPLY_FRAME.subarray(ETH_HLEN);
        const n = rnd() < 0.7 ? src.length : Math.floor(rnd() * 46);
        body = new Uint8Array(n);
        body.set(src.subarray(0, Math.min(n, src.length)));
        const flips = Math.floor(rnd() * 3);
        for (let k = 0; k < flips && n > 0; k++) {
          const at = Math.floor(rnd() * Math.min(n, 8));
          body[at] = rnd() < 0.5 ? Math.floor(rnd() * 256) : body[at]! ^ (1 << Math.floor(rnd() * 8));
        }
      }
      const pre = Math.floor(rnd() * 8);
      const big = new Uint8Array(pre + body.length + 8).fill(0x5a);
      big.set(body, pre);
      p.wrap(bounded(big, pre, pre + body.length), pre, body.length);
      const err = p.check();
      reasons.add(String(err));
      if (err === null) {
        const r = parseArp(p);
        expect(r.op === 1 || r.op === 2).toBe(true);
        expect(body.length).toBeGreaterThanOrEqual(ARP_LEN);
      }
    }
    expect([...reasons].sort()).toEqual(
      ['bad-lengths', 'bad-operation', 'null', 'truncated', 'unsupported-hardware', 'unsupported-protocol'].sort(),
    );
  });
});
