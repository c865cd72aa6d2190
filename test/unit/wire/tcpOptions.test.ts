import { describe, expect, it } from 'vitest';
import {
  TcpOptions,
  clearTcpOptions,
  copyTcpOptions,
  emitTcpOptions,
  parseTcpOptions,
  setSackBlock,
  tcpOptionsLength,
} from '../../../src/wire/tcpOptions.js';
import { hex, toHex, mulberry32 } from '../../helpers/bytes.js';

function parse(region: Uint8Array, out = new TcpOptions()): [ReturnType<typeof parseTcpOptions>, TcpOptions] {
  return [parseTcpOptions(region, 0, region.length, out), out];
}

function emitted(o: TcpOptions): string {
  const buf = new Uint8Array(64).fill(0xee);
  const n = emitTcpOptions(o, buf, 2);
  expect(n).toBe(tcpOptionsLength(o));
  expect(buf[0]).toBe(0xee);
  expect(buf[2 + n]).toBe(0xee); // nothing written past the returned length
  return toHex(buf.subarray(2, 2 + n));
}

// Option regions of real segments (the full packets are in tcp.test.ts).
// Linux SYN, 10.0.0.4 -> 10.0.0.3: mss 1460, sackOK, TS val 3003747107 ecr 0, nop, wscale 7.
const LINUX_SYN = '020405b4 0402080a b3098b23 00000000 01030307';
// Linux SYN-ACK (borg.org): mss 1400, sackOK, TS val 3757379566 ecr 774403430, nop, wscale 0.
const LINUX_SYNACK = '02040578 0402080a dff50fee 2e287566 01030300';
// Linux SYN-ACK without timestamps (p0f's LINUX_26_SYN_ACK): mss 1380, nop, nop, sackOK, nop, wscale 9.
const LINUX_SYNACK_NOTS = '02040564 01010402 01030309';
// Linux pure ACK: nop, nop, TS val 3003747108 ecr 2489161299.
const LINUX_ACK = '0101080a b3098b24 945d9653';
// macOS/BSD SYN: mss 1460, nop, wscale 3, nop, nop, TS val 774403430 ecr 0, sackOK, eol (+ pad).
const BSD_SYN = '020405b4 01030303 0101080a 2e287566 00000000 04020000';

describe('parseTcpOptions on real option regions', () => {
  it('reads a Linux SYN', () => {
    const [err, o] = parse(hex(LINUX_SYN));
    expect(err).toBeNull();
    expect(o.mss).toBe(1460);
    expect(o.sackPermitted).toBe(true);
    expect(o.timestamps).toBe(true);
    expect(o.tsVal).toBe(3003747107);
    expect(o.tsEcr).toBe(0);
    expect(o.wscale).toBe(7);
    expect(o.sackCount).toBe(0);
  });

  it('reads a Linux SYN-ACK with window scale 0', () => {
    const [err, o] = parse(hex(LINUX_SYNACK));
    expect(err).toBeNull();
    expect(o.mss).toBe(1400);
    expect(o.sackPermitted).toBe(true);
    expect(o.tsVal).toBe(3757379566);
    expect(o.tsEcr).toBe(774403430);
    expect(o.wscale).toBe(0);
  });

  it('reads a Linux SYN-ACK without timestamps', () => {
    const [err, o] = parse(hex(LINUX_SYNACK_NOTS));
    expect(err).toBeNull();
    expect(o.mss).toBe(1380);
    expect(o.sackPermitted).toBe(true);
    expect(o.timestamps).toBe(false);
    expect(o.wscale).toBe(9);
  });

  it('reads a pure ACK with timestamps', () => {
    const [err, o] = parse(hex(LINUX_ACK));
    expect(err).toBeNull();
    expect(o.mss).toBe(0);
    expect(o.wscale).toBe(-1);
    expect(o.sackPermitted).toBe(false);
    expect(o.timestamps).toBe(true);
    expect(o.tsVal).toBe(3003747108);
    expect(o.tsEcr).toBe(2489161299);
  });

  it('reads a BSD-layout SYN ending in EOL', () => {
    const [err, o] = parse(hex(BSD_SYN));
    expect(err).toBeNull();
    expect(o.mss).toBe(1460);
    expect(o.wscale).toBe(3);
    expect(o.timestamps).toBe(true);
    expect(o.tsVal).toBe(774403430);
    expect(o.sackPermitted).toBe(true);
  });

  it('reads SACK blocks (NOP NOP SACK after TS)', () => {
    const region = hex('0101080a 00000001 00000002 0101051a 11111111 22222222 fffffff0 00000010 80000000 80000100');
    const [err, o] = parse(region);
    expect(err).toBeNull();
    expect(o.timestamps).toBe(true);
    expect(o.sackCount).toBe(3);
    expect(Array.from(o.sackBlocks.subarray(0, 6))).toEqual([
      0x11111111, 0x22222222, 0xfffffff0, 0x10, 0x80000000, 0x80000100,
    ]);
  });

  it('reads four SACK blocks (36-byte option)', () => {
    const [err, o] = parse(hex('01010522' + '00000001 00000002'.repeat(4)));
    expect(err).toBeNull();
    expect(o.sackCount).toBe(4);
  });

  it('honours an offset and length inside a larger buffer', () => {
    const buf = hex('ffff' + LINUX_ACK + '0204ffff');
    const o = new TcpOptions();
    expect(parseTcpOptions(buf, 2, 12, o)).toBeNull();
    expect(o.timestamps).toBe(true);
    expect(o.mss).toBe(0); // the MSS after the region is not read
  });

  it('clamps a length that runs past the buffer', () => {
    const o = new TcpOptions();
    expect(parseTcpOptions(hex(LINUX_ACK), 0, 1000, o)).toBeNull();
    expect(o.tsVal).toBe(3003747108);
  });

  it('clears what an earlier parse left', () => {
    const o = new TcpOptions();
    parse(hex(LINUX_SYN), o);
    setSackBlock(o, 0, 1, 2);
    parse(hex(LINUX_ACK), o);
    expect(o.mss).toBe(0);
    expect(o.wscale).toBe(-1);
    expect(o.sackPermitted).toBe(false);
    expect(o.sackCount).toBe(0);
    expect(o.timestamps).toBe(true);
  });

  it('treats an empty region as no options', () => {
    const [err, o] = parse(new Uint8Array(0));
    expect(err).toBeNull();
    expect(o.mss).toBe(0);
    expect(o.wscale).toBe(-1);
  });
});

