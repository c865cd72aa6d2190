import { describe, expect, it } from 'vitest';
import {
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_HEADER_LEN,
  Ipv4Packet,
  emitIpv4,
  ipv4HeaderLen,
  isFragment,
  isLimitedBroadcast,
  isLinkLocalIpv4,
  isLoopbackIpv4,
  isMulticastIpv4,
  isReservedClassE,
  isZeroNet,
  parseIpv4,
  type Ipv4Error,
  type Ipv4Repr,
} from '../../../src/wire/ipv4.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { parseIpv4 as addr } from '../../../src/wire/address.js';
import { hex, mulberry32, bounded } from '../../helpers/bytes.js';

// Wikipedia's IPv4 header checksum example: UDP, 192.168.0.1 > 192.168.0.199,
// total length 115, DF, TTL 64, checksum b861.
const WIKI_HEADER = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');

// A real Linux `ping 127.0.0.1` (tcpdump -i lo -X): echo request, id 0x5514,
// seq 1, 56 data bytes (a 16-byte struct timeval, then 0x10..0x37), and the
// kernel's echo reply (new IP ident, DF clear).
const PING_DATA = `2d08 f460 0000 0000 6c83 0d00 0000 0000 1011 1213 1415 1617 1819 1a1b 1c1d 1e1f
  2021 2223 2425 2627 2829 2a2b 2c2d 2e2f 3031 3233 3435 3637`;
const PING_REQUEST = hex(`4500 0054 9210 4000 4001 aa96 7f00 0001 7f00 0001 0800 492b 5514 0001 ${PING_DATA}`);
const PING_REPLY = hex(`4500 0054 9211 0000 4001 ea95 7f00 0001 7f00 0001 0000 512b 5514 0001 ${PING_DATA}`);

// An IGMPv2 membership report for 224.0.0.251 as Linux sends it: TOS 0xc0,
// DF, TTL 1, and a Router Alert option (RFC 2113) making the header 24 bytes.
// (Built by hand; tshark decodes it with good IP and IGMP checksums.)
const IGMP_WITH_RA = hex('46c0 0020 0000 4000 0102 f91b 0a00 0001 e000 00fb 9404 0000 1600 0904 e000 00fb');

/** Independent statement of the acceptance rules, for differential fuzzing. */
function refCheck(b: Uint8Array, checksum: boolean): Ipv4Error | null {
  if (b.length < 20) return 'truncated';
  if (b[0]! >> 4 !== 4) return 'version';
  const hl = (b[0]! % 16) * 4;
  if (hl < 20) return 'ihl';
  if (b.length < hl) return 'truncated';
  const tl = b[2]! * 256 + b[3]!;
  if (tl < hl) return 'total-length';
  if (b.length < tl) return 'truncated';
  if (checksum) {
    let s = 0;
    for (let i = 0; i < hl; i += 2) s += b[i]! * 256 + b[i + 1]!;
    while (s > 0xffff) s = (s % 65536) + Math.floor(s / 65536);
    if (s !== 0xffff) return 'checksum';
  }
  for (let i = 20; i < hl; ) {
    if (b[i] === 0) break;
    if (b[i] === 1) {
      i += 1;
      continue;
    }
    if (i + 2 > hl || b[i + 1]! < 2 || i + b[i + 1]! > hl) return 'options';
    i += b[i + 1]!;
  }
  return null;
}

function withChecksum(b: Uint8Array): Uint8Array {
  new Ipv4Packet().wrap(b).fillChecksum();
  return b;
}

/** A header with the given option bytes (padded to a word) and a 4-byte payload. */
function withOptions(opts: number[]): Uint8Array {
  const hl = 20 + Math.ceil(opts.length / 4) * 4;
  const b = new Uint8Array(hl + 4);
  b.set(IGMP_WITH_RA.subarray(0, 20));
  b[0] = 0x40 | (hl / 4);
  b[2] = 0;
  b[3] = hl + 4;
  b.set(opts, 20);
  return withChecksum(b);
}

