import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BLOCK_EPB,
  BLOCK_IDB,
  BLOCK_ISB,
  BLOCK_SHB,
  BYTE_ORDER_MAGIC,
  MAX_COMMENT_BYTES,
  PcapngEncoder,
} from '../../../src/capture/pcapng.js';
import { createCaptureWriter, createEncoder, type CaptureWriterOptions } from '../../../src/capture/writer.js';

// ---- synthetic frames, built by hand ------------------------------------

/** RFC 1071: the one's-complement of the one's-complement sum of 16-bit words. */
function rfc1071(b: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i + 1 < len; i += 2) sum += (b[off + i]! << 8) | b[off + i + 1]!;
  if (len & 1) sum += b[off + len - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const MAC_A = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
const MAC_B = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];
const IP_A = [10, 0, 0, 1];
const IP_B = [10, 0, 0, 2];

/** Who has 10.0.0.2? Tell 10.0.0.1 — 42 bytes. */
function arpRequest(): Uint8Array {
  return Uint8Array.from([
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], ...MAC_A, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
    ...MAC_A, ...IP_A, ...[0, 0, 0, 0, 0, 0], ...IP_B,
  ]);
}

/** An ICMP echo request 10.0.0.1 -> 10.0.0.2 with `payload` bytes of data. */
function icmpEcho(payload: number, seq = 1): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + payload);
  f.set([...MAC_B, ...MAC_A, 0x08, 0x00], 0);
  const ip = 14;
  f.set([0x45, 0, (20 + 8 + payload) >> 8, (20 + 8 + payload) & 0xff, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, ...IP_A, ...IP_B], ip);
  const ipSum = rfc1071(f, ip, 20);
  f[ip + 10] = ipSum >> 8;
  f[ip + 11] = ipSum & 0xff;
  const icmp = ip + 20;
  f.set([8, 0, 0, 0, 0xbe, 0xef, seq >> 8, seq & 0xff], icmp);
  for (let i = 0; i < payload; i++) f[icmp + 8 + i] = (i * 7 + seq) & 0xff;
  const icmpSum = rfc1071(f, icmp, 8 + payload);
  f[icmp + 2] = icmpSum >> 8;
  f[icmp + 3] = icmpSum & 0xff;
  return f;
}

// ---- reading the file back ------------------------------------------------

const pad4 = (n: number) => (n + 3) & ~3;

interface Block {
  type: number;
  /** The block without its type, length and trailing length. */
  body: Buffer;
}

/** Splits a file into blocks, checking both lengths and the 32-bit alignment. */
function parseBlocks(b: Buffer): Block[] {
  const blocks: Block[] = [];
  let pos = 0;
  while (pos < b.length) {
    expect(b.length - pos).toBeGreaterThanOrEqual(12);
    const type = b.readUInt32LE(pos);
    const len = b.readUInt32LE(pos + 4);
    expect(len % 4).toBe(0);
    expect(len).toBeGreaterThanOrEqual(12);
    expect(pos + len).toBeLessThanOrEqual(b.length);
    expect(b.readUInt32LE(pos + len - 4)).toBe(len);
    blocks.push({ type, body: b.subarray(pos + 8, pos + len - 4) });
    pos += len;
  }
  expect(pos).toBe(b.length);
  return blocks;
}

/** Options from body[pos] to the end: each padded with zeros, ending with opt_endofopt. */
function parseOptions(body: Buffer, pos: number): Map<number, Buffer[]> {
  const opts = new Map<number, Buffer[]>();
  for (;;) {
    expect(pos + 4).toBeLessThanOrEqual(body.length);
    const code = body.readUInt16LE(pos);
    const len = body.readUInt16LE(pos + 2);
    if (code === 0) {
      expect(len).toBe(0);
      expect(pos + 4).toBe(body.length);
      return opts;
    }
    const v = body.subarray(pos + 4, pos + 4 + len);
    expect(v.length).toBe(len);
    for (let i = pos + 4 + len; i < pos + 4 + pad4(len); i++) expect(body[i]).toBe(0);
    opts.set(code, [...(opts.get(code) ?? []), v]);
    pos += 4 + pad4(len);
  }
}

interface Epb {
  ifId: number;
  ts: bigint;
  caplen: number;
  origLen: number;
  data: Buffer;
  flags: number | undefined;
  comment: string | undefined;
}