describe('parseTcpOptions: values and wrong lengths', () => {
  it('clamps window scale above 14 to 14 (RFC 7323 §2.3)', () => {
    expect(parse(hex('010303 0e'))[1].wscale).toBe(14);
    expect(parse(hex('010303 0f'))[1].wscale).toBe(14);
    expect(parse(hex('010303 ff'))[1].wscale).toBe(14);
  });

  it('ignores known kinds with the wrong length, like Linux', () => {
    // MSS len 3, WS len 4, SACK-perm len 3, TS len 8, then a good MSS.
    const [err, o] = parse(hex('020305 03040700 040300 0808 000000000000 020405b4'));
    expect(err).toBeNull();
    expect(o.wscale).toBe(-1);
    expect(o.sackPermitted).toBe(false);
    expect(o.timestamps).toBe(false);
    expect(o.mss).toBe(1460);
  });

  it('ignores SACK options whose length is not 2 + 8n with n in 1..4', () => {
    expect(parse(hex('0502'))[1].sackCount).toBe(0); // n = 0
    expect(parse(hex('0509' + '00'.repeat(7)))[1].sackCount).toBe(0); // not a multiple of 8
    const five = hex('052a' + '00000001'.repeat(10)); // n = 5 in a 42-byte region
    const [err, o] = parse(five);
    expect(err).toBeNull();
    expect(o.sackCount).toBe(0);
  });

  it('skips unknown kinds by their length', () => {
    // MPTCP (30) len 4, TFO cookie (34) len 2, experimental (254) len 6, then TS.
    const [err, o] = parse(hex('1e040000 2202 fe06aabbccdd 0101080a 00000005 00000006'));
    expect(err).toBeNull();
    expect(o.tsVal).toBe(5);
    expect(o.tsEcr).toBe(6);
  });

  it('lets a repeated option overwrite the earlier one', () => {
    expect(parse(hex('020405b4 02040218'))[1].mss).toBe(536);
  });
});

describe('parseTcpOptions: malformed regions terminate', () => {
  it('length 0', () => {
    const [err, o] = parse(hex('020405b4 1e00 0000'));
    expect(err).toBe('malformed');
    expect(o.mss).toBe(1460); // options before the bad one are kept
  });

  it('length 1', () => {
    expect(parse(hex('0801 00000000'))[0]).toBe('malformed');
    expect(parse(hex('0201 0000'))[0]).toBe('malformed');
  });

  it('length past the end', () => {
    expect(parse(hex('080a 00000000'))[0]).toBe('malformed');
    expect(parse(hex('0101 0204 05'))[0]).toBe('malformed');
  });

  it('a kind at the last byte with no length', () => {
    expect(parse(hex('010101 02'))[0]).toBe('malformed');
    expect(parse(hex('1e'))[0]).toBe('malformed');
  });

  it('a huge SACK length', () => {
    const [err, o] = parse(hex('0101 05ff' + '00'.repeat(36)));
    expect(err).toBe('malformed');
    expect(o.sackCount).toBe(0);
  });

  it('many NOPs', () => {
    const [err, o] = parse(new Uint8Array(40).fill(1));
    expect(err).toBeNull();
    expect(o.mss).toBe(0);
    const big = new Uint8Array(100_000).fill(1);
    expect(parseTcpOptions(big, 0, big.length, o)).toBeNull();
  });

  it('EOL early: what follows is not read', () => {
    const [err, o] = parse(hex('020405b4 00 0201 0303 ff 0000'));
    expect(err).toBeNull();
    expect(o.mss).toBe(1460);
    expect(o.wscale).toBe(-1);
    expect(parse(hex('00 1e00'))[0]).toBeNull(); // a bad option after EOL is not seen
  });
});