describe('Ipv4Packet parse', () => {
  it('parses the Wikipedia example header', () => {
    const b = new Uint8Array(0x73);
    b.set(WIKI_HEADER);
    const p = new Ipv4Packet().wrap(b);
    expect(p.check()).toBeNull();
    expect(p.verifyChecksum()).toBe(true);
    expect([p.version, p.ihl, p.headerLen, p.dscp, p.ecn, p.totalLength]).toEqual([4, 5, 20, 0, 0, 115]);
    expect([p.ident, p.flags, p.dontFrag, p.moreFrags, p.fragOffset]).toEqual([0, 2, true, false, 0]);
    expect([p.ttl, p.protocol, p.checksum]).toEqual([64, IPPROTO_UDP, 0xb861]);
    expect(p.src).toBe(addr('192.168.0.1'));
    expect(p.dst).toBe(addr('192.168.0.199'));
    expect([p.payloadOffset, p.payloadLen, p.optionsLen]).toEqual([20, 95, 0]);
  });

  it('parses the captured Linux ping request and reply headers', () => {
    const p = new Ipv4Packet();
    expect(p.wrap(PING_REQUEST).check()).toBeNull();
    expect(parseIpv4(p)).toEqual({
      src: 0x7f000001,
      dst: 0x7f000001,
      protocol: IPPROTO_ICMP,
      ttl: 64,
      payloadLen: 64,
      ident: 0x9210,
      dontFrag: true,
      moreFrags: false,
      fragOffset: 0,
      dscp: 0,
      ecn: 0,
    } satisfies Ipv4Repr);
    expect(p.wrap(PING_REPLY).check()).toBeNull();
    expect(p.ident).toBe(0x9211);
    expect(p.dontFrag).toBe(false);
    expect(p.checksum).toBe(0xea95);
  });

  it('parses a header with a Router Alert option', () => {
    const p = new Ipv4Packet().wrap(IGMP_WITH_RA);
    expect(p.check()).toBeNull();
    expect([p.ihl, p.headerLen, p.optionsOffset, p.optionsLen]).toEqual([6, 24, 20, 4]);
    expect(Array.from(IGMP_WITH_RA.subarray(p.optionsOffset, p.optionsOffset + p.optionsLen))).toEqual([0x94, 4, 0, 0]);
    expect([p.payloadOffset, p.payloadLen]).toEqual([24, 8]);
    expect([p.dscp, p.ecn, p.ttl, p.protocol]).toEqual([48, 0, 1, 2]);
    expect(isMulticastIpv4(p.dst)).toBe(true);
  });

  it('ignores Ethernet padding after totalLength', () => {
    // IGMP_WITH_RA is 32 bytes: in a 60-byte frame it carries 14 bytes of padding.
    const frame = new Uint8Array(60).fill(0);
    frame.set(IGMP_WITH_RA, 14);
    const p = new Ipv4Packet().wrap(frame, 14);
    expect(p.len).toBe(46);
    expect(p.check()).toBeNull();
    expect(p.payloadOffset).toBe(14 + 24);
    expect(p.payloadLen).toBe(8);
  });

  it('reuses a parse target when given one', () => {
    const out = parseIpv4(new Ipv4Packet().wrap(PING_REPLY));
    const again = parseIpv4(new Ipv4Packet().wrap(IGMP_WITH_RA), out);
    expect(again).toBe(out);
    expect(out.ttl).toBe(1);
    expect(out.payloadLen).toBe(8);
  });
});