function parseEpb(body: Buffer): Epb {
  const caplen = body.readUInt32LE(12);
  for (let i = 20 + caplen; i < 20 + pad4(caplen); i++) expect(body[i]).toBe(0);
  const opts = parseOptions(body, 20 + pad4(caplen));
  for (const code of opts.keys()) expect([1, 2]).toContain(code);
  const flags = opts.get(2)?.[0];
  const comment = opts.get(1)?.[0];
  if (flags) expect(flags.length).toBe(4);
  return {
    ifId: body.readUInt32LE(0),
    ts: (BigInt(body.readUInt32LE(4)) << 32n) | BigInt(body.readUInt32LE(8)),
    caplen,
    origLen: body.readUInt32LE(16),
    data: body.subarray(20, 20 + caplen),
    flags: flags?.readUInt32LE(0),
    comment: comment === undefined ? undefined : new TextDecoder('utf-8', { fatal: true }).decode(comment),
  };
}

/** Checks the SHB and IDB and returns the parts of the file. */
function parsePcapng(file: string) {
  const bytes = fs.readFileSync(file);
  const blocks = parseBlocks(bytes);
  const [shb, idb, ...rest] = blocks;
  expect(shb!.type).toBe(BLOCK_SHB);
  expect(shb!.body.readUInt32LE(0)).toBe(BYTE_ORDER_MAGIC);
  expect(shb!.body.readUInt16LE(4)).toBe(1);
  expect(shb!.body.readUInt16LE(6)).toBe(0);
  expect(shb!.body.readBigInt64LE(8)).toBe(-1n);
  const shbOpts = parseOptions(shb!.body, 16);
  expect(idb!.type).toBe(BLOCK_IDB);
  const idbOpts = parseOptions(idb!.body, 8);
  const str = (o: Map<number, Buffer[]>, code: number) => o.get(code)?.[0]?.toString('utf8');
  const tsresol = idbOpts.get(9)?.[0];
  expect(tsresol?.length).toBe(1);
  const isbs = rest.filter((b) => b.type === BLOCK_ISB);
  const epbs = rest.filter((b) => b.type === BLOCK_EPB);
  expect(isbs.length + epbs.length).toBe(rest.length);
  return {
    size: bytes.length,
    userAppl: str(shbOpts, 4),
    idb: {
      linktype: idb!.body.readUInt16LE(0),
      reserved: idb!.body.readUInt16LE(2),
      snaplen: idb!.body.readUInt32LE(4),
      name: str(idbOpts, 2),
      description: str(idbOpts, 3),
      tsresol: tsresol![0],
    },
    packets: epbs.map((b) => parseEpb(b.body)),
    isbs: isbs.map((b) => {
      const opts = parseOptions(b.body, 12);
      const u64 = (code: number) => opts.get(code)?.[0]?.readBigUInt64LE(0);
      const end = opts.get(3)?.[0];
      return {
        ifId: b.body.readUInt32LE(0),
        ts: (BigInt(b.body.readUInt32LE(4)) << 32n) | BigInt(b.body.readUInt32LE(8)),
        endtime: end ? (BigInt(end.readUInt32LE(0)) << 32n) | BigInt(end.readUInt32LE(4)) : undefined,
        ifrecv: u64(4),
        ifdrop: u64(5),
      };
    }),
    /** The ISB, if any, is the last block. */
    lastType: blocks[blocks.length - 1]!.type,
  };
}

// ---- tshark -----------------------------------------------------------------

const hasTshark = spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status === 0;
if (!hasTshark) {
  console.warn('\n*** WARNING: tshark is not on PATH: the capture files are NOT being checked with Wireshark ***\n');
}

/** Runs tshark; stderr without the "Running as user root" notice. */
function tshark(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^Running as user/.test(l))
    .join('\n');
  return { stdout: r.stdout, stderr, status: r.status };
}