describe('emitTcpOptions: Linux layout', () => {
  function opts(f: (o: TcpOptions) => void): TcpOptions {
    const o = new TcpOptions();
    f(o);
    return o;
  }

  it('reproduces a Linux SYN', () => {
    const o = opts((o) => {
      o.mss = 1460;
      o.sackPermitted = true;
      o.timestamps = true;
      o.tsVal = 3003747107;
      o.tsEcr = 0;
      o.wscale = 7;
    });
    expect(emitted(o)).toBe(LINUX_SYN.replace(/ /g, ''));
  });

  it('reproduces what it parsed from real segments', () => {
    for (const h of [LINUX_SYN, LINUX_SYNACK, LINUX_SYNACK_NOTS, LINUX_ACK]) {
      const [err, o] = parse(hex(h));
      expect(err).toBeNull();
      expect(emitted(o)).toBe(h.replace(/ /g, ''));
    }
  });

  it('writes the BSD SYN in Linux order', () => {
    const [, o] = parse(hex(BSD_SYN));
    expect(emitted(o)).toBe('020405b4' + '0402080a' + '2e287566' + '00000000' + '01030303');
  });

  it('writes SACK-permitted alone as NOP NOP SACK_PERM', () => {
    expect(emitted(opts((o) => (o.sackPermitted = true)))).toBe('01010402');
  });

  it('writes nothing for no options', () => {
    expect(emitted(new TcpOptions())).toBe('');
    expect(tcpOptionsLength(new TcpOptions())).toBe(0);
  });

  it('writes SACK blocks after timestamps, at most 3 beside them', () => {
    const o = opts((o) => {
      o.timestamps = true;
      o.tsVal = 1;
      o.tsEcr = 2;
      setSackBlock(o, 0, 0x100, 0x200);
      setSackBlock(o, 1, 0x300, 0x400);
      setSackBlock(o, 2, 0x500, 0x600);
      setSackBlock(o, 3, 0x700, 0x800);
    });
    expect(tcpOptionsLength(o)).toBe(40);
    expect(emitted(o)).toBe(
      '0101080a 00000001 00000002 0101051a 00000100 00000200 00000300 00000400 00000500 00000600'.replace(/ /g, ''),
    );
    o.timestamps = false;
    expect(tcpOptionsLength(o)).toBe(36);
    expect(emitted(o)).toBe('01010522' + '00000100000002000000030000000400000005000000060000000700' + '00000800');
  });

  it('drops SACK blocks that do not fit beside SYN options', () => {
    const o = opts((o) => {
      o.mss = 1460;
      o.sackPermitted = true;
      o.timestamps = true;
      o.wscale = 7;
      setSackBlock(o, 0, 1, 2);
      setSackBlock(o, 1, 3, 4);
      setSackBlock(o, 2, 5, 6);
    });
    expect(tcpOptionsLength(o)).toBe(20 + 4 + 16); // two blocks fit in the last 20 bytes
    const [err, back] = parse(hex(emitted(o)));
    expect(err).toBeNull();
    expect(back.sackCount).toBe(2);
  });

  it('sends a window scale above 14 as 14', () => {
    expect(emitted(opts((o) => (o.wscale = 20)))).toBe('0103030e');
  });

  it('copy and clear', () => {
    const [, a] = parse(hex(LINUX_SYN));
    setSackBlock(a, 0, 7, 8);
    const b = new TcpOptions();
    copyTcpOptions(b, a);
    expect(emitted(b)).toBe(emitted(a));
    clearTcpOptions(b);
    expect(tcpOptionsLength(b)).toBe(0);
  });
});