describe('Ipv4Packet emit', () => {
  it('reproduces the Wikipedia header including checksum b861', () => {
    const repr: Ipv4Repr = {
      src: addr('192.168.0.1')!,
      dst: addr('192.168.0.199')!,
      protocol: IPPROTO_UDP,
      ttl: 64,
      payloadLen: 0x73 - 20,
      ident: 0,
      dontFrag: true,
      moreFrags: false,
      fragOffset: 0,
      dscp: 0,
      ecn: 0,
    };
    const out = new Uint8Array(20).fill(0xcc);
    emitIpv4(repr, new Ipv4Packet().wrap(out));
    expect(out).toEqual(WIKI_HEADER);
    expect(ipv4HeaderLen(repr)).toBe(IPV4_HEADER_LEN);
  });

  it('parse then emit reproduces the captured ping headers exactly', () => {
    for (const pkt of [PING_REQUEST, PING_REPLY]) {
      const repr = parseIpv4(new Ipv4Packet().wrap(pkt));
      const out = pkt.slice();
      out.fill(0, 0, 20);
      emitIpv4(repr, new Ipv4Packet().wrap(out));
      expect(out).toEqual(pkt);
    }
  });

  it('emits DSCP/ECN, fragments and writes only 20 bytes at the offset', () => {
    const big = new Uint8Array(40).fill(0x77);
    const p = new Ipv4Packet().wrap(big, 8, 28);
    emitIpv4(
      {
        src: 0x0a000001,
        dst: 0x0a000002,
        protocol: IPPROTO_TCP,
        ttl: 255,
        payloadLen: 8,
        ident: 0xbeef,
        dontFrag: false,
        moreFrags: true,
        fragOffset: 1480,
        dscp: 46,
        ecn: 3,
      },
      p,
    );
    expect(big[7]).toBe(0x77);
    expect(big[28]).toBe(0x77);
    expect(p.check()).toBeNull();
    expect([p.dscp, p.ecn, p.totalLength, p.ident, p.moreFrags, p.dontFrag, p.fragOffset, p.ttl]).toEqual([
      46, 3, 28, 0xbeef, true, false, 1480, 255,
    ]);
    expect(Array.from(big.subarray(14, 16))).toEqual([0x20, 1480 / 8]);
    expect(isFragment(p)).toBe(true);
  });

  it('fillChecksum covers the options', () => {
    const b = IGMP_WITH_RA.slice();
    b[10] = 0;
    b[11] = 0;
    const p = new Ipv4Packet().wrap(b);
    expect(p.verifyChecksum()).toBe(false);
    p.fillChecksum();
    expect(b).toEqual(IGMP_WITH_RA);
    expect(p.verifyChecksum()).toBe(true);
  });

  it('setters change only their own bits', () => {
    const b = PING_REQUEST.slice();
    const p = new Ipv4Packet().wrap(b);
    p.fragOffset = 8 * 0x1fff;
    expect([p.dontFrag, p.moreFrags, p.fragOffset]).toEqual([true, false, 8 * 0x1fff]);
    p.moreFrags = true;
    p.dontFrag = false;
    expect([p.dontFrag, p.moreFrags, p.fragOffset]).toEqual([false, true, 8 * 0x1fff]);
    p.flags = 0b100; // the reserved ("evil") bit alone
    expect([p.flags, p.dontFrag, p.moreFrags, p.fragOffset]).toEqual([4, false, false, 8 * 0x1fff]);
    p.dscp = 0x3f;
    p.ecn = 1;
    expect([p.dscp, p.ecn]).toEqual([0x3f, 1]);
    p.dscp = 0;
    expect([p.dscp, p.ecn]).toEqual([0, 1]);
    p.headerLen = 60;
    expect([p.version, p.ihl, p.headerLen]).toEqual([4, 15, 60]);
    p.version = 6;
    expect([p.version, p.ihl]).toEqual([6, 15]);
    p.totalLength = 0xffff;
    p.ident = 0xfffe;
    p.ttl = 1;
    p.protocol = 253;
    p.src = 0xffffffff;
    p.dst = 0xe0000001;
    p.checksum = 0x1234;
    expect([p.totalLength, p.ident, p.ttl, p.protocol, p.src, p.dst, p.checksum]).toEqual([
      0xffff, 0xfffe, 1, 253, 0xffffffff, 0xe0000001, 0x1234,
    ]);
    expect(Array.from(b.subarray(20))).toEqual(Array.from(PING_REQUEST.subarray(20)));
  });
});