/** The fields this tshark knows: packet comments moved from pkt_comment to frame.comment. */
function tsharkFieldNames(): Set<string> {
  const r = spawnSync('tshark', ['-G', 'fields'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return new Set(r.stdout.split('\n').map((l) => l.split('\t')[2] ?? ''));
}

function tsharkFields(file: string, fields: string[]): string[][] {
  const r = tshark(['-r', file, '-T', 'fields', '-E', 'occurrence=f', ...fields.flatMap((f) => ['-e', f])]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

function expectCleanDissection(file: string): string {
  const r = tshark(['-r', file, '-V']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).not.toMatch(/malformed/i);
  return r.stdout;
}

// ---- tests ------------------------------------------------------------------

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ustack-pcapng-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const tmp = () => path.join(dir, `t${n++}.pcapng`);

const T0 = 1_700_000_000;
const ns = (sec: number, nsec: number) => BigInt(sec) * 1_000_000_000n + BigInt(nsec);
const us = (sec: number, nsec: number) => BigInt(sec) * 1_000_000n + BigInt(Math.floor(nsec / 1000));

const COMMENT_DROP = 'drop: nf_hook INPUT verdict=DROP (rule 3)';
const COMMENT_UTF8 = 'ok → délivré ✓';

async function writeSample(file: string, options: CaptureWriterOptions) {
  const w = createCaptureWriter(file, { format: 'pcapng', ...options });
  const arp = arpRequest();
  const echo = icmpEcho(57); // 99 bytes: the data needs padding
  const big = new Uint8Array(300).fill(0xee);
  big.set(echo, 33);
  expect(w.record(arp, 0, arp.length, T0, 123_456_789, 'in')).toBe(true);
  expect(w.record(big, 33, echo.length, T0 + 1, 5, 'out', COMMENT_DROP)).toBe(true);
  big.fill(0);
  expect(w.record(arp, 0, arp.length, T0 + 2, 999_999_999, 'in', COMMENT_UTF8)).toBe(true);
  await w.close();
  return { w, arp, echo };
}

describe('pcapng writer', () => {
  it('writes SHB, IDB, EPBs with direction flags and comments, and an ISB', async () => {
    const file = tmp();
    const { w, arp, echo } = await writeSample(file, {});
    const f = parsePcapng(file);
    expect(f.userAppl).toBe('ustack');
    expect(f.idb).toEqual({ linktype: 1, reserved: 0, snaplen: 262144, name: 'ustack0', description: undefined, tsresol: 9 });
    expect(f.packets.map((p) => [p.ifId, p.ts, p.caplen, p.origLen, p.flags, p.comment])).toEqual([
      [0, ns(T0, 123_456_789), 42, 42, 1, undefined],
      [0, ns(T0 + 1, 5), 99, 99, 2, COMMENT_DROP],
      [0, ns(T0 + 2, 999_999_999), 42, 42, 1, COMMENT_UTF8],
    ]);
    expect(Buffer.compare(f.packets[0]!.data, Buffer.from(arp))).toBe(0);
    expect(Buffer.compare(f.packets[1]!.data, Buffer.from(echo))).toBe(0);
    expect(f.lastType).toBe(BLOCK_ISB);
    expect(f.isbs).toEqual([{ ifId: 0, ts: ns(T0 + 2, 999_999_999), endtime: ns(T0 + 2, 999_999_999), ifrecv: 3n, ifdrop: 0n }]);
    expect(w.stats).toEqual({ frames: 3, bytes: 42 + 99 + 42, dropped: 0, written: f.size });
  });

  it('writes microsecond timestamps with if_tsresol 6', async () => {
    const file = tmp();
    await writeSample(file, { resolution: 'us', ifName: 'tap0', ifDescription: 'ustack TAP device' });
    const f = parsePcapng(file);
    expect(f.idb).toMatchObject({ tsresol: 6, name: 'tap0', description: 'ustack TAP device' });
    expect(f.packets.map((p) => p.ts)).toEqual([us(T0, 123_456_789), us(T0 + 1, 5), us(T0 + 2, 999_999_999)]);
  });

  it('splits 64-bit timestamps exactly over the whole range', () => {
    const secs = [0, 1, 65535, 65536, 4_294_967, 4_294_968, T0, 2 ** 31, 2 ** 32 - 1];
    const nsecs = [0, 1, 999, 1000, 123_456_789, 999_999_999];
    for (const resolution of ['ns', 'us'] as const) {
      const enc = createEncoder({ format: 'pcapng', resolution });
      const dst = Buffer.alloc(256);
      const frame = new Uint8Array(14);
      for (const sec of secs) {
        for (const nsec of nsecs) {
          const end = enc.writeRecord(dst, 0, frame, 0, 14, 14, sec, nsec, 'out', undefined, 0);
          expect(end).toBe(enc.recordSize(14, 0));
          const p = parseEpb(parseBlocks(dst.subarray(0, end))[0]!.body);
          expect(p.ts).toBe(resolution === 'ns' ? ns(sec, nsec) : us(sec, nsec));
        }
      }
    }
  });

  it('pads data and comments of every length to 32 bits', async () => {
    const file = tmp();
    const w = createCaptureWriter(file, { format: 'pcapng' });
    const comments: (string | undefined)[] = [undefined, ''];
    for (let i = 1; i <= 9; i++) comments.push('x'.repeat(i));
    comments.push('é', 'éé', '😀', 'a😀', 'drop ✗');
    const frames = comments.map((_, i) => icmpEcho(i));
    comments.forEach((c, i) => w.record(frames[i]!, 0, frames[i]!.length, T0, i, 'out', c));
    await w.close();
    const f = parsePcapng(file);
    expect(f.packets.map((p) => p.comment)).toEqual(comments.map((c) => (c === '' ? undefined : c)));
    f.packets.forEach((p, i) => expect(Buffer.compare(p.data, Buffer.from(frames[i]!))).toBe(0));
  });

  it('cuts comments longer than an option can hold on a character boundary', async () => {
    const file = tmp();
    const w = createCaptureWriter(file, { format: 'pcapng' });
    const arp = arpRequest();
    const long1 = 'a' + '😀'.repeat(20000); // cut leaves 65529 bytes: same padded size
    const long2 = 'é'.repeat(40000);
    w.record(arp, 0, arp.length, T0, 0, 'in', long1);
    w.record(arp, 0, arp.length, T0, 1, 'in', long2);
    w.record(arp, 0, arp.length, T0, 2, 'in', 'after');
    await w.close();
    const f = parsePcapng(file);
    const [c1, c2, c3] = f.packets.map((p) => p.comment!);
    expect(Buffer.byteLength(c1!)).toBe(65529);
    expect(long1.startsWith(c1!)).toBe(true);
    expect(Buffer.byteLength(c2!)).toBe(MAX_COMMENT_BYTES);
    expect(long2.startsWith(c2!)).toBe(true);
    expect(c3).toBe('after');
  });

  it('truncates frames to the snapshot length', async () => {
    const file = tmp();
    const w = createCaptureWriter(file, { format: 'pcapng', snaplen: 61 });
    const echo = icmpEcho(300);
    w.record(echo, 0, echo.length, T0, 0, 'in', 'long one');
    await w.close();
    const f = parsePcapng(file);
    expect(f.idb.snaplen).toBe(61);
    expect(f.packets.map((p) => [p.caplen, p.origLen, p.comment])).toEqual([[61, echo.length, 'long one']]);
    expect(Buffer.compare(f.packets[0]!.data, Buffer.from(echo.subarray(0, 61)))).toBe(0);
  });

  it('counts dropped frames and reports them in the Interface Statistics Block', async () => {
    const file = tmp();
    const w = createCaptureWriter(file, { format: 'pcapng', bufferSize: 4096, maxBuffered: 32 * 1024 });
    const f = icmpEcho(1400);
    let accepted = 0;
    for (let i = 0; i < 200; i++) if (w.record(f, 0, f.length, T0, i, i & 1 ? 'out' : 'in', `#${i}`)) accepted++;
    expect(w.stats.dropped).toBe(200 - accepted);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(200);
    await w.close();
    const parsed = parsePcapng(file);
    expect(parsed.packets.length).toBe(accepted);
    expect(parsed.packets.map((p) => p.comment)).toEqual([...Array(accepted).keys()].map((i) => `#${i}`));
    expect(parsed.isbs).toEqual([
      { ifId: 0, ts: ns(T0, accepted - 1), endtime: ns(T0, accepted - 1), ifrecv: 200n, ifdrop: BigInt(200 - accepted) },
    ]);
  });

  it('close() writes everything recorded, across many chunks, in order', async () => {
    const file = tmp();
    const w = createCaptureWriter(file, { format: 'pcapng', bufferSize: 4096 });
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 1500; i++) {
      const f = i % 101 === 0 ? icmpEcho(9000 - 42, i) : icmpEcho(i % 257, i);
      frames.push(f);
      w.record(f, 0, f.length, T0 + i, i, i % 3 ? 'out' : 'in', i % 5 ? undefined : `frame ${i}`);
    }
    await w.close();
    const parsed = parsePcapng(file);
    expect(parsed.packets.length).toBe(1500);
    parsed.packets.forEach((p, i) => {
      expect(p.ts).toBe(ns(T0 + i, i));
      expect(p.flags).toBe(i % 3 ? 2 : 1);
      expect(p.comment).toBe(i % 5 ? undefined : `frame ${i}`);
      expect(Buffer.compare(p.data, Buffer.from(frames[i]!))).toBe(0);
    });
    expect(w.stats.written).toBe(parsed.size);
  });

  it('writes a readable file with no frames', async () => {
    const file = tmp();
    const w = createCaptureWriter(file, { format: 'pcapng' });
    await w.close();
    const f = parsePcapng(file);
    expect(f.packets).toEqual([]);
    expect(f.isbs).toEqual([{ ifId: 0, ts: 0n, endtime: 0n, ifrecv: 0n, ifdrop: 0n }]);
  });

  it('is the default format', () => {
    expect(createEncoder()).toBeInstanceOf(PcapngEncoder);
    expect(createEncoder().resolution).toBe('ns');
  });

  describe.skipIf(!hasTshark)('read back by tshark', () => {
    const names = hasTshark ? tsharkFieldNames() : new Set<string>();
    const commentField = names.has('frame.comment') ? 'frame.comment' : 'pkt_comment';
    const hasDirection = names.has('frame.packet_flags_direction');
    if (hasTshark && !hasDirection) console.warn('tshark has no frame.packet_flags_direction field: direction not checked');

    for (const resolution of ['ns', 'us'] as const) {
      it(`reads every frame with its time, comment and direction (${resolution})`, async () => {
        const file = tmp();
        await writeSample(file, { resolution });
        const fields = ['frame.number', 'eth.type', 'frame.time_epoch', commentField, 'frame.interface_name', 'icmp.checksum.status'];
        if (hasDirection) fields.push('frame.packet_flags_direction');
        const rows = tsharkFields(file, fields);
        const nsr = resolution === 'ns';
        const expected = [
          ['1', '0x0806', nsr ? `${T0}.123456789` : `${T0}.123456000`, '', 'ustack0', ''],
          ['2', '0x0800', nsr ? `${T0 + 1}.000000005` : `${T0 + 1}.000000000`, COMMENT_DROP, 'ustack0', '1'],
          ['3', '0x0806', nsr ? `${T0 + 2}.999999999` : `${T0 + 2}.999999000`, COMMENT_UTF8, 'ustack0', ''],
        ];
        if (hasDirection) {
          expect(rows.map((r) => Number(r[6]))).toEqual([1, 2, 1]); // 1 inbound, 2 outbound
          rows.forEach((r) => r.pop());
        }
        expect(rows).toEqual(expected);
        const text = expectCleanDissection(file);
        expect(text).toMatch(/\(inbound\)/);
        expect(text).toMatch(/\(outbound\)/);
      });
    }

    it('reads truncated frames and long comments', async () => {
      const file = tmp();
      const w = createCaptureWriter(file, { format: 'pcapng', snaplen: 60 });
      const echo = icmpEcho(100);
      w.record(echo, 0, echo.length, T0, 0, 'in', 'é'.repeat(40000));
      w.record(echo, 0, echo.length, T0, 1, 'out', 'a' + '😀'.repeat(20000));
      await w.close();
      const rows = tsharkFields(file, ['frame.number', 'frame.len', 'frame.cap_len', commentField]);
      expect(rows.map((r) => r.slice(0, 3))).toEqual([
        ['1', String(echo.length), '60'],
        ['2', String(echo.length), '60'],
      ]);
      expect(rows[0]![3]).toBe('é'.repeat(MAX_COMMENT_BYTES / 2));
      expect(rows[1]![3]).toBe('a' + '😀'.repeat(16382));
      expectCleanDissection(file);
    });

    it('reads a large capture written in many chunks, and its statistics', async () => {
      const file = tmp();
      const w = createCaptureWriter(file, { format: 'pcapng', bufferSize: 8192, maxBuffered: 1024 * 1024 });
      // 1 MiB is too little for the burst: the big frames past it are
      // dropped, the small ARP ones still fit.
      const accepted: number[] = [];
      for (let i = 0; i < 3000; i++) {
        const f = i % 2 ? arpRequest() : icmpEcho(i % 1400, i);
        if (w.record(f, 0, f.length, T0, i, i % 2 ? 'in' : 'out', i % 7 ? undefined : `verdict ${i}`)) accepted.push(i);
      }
      expect(w.stats.dropped).toBe(3000 - accepted.length);
      expect(w.stats.dropped).toBeGreaterThan(0);
      await w.close();
      const rows = tsharkFields(file, ['frame.number', 'eth.type', 'frame.time_epoch', commentField, 'icmp.checksum.status']);
      expect(rows.length).toBe(accepted.length);
      rows.forEach((r, k) => {
        const i = accepted[k]!;
        expect(r).toEqual([
          String(k + 1),
          i % 2 ? '0x0806' : '0x0800',
          `${T0}.${String(i).padStart(9, '0')}`,
          i % 7 ? '' : `verdict ${i}`,
          i % 2 ? '' : '1',
        ]);
      });
      const info = spawnSync('capinfos', [file], { encoding: 'utf8' });
      if (info.status === 0) {
        expect(info.stdout).toMatch(/Number of packets:\s+\d/);
        expect(info.stdout).toMatch(/Number of stat entries = 1/);
      }
    });
  });
});