/** An independent, obviously-correct model of the parser (Linux semantics). */
function referenceParse(r: Uint8Array): {
  err: string | null;
  mss: number;
  ws: number;
  sp: boolean;
  ts: [number, number] | null;
  sack: number[];
} {
  const res = { err: null as string | null, mss: 0, ws: -1, sp: false, ts: null as [number, number] | null, sack: [] as number[] };
  const be32 = (p: number): number => r[p]! * 0x1000000 + r[p + 1]! * 0x10000 + r[p + 2]! * 0x100 + r[p + 3]!;
  let p = 0;
  for (;;) {
    if (p >= r.length || r[p] === 0) return res;
    if (r[p] === 1) {
      p += 1;
      continue;
    }
    if (p + 1 >= r.length) return { ...res, err: 'malformed' };
    const kind = r[p]!;
    const len = r[p + 1]!;
    if (len < 2 || p + len > r.length) return { ...res, err: 'malformed' };
    if (kind === 2 && len === 4) res.mss = r[p + 2]! * 256 + r[p + 3]!;
    if (kind === 3 && len === 3) res.ws = Math.min(14, r[p + 2]!);
    if (kind === 4 && len === 2) res.sp = true;
    if (kind === 8 && len === 10) res.ts = [be32(p + 2), be32(p + 6)];
    if (kind === 5 && len >= 10 && len <= 34 && (len - 2) % 8 === 0) {
      res.sack = [];
      for (let q = p + 2; q < p + len; q += 4) res.sack.push(be32(q));
    }
    p += len;
  }
}

describe('parseTcpOptions fuzz (seeded)', () => {
  it('never throws, always terminates, and agrees with a reference model', { timeout: 20_000 }, () => {
    const rnd = mulberry32(0x5eed1234);
    const o = new TcpOptions();
    const buf = new Uint8Array(48);
    let malformed = 0;
    for (let iter = 0; iter < 20_000; iter++) {
      const len = Math.floor(rnd() * 41);
      for (let i = 0; i < len; i++) {
        const x = rnd();
        // Bias towards the interesting kinds and small lengths.
        buf[i] = x < 0.5 ? Math.floor(rnd() * 11) : x < 0.6 ? [1, 2, 3, 4, 5, 8][Math.floor(rnd() * 6)]! : Math.floor(rnd() * 256);
      }
      const region = buf.subarray(0, len);
      const err = parseTcpOptions(buf, 0, len, o);
      const ref = referenceParse(region);
      expect(err).toBe(ref.err);
      expect(o.mss).toBe(ref.mss);
      expect(o.wscale).toBe(ref.ws);
      expect(o.sackPermitted).toBe(ref.sp);
      expect(o.timestamps).toBe(ref.ts !== null);
      if (ref.ts) expect([o.tsVal, o.tsEcr]).toEqual(ref.ts);
      expect(o.sackCount).toBeLessThanOrEqual(4);
      expect(Array.from(o.sackBlocks.subarray(0, 2 * o.sackCount))).toEqual(ref.sack);
      expect(o.wscale).toBeGreaterThanOrEqual(-1);
      expect(o.wscale).toBeLessThanOrEqual(14);
      if (err) malformed++;
    }
    // The generator exercises both outcomes.
    expect(malformed).toBeGreaterThan(1000);
    expect(malformed).toBeLessThan(19_000);
  });

  it('emit then parse round-trips random option sets', () => {
    const rnd = mulberry32(42);
    const a = new TcpOptions();
    const b = new TcpOptions();
    const buf = new Uint8Array(40);
    for (let iter = 0; iter < 5000; iter++) {
      clearTcpOptions(a);
      if (rnd() < 0.5) a.mss = 1 + Math.floor(rnd() * 65535);
      if (rnd() < 0.5) a.wscale = Math.floor(rnd() * 15);
      a.sackPermitted = rnd() < 0.5;
      if (rnd() < 0.5) {
        a.timestamps = true;
        a.tsVal = (rnd() * 2 ** 32) >>> 0;
        a.tsEcr = (rnd() * 2 ** 32) >>> 0;
      }
      const n = Math.floor(rnd() * 5);
      for (let k = 0; k < n; k++) setSackBlock(a, k, (rnd() * 2 ** 32) >>> 0, (rnd() * 2 ** 32) >>> 0);
      const len = emitTcpOptions(a, buf, 0);
      expect(len % 4).toBe(0);
      expect(len).toBeLessThanOrEqual(40);
      expect(len).toBe(tcpOptionsLength(a));
      expect(parseTcpOptions(buf, 0, len, b)).toBeNull();
      expect(b.mss).toBe(a.mss);
      expect(b.wscale).toBe(a.wscale);
      expect(b.sackPermitted).toBe(a.sackPermitted);
      expect(b.timestamps).toBe(a.timestamps);
      if (a.timestamps) expect([b.tsVal, b.tsEcr]).toEqual([a.tsVal, a.tsEcr]);
      expect(b.sackCount).toBeLessThanOrEqual(a.sackCount);
      expect(Array.from(b.sackBlocks.subarray(0, 2 * b.sackCount))).toEqual(
        Array.from(a.sackBlocks.subarray(0, 2 * b.sackCount)),
      );
    }
  });
});