describe('Ipv4Packet check', () => {
  it("is 'truncated' at every length short of the header or the total length", () => {
    const p = new Ipv4Packet();
    for (let n = 0; n < PING_REQUEST.length; n++) {
      expect(p.wrap(PING_REQUEST.subarray(0, n)).check(), `ping len ${n}`).toBe('truncated');
    }
    for (let n = 0; n < IGMP_WITH_RA.length; n++) {
      expect(p.wrap(IGMP_WITH_RA.subarray(0, n)).check(), `igmp len ${n}`).toBe('truncated');
    }
    expect(p.wrap(PING_REQUEST).check()).toBeNull();
    expect(p.wrap(IGMP_WITH_RA).check()).toBeNull();
  });

  it("'version', 'ihl', 'total-length', 'checksum'", () => {
    const p = new Ipv4Packet();
    const mut = (at: number, v: number, fix = true): Uint8Array => {
      const b = PING_REQUEST.slice();
      b[at] = v;
      return fix ? withChecksum(b) : b;
    };
    expect(p.wrap(mut(0, 0x65)).check()).toBe('version');
    expect(p.wrap(mut(0, 0x05)).check()).toBe('version');
    expect(p.wrap(mut(0, 0x44)).check()).toBe('ihl');
    expect(p.wrap(mut(0, 0x40, false)).check()).toBe('ihl');
    expect(p.wrap(mut(3, 19)).check()).toBe('total-length');
    expect(p.wrap(mut(3, 0)).check()).toBe('total-length');
    expect(p.wrap(mut(3, 20)).check()).toBeNull(); // a bare header is legal
    expect(p.payloadLen).toBe(0);
    const opts = IGMP_WITH_RA.slice();
    opts[3] = 22; // shorter than its 24-byte header
    expect(p.wrap(withChecksum(opts)).check()).toBe('total-length');
    for (let at = 0; at < 20; at++) {
      if (at === 0 || at === 2 || at === 3) continue; // those fail earlier checks first
      const b = PING_REQUEST.slice();
      b[at]! ^= 0x01;
      expect(p.wrap(b).check(), `flip byte ${at}`).toBe('checksum');
      expect(p.check(false)).toBeNull();
      expect(p.verifyChecksum()).toBe(false);
    }
    // A bad checksum in the options region is caught too.
    const b = IGMP_WITH_RA.slice();
    b[22] = 1;
    expect(p.wrap(b).check()).toBe('checksum');
  });

  it("'options': malformed option framing", () => {
    const p = new Ipv4Packet();
    const bad = [
      [0x94, 0x05, 0x00, 0x00], // runs past the header
      [0x94, 0x01, 0x00, 0x00], // length < 2
      [0x94, 0x00, 0x00, 0x00], // length 0: would loop forever if trusted
      [0x01, 0x01, 0x01, 0x94], // type in the last byte, no room for a length
      [0x07, 0x07, 0x04, 0x00, 0x00, 0x00, 0x00, 0x07], // RR fine, then a type with no length
      [0x01, 0x83, 0xff, 0x00],
    ];
    for (const opts of bad) expect(p.wrap(withOptions(opts)).check(), String(opts)).toBe('options');
    const good = [
      [0x94, 0x04, 0x00, 0x00],
      [0x01, 0x01, 0x01, 0x01],
      [0x00, 0xff, 0xff, 0xff], // END: the rest is padding, not parsed
      [0x01, 0x00, 0x94, 0x00],
      [0x07, 0x07, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00], // RR (7 bytes) + END
      [0x83, 0x08, 0x04, 0x0a, 0x00, 0x00, 0x01, 0x01], // LSRR ending exactly at the header end
      new Array<number>(40).fill(0x01), // 40 NOPs: the largest options region
      [0x44, 0x28, ...new Array<number>(38).fill(0x00)], // one 40-byte timestamp option
    ];
    for (const opts of good) expect(p.wrap(withOptions(opts)).check(), String(opts)).toBeNull();
    // check(false) skips only the checksum, not the option walk.
    const b = withOptions([0x94, 0x00, 0x00, 0x00]);
    b[10]! ^= 0xff;
    expect(p.wrap(b).check()).toBe('checksum');
    expect(p.check(false)).toBe('options');
  });

  it('checkHeader accepts the truncated datagram quoted in an ICMP error', () => {
    // Header + 8 bytes of a 1500-byte TCP segment, as a router quotes it.
    const quoted = hex('4500 05dc 4242 4000 3f06 dfd7 0a00 0001 0a00 0002 c350 0050 0102 0304');
    const p = new Ipv4Packet().wrap(quoted);
    expect(p.check()).toBe('truncated');
    expect(p.checkHeader()).toBeNull();
    expect(p.verifyChecksum()).toBe(true);
    expect([p.protocol, p.totalLength, p.payloadOffset, p.dst]).toEqual([IPPROTO_TCP, 1500, 20, 0x0a000002]);
    const p2 = new Ipv4Packet();
    for (let n = 0; n < 20; n++) expect(p2.wrap(quoted.subarray(0, n)).checkHeader()).toBe('truncated');
    expect(p2.wrap(IGMP_WITH_RA.subarray(0, 23)).checkHeader()).toBe('truncated');
    expect(p2.wrap(IGMP_WITH_RA.subarray(0, 24)).checkHeader()).toBeNull();
    const v6 = quoted.slice();
    v6[0] = 0x60;
    expect(p2.wrap(v6).checkHeader()).toBe('version');
    v6[0] = 0x43;
    expect(p2.wrap(v6).checkHeader()).toBe('ihl');
    v6[0] = 0x45;
    v6[2] = 0;
    v6[3] = 4;
    expect(p2.wrap(v6).checkHeader()).toBe('total-length');
  });

  it('fuzz: agrees with the reference, never throws, never reads outside [off, off+len)', () => {
    const rnd = mulberry32(791);
    const byte = (): number => Math.floor(rnd() * 256);
    const p = new Ipv4Packet();
    expect(() => p.wrap(bounded(PING_REQUEST, 0, 19), 0, 19).dst).toThrow(RangeError);
    const seeds = [PING_REQUEST, IGMP_WITH_RA, withOptions([0x07, 0x07, 0x04, 0, 0, 0, 0, 0x01]), withOptions(new Array<number>(40).fill(1))];
    const seen = new Set<string>();
    for (let iter = 0; iter < 10_000; iter++) {
      let body: Uint8Array;
      if (rnd() < 0.15) {
        body = new Uint8Array(Math.floor(rnd() * 80));
        for (let i = 0; i < body.length; i++) body[i] = byte();
        if (rnd() < 0.5 && body.length > 0) body[0] = 0x40 | (body[0]! & 0x0f);
      } else {
        const seed = seeds[Math.floor(rnd() * seeds.length)]!;
        body = seed.slice();
        const r = rnd();
        if (r < 0.2) body[0] = 0x40 | Math.floor(rnd() * 16); // any IHL
        else if (r < 0.35) {
          body[2] = rnd() < 0.8 ? 0 : byte(); // any total length, mostly small
          body[3] = byte();
        } else if (r < 0.6) {
          const hl = (body[0]! & 0x0f) * 4; // scramble the options region
          for (let i = 20; i < hl; i++) if (rnd() < 0.3) body[i] = rnd() < 0.5 ? byte() : Math.floor(rnd() * 4);
        } else {
          const flips = 1 + Math.floor(rnd() * 3);
          for (let k = 0; k < flips; k++) body[Math.floor(rnd() * Math.min(body.length, 64))] = byte();
        }
        if (rnd() < 0.7 && body.length >= 20) {
          const hl = (body[0]! & 0x0f) * 4;
          if (hl >= 20 && hl <= body.length) {
            body[10] = 0;
            body[11] = 0;
            const c = internetChecksum(body, 0, hl);
            body[10] = c >>> 8;
            body[11] = c & 0xff;
          }
        }
        const cut = rnd();
        if (cut < 0.2) body = body.subarray(0, Math.floor(rnd() * body.length));
        else if (cut < 0.35) {
          const longer = new Uint8Array(body.length + Math.floor(rnd() * 30)); // Ethernet-style padding
          longer.set(body);
          body = longer;
        }
      }
      const pre = Math.floor(rnd() * 8);
      const big = new Uint8Array(pre + body.length + 16);
      for (let i = 0; i < big.length; i++) big[i] = byte();
      big.set(body, pre);
      p.wrap(bounded(big, pre, pre + body.length), pre, body.length);
      const strict = p.check();
      const lax = p.check(false);
      seen.add(String(strict));
      expect(strict).toBe(refCheck(body, true));
      expect(lax).toBe(refCheck(body, false));
      const hdr = p.checkHeader();
      if (lax === null) {
        expect(hdr).toBeNull();
        const r = parseIpv4(p);
        expect(r.payloadLen).toBeGreaterThanOrEqual(0);
        expect(p.payloadOffset + r.payloadLen).toBeLessThanOrEqual(pre + body.length);
        expect(p.verifyChecksum()).toBe(strict === null);
        isFragment(p);
        void [p.optionsOffset, p.optionsLen, p.flags, p.checksum, p.version, p.ihl];
      }
      if (hdr === null) void [p.src, p.dst, p.protocol, p.headerLen, p.verifyChecksum()];
    }
    expect([...seen].sort()).toEqual(['checksum', 'ihl', 'null', 'options', 'total-length', 'truncated', 'version']);
  });
});

describe('helpers', () => {
  it('isFragment: MF or a non-zero offset, not DF or the reserved bit', () => {
    const p = new Ipv4Packet();
    const frag = (hi: number, lo: number): boolean => {
      const b = PING_REQUEST.slice();
      b[6] = hi;
      b[7] = lo;
      return isFragment(p.wrap(b));
    };
    expect(frag(0x40, 0x00)).toBe(false);
    expect(frag(0x00, 0x00)).toBe(false);
    expect(frag(0x80, 0x00)).toBe(false);
    expect(frag(0x20, 0x00)).toBe(true); // first fragment
    expect(frag(0x00, 0xb9)).toBe(true); // last fragment, offset 1480
    expect(frag(0x20, 0x01)).toBe(true);
    expect(frag(0x01, 0x00)).toBe(true); // offset bit 8
  });

  it('classifies addresses', () => {
    const a = (s: string): number => addr(s)!;
    const table: Array<[string, boolean, boolean, boolean, boolean, boolean, boolean]> = [
      // addr             mcast  loop   bcast  zero   classE linklocal
      ['0.0.0.0', false, false, false, true, false, false],
      ['0.255.255.255', false, false, false, true, false, false],
      ['1.0.0.0', false, false, false, false, false, false],
      ['10.0.0.1', false, false, false, false, false, false],
      ['126.255.255.255', false, false, false, false, false, false],
      ['127.0.0.1', false, true, false, false, false, false],
      ['127.255.255.255', false, true, false, false, false, false],
      ['128.0.0.0', false, false, false, false, false, false],
      ['169.254.1.1', false, false, false, false, false, true],
      ['169.253.255.255', false, false, false, false, false, false],
      ['223.255.255.255', false, false, false, false, false, false],
      ['224.0.0.0', true, false, false, false, false, false],
      ['224.0.0.251', true, false, false, false, false, false],
      ['239.255.255.255', true, false, false, false, false, false],
      ['240.0.0.0', false, false, false, false, true, false],
      ['255.255.255.254', false, false, false, false, true, false],
      ['255.255.255.255', false, false, true, false, false, false],
    ];
    for (const [s, m, l, b, z, e, ll] of table) {
      expect(
        [isMulticastIpv4(a(s)), isLoopbackIpv4(a(s)), isLimitedBroadcast(a(s)), isZeroNet(a(s)), isReservedClassE(a(s)), isLinkLocalIpv4(a(s))],
        s,
      ).toEqual([m, l, b, z, e, ll]);
    }
  });
});
