import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US, PcapEncoder } from '../../../src/capture/pcap.js';
import {
  createCaptureWriter,
  createEncoder,
  timeFromMs,
  timeFromNs,
  type CaptureWriterOptions,
} from '../../../src/capture/writer.js';

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

interface PcapRecord {
  sec: number;
  frac: number;
  caplen: number;
  origLen: number;
  data: Buffer;
}

function parsePcap(file: string) {
  const b = fs.readFileSync(file);
  expect(b.length).toBeGreaterThanOrEqual(24);
  const header = {
    magic: b.readUInt32LE(0),
    major: b.readUInt16LE(4),
    minor: b.readUInt16LE(6),
    thiszone: b.readInt32LE(8),
    sigfigs: b.readUInt32LE(12),
    snaplen: b.readUInt32LE(16),
    linktype: b.readUInt32LE(20),
  };
  const records: PcapRecord[] = [];
  let pos = 24;
  while (pos < b.length) {
    expect(pos + 16).toBeLessThanOrEqual(b.length);
    const caplen = b.readUInt32LE(pos + 8);
    const rec = { sec: b.readUInt32LE(pos), frac: b.readUInt32LE(pos + 4), caplen, origLen: b.readUInt32LE(pos + 12), data: b.subarray(pos + 16, pos + 16 + caplen) };
    expect(rec.data.length).toBe(caplen);
    records.push(rec);
    pos += 16 + caplen;
  }
  expect(pos).toBe(b.length);
  return { header, records, size: b.length };
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

/** tshark -T fields, one array per frame. */
function tsharkFields(file: string, fields: string[], extra: string[] = []): string[][] {
  const r = tshark(['-r', file, ...extra, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

/** tshark -V reads the whole file without errors or malformed packets. */
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
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ustack-pcap-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const tmp = (ext = 'pcap') => path.join(dir, `t${n++}.${ext}`);

const T0 = 1_700_000_000;

async function writeSample(file: string, options: CaptureWriterOptions) {
  const w = createCaptureWriter(file, { format: 'pcap', ...options });
  const arp = arpRequest();
  const echo = icmpEcho(56);
  // The frame sits inside a bigger buffer the caller reuses: off/len matter.
  const big = new Uint8Array(200).fill(0xee);
  big.set(echo, 10);
  expect(w.record(arp, 0, arp.length, T0, 123_456_789, 'in')).toBe(true);
  expect(w.record(big, 10, echo.length, T0 + 1, 5, 'out', 'ignored by pcap')).toBe(true);
  big.fill(0); // the writer must have copied the bytes
  expect(w.record(arp, 0, arp.length, T0 + 2, 999_999_999, 'out')).toBe(true);
  await w.close();
  return { w, arp, echo };
}

describe('pcap writer', () => {
  it('writes the global header and records with nanosecond timestamps', async () => {
    const file = tmp();
    const { w, arp, echo } = await writeSample(file, { resolution: 'ns' });
    const { header, records, size } = parsePcap(file);
    expect(header).toEqual({ magic: PCAP_MAGIC_NS, major: 2, minor: 4, thiszone: 0, sigfigs: 0, snaplen: 262144, linktype: 1 });
    expect(records.map((r) => [r.sec, r.frac, r.caplen, r.origLen])).toEqual([
      [T0, 123_456_789, 42, 42],
      [T0 + 1, 5, 98, 98],
      [T0 + 2, 999_999_999, 42, 42],
    ]);
    expect(Buffer.compare(records[0]!.data, Buffer.from(arp))).toBe(0);
    expect(Buffer.compare(records[1]!.data, Buffer.from(echo))).toBe(0);
    expect(w.stats).toEqual({ frames: 3, bytes: 42 + 98 + 42, dropped: 0, written: size });
    expect(size).toBe(24 + 3 * 16 + 42 + 98 + 42);
  });

  it('writes microsecond timestamps (nanoseconds truncated) under the classic magic', async () => {
    const file = tmp();
    await writeSample(file, { resolution: 'us' });
    const { header, records } = parsePcap(file);
    expect(header.magic).toBe(PCAP_MAGIC_US);
    expect(records.map((r) => [r.sec, r.frac])).toEqual([
      [T0, 123_456],
      [T0 + 1, 0],
      [T0 + 2, 999_999],
    ]);
  });

  it('defaults to nanoseconds', () => {
    const enc = createEncoder({ format: 'pcap' });
    expect(enc.header().readUInt32LE(0)).toBe(PCAP_MAGIC_NS);
    expect(enc).toBeInstanceOf(PcapEncoder);
  });

  it('truncates frames to the snapshot length (incl_len < orig_len)', async () => {
    const file = tmp();
    const w = createCaptureWriter(file, { format: 'pcap', snaplen: 64 });
    const echo = icmpEcho(200);
    const arp = arpRequest();
    w.record(echo, 0, echo.length, T0, 0, 'in');
    w.record(arp, 0, arp.length, T0, 1, 'in');
    await w.close();
    const { header, records } = parsePcap(file);
    expect(header.snaplen).toBe(64);
    expect(records.map((r) => [r.caplen, r.origLen])).toEqual([
      [64, echo.length],
      [42, 42],
    ]);
    expect(Buffer.compare(records[0]!.data, Buffer.from(echo.subarray(0, 64)))).toBe(0);
    expect(w.stats.bytes).toBe(echo.length + 42);
  });

  it('close() writes everything recorded, across many chunks, in order', async () => {
    const file = tmp();
    const w = createCaptureWriter(file, { format: 'pcap', bufferSize: 4096 });
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 2000; i++) {
      // Some jumbo frames larger than a chunk go through their own buffer.
      const f = i % 97 === 0 ? icmpEcho(9000 - 42, i) : icmpEcho(i % 300, i);
      frames.push(f);
      expect(w.record(f, 0, f.length, T0 + Math.floor(i / 1000), (i % 1000) * 1_000_000, i & 1 ? 'out' : 'in')).toBe(true);
    }
    await w.close();
    const { records, size } = parsePcap(file);
    expect(records.length).toBe(2000);
    records.forEach((r, i) => {
      expect(r.sec).toBe(T0 + Math.floor(i / 1000));
      expect(r.frac).toBe((i % 1000) * 1_000_000);
      expect(r.origLen).toBe(frames[i]!.length);
      expect(Buffer.compare(r.data, Buffer.from(frames[i]!))).toBe(0);
    });
    expect(w.stats.frames).toBe(2000);
    expect(w.stats.dropped).toBe(0);
    expect(w.stats.written).toBe(size);
  });

  it('flush() writes what was recorded so far and the writer goes on', async () => {
    const file = tmp();
    const w = createCaptureWriter(file, { format: 'pcap' });
    const arp = arpRequest();
    w.record(arp, 0, arp.length, T0, 0, 'in');
    await w.flush();
    expect(parsePcap(file).records.length).toBe(1);
    w.record(arp, 0, arp.length, T0, 1, 'in');
    w.record(arp, 0, arp.length, T0, 2, 'in');
    await Promise.all([w.flush(), w.flush()]);
    expect(parsePcap(file).records.map((r) => r.frac)).toEqual([0, 1, 2]);
    await w.flush(); // nothing new
    await w.close();
    expect(parsePcap(file).records.length).toBe(3);
  });

  it('counts frames as dropped when the file falls too far behind, and recovers', async () => {
    const file = tmp();
    const maxBuffered = 64 * 1024;
    const w = createCaptureWriter(file, { format: 'pcap', bufferSize: 4096, maxBuffered });
    const f = icmpEcho(1000 - 42);
    // A synchronous burst: no write can complete meanwhile, as when the
    // stack floods faster than the disk takes it.
    let accepted = 0;
    for (let i = 0; i < 1000; i++) if (w.record(f, 0, f.length, T0, i, 'in')) accepted++;
    expect(w.stats.frames).toBe(accepted);
    expect(w.stats.dropped).toBe(1000 - accepted);
    expect(w.stats.dropped).toBeGreaterThan(0);
    // Memory stayed bounded: the header and the accepted records fit the budget.
    expect(24 + accepted * (16 + 1000)).toBeLessThanOrEqual(maxBuffered);
    expect(accepted).toBe(Math.floor((maxBuffered - 24) / 1016));
    // Once the file catches up, frames are accepted again.
    await w.flush();
    expect(w.record(f, 0, f.length, T0 + 1, 0, 'in')).toBe(true);
    await w.close();
    const { records } = parsePcap(file);
    expect(records.length).toBe(accepted + 1);
    // The dropped frames are the tail of the burst.
    expect(records.slice(0, accepted).map((r) => r.frac)).toEqual([...Array(accepted).keys()]);
    expect(records[accepted]!.sec).toBe(T0 + 1);
  });

  it('drops frames recorded after close(); close() is idempotent', async () => {
    const file = tmp();
    const w = createCaptureWriter(file, { format: 'pcap' });
    const arp = arpRequest();
    w.record(arp, 0, arp.length, T0, 0, 'in');
    const p = w.close();
    expect(w.close()).toBe(p);
    expect(w.record(arp, 0, arp.length, T0, 1, 'in')).toBe(false);
    await p;
    expect(w.record(arp, 0, arp.length, T0, 2, 'in')).toBe(false);
    expect(w.stats).toMatchObject({ frames: 1, dropped: 2 });
    expect(parsePcap(file).records.length).toBe(1);
  });

  it('writes an empty but valid file when nothing is recorded', async () => {
    const file = tmp();
    const w = createCaptureWriter(file, { format: 'pcap' });
    await w.close();
    const { records, size } = parsePcap(file);
    expect(records.length).toBe(0);
    expect(size).toBe(24);
  });

  it('throws a clear error with the Node code for a bad path, at creation', () => {
    const missing = path.join(dir, 'no', 'such', 'dir', 'x.pcap');
    expect(() => createCaptureWriter(missing)).toThrow(expect.objectContaining({ code: 'ENOENT', path: missing }));
    expect(() => createCaptureWriter(missing)).toThrow(/cannot open .*x\.pcap.*ENOENT/);
    expect(() => createCaptureWriter(dir)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    const file = tmp();
    fs.writeFileSync(file, '');
    expect(() => createCaptureWriter(path.join(file, 'x.pcap'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
  });

  it.skipIf(process.getuid?.() === 0)('throws EACCES for a file it may not write (not as root)', () => {
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro, { mode: 0o500 });
    expect(() => createCaptureWriter(path.join(ro, 'x.pcap'))).toThrow(expect.objectContaining({ code: 'EACCES' }));
  });

  it.skipIf(!fs.existsSync('/dev/full'))('reports a write error (ENOSPC) from flush() and close(), then drops', async () => {
    const w = createCaptureWriter('/dev/full', { format: 'pcap' });
    const arp = arpRequest();
    expect(w.record(arp, 0, arp.length, T0, 0, 'in')).toBe(true);
    await expect(w.flush()).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(w.error).toMatchObject({ code: 'ENOSPC' });
    expect(w.record(arp, 0, arp.length, T0, 1, 'in')).toBe(false);
    expect(w.stats.dropped).toBe(1);
    await expect(w.flush()).rejects.toMatchObject({ code: 'ENOSPC' });
    await expect(w.close()).rejects.toMatchObject({ code: 'ENOSPC' });
  });

  it('rejects bad options, regions and timestamps', () => {
    expect(() => createEncoder({ format: 'pcap', snaplen: 0 })).toThrow(RangeError);
    expect(() => createEncoder({ format: 'pcap', snaplen: 262145 })).toThrow(RangeError);
    expect(() => createEncoder({ format: 'pcap', snaplen: 1.5 })).toThrow(RangeError);
    expect(() => createEncoder({ format: 'pcap', resolution: 'ms' as 'us' })).toThrow(RangeError);
    expect(() => createEncoder({ format: 'pcapx' as 'pcap' })).toThrow(RangeError);
    const never = tmp();
    expect(() => createCaptureWriter(never, { bufferSize: 100 })).toThrow(RangeError);
    expect(() => createCaptureWriter(never, { maxBuffered: 0 })).toThrow(RangeError);
    expect(() => createCaptureWriter(never, { snaplen: 0 })).toThrow(RangeError);
    expect(fs.existsSync(never)).toBe(false); // options are checked before the file is created
    const w = createCaptureWriter(tmp(), { format: 'pcap' });
    const arp = arpRequest();
    expect(() => w.record(arp, 1, arp.length, T0, 0, 'in')).toThrow(RangeError);
    expect(() => w.record(arp, -1, 2, T0, 0, 'in')).toThrow(RangeError);
    expect(() => w.record(arp, 0, 42, -1, 0, 'in')).toThrow(RangeError);
    expect(() => w.record(arp, 0, 42, 2 ** 32, 0, 'in')).toThrow(RangeError);
    expect(() => w.record(arp, 0, 42, T0, 1e9, 'in')).toThrow(RangeError);
    expect(() => w.record(arp, 0, 42, T0, 0.5, 'in')).toThrow(RangeError);
    expect(() => w.record(arp, 0, 42, Number.NaN, 0, 'in')).toThrow(RangeError);
    expect(w.stats.frames).toBe(0);
    return w.close();
  });

  it('converts clock times exactly', () => {
    expect(timeFromNs(1_700_000_000_123_456_789n)).toEqual({ sec: 1_700_000_000, nsec: 123_456_789 });
    expect(timeFromNs(0n)).toEqual({ sec: 0, nsec: 0 });
    expect(timeFromMs(1_700_000_000_123)).toEqual({ sec: 1_700_000_000, nsec: 123_000_000 });
    expect(timeFromMs(1_700_000_000_000.5)).toEqual({ sec: 1_700_000_000, nsec: 500_000 });
    const t = timeFromMs(1_700_000_000_999.9999999);
    expect(t.nsec).toBeLessThan(1e9);
  });

  describe.skipIf(!hasTshark)('read back by tshark', () => {
    for (const resolution of ['ns', 'us'] as const) {
      it(`reads every frame, timestamps and checksums (${resolution})`, async () => {
        const file = tmp();
        await writeSample(file, { resolution });
        const rows = tsharkFields(
          file,
          ['frame.number', 'eth.type', 'frame.time_epoch', 'frame.len', 'frame.cap_len', 'ip.checksum.status', 'icmp.checksum.status'],
          ['-o', 'ip.check_checksum:TRUE'],
        );
        const ns = resolution === 'ns';
        expect(rows).toEqual([
          ['1', '0x0806', ns ? `${T0}.123456789` : `${T0}.123456000`, '42', '42', '', ''],
          ['2', '0x0800', ns ? `${T0 + 1}.000000005` : `${T0 + 1}.000000000`, '98', '98', '1', '1'],
          ['3', '0x0806', ns ? `${T0 + 2}.999999999` : `${T0 + 2}.999999000`, '42', '42', '', ''],
        ]);
        const text = expectCleanDissection(file);
        expect(text).toMatch(/Echo \(ping\) request/);
        expect(text).toMatch(/Opcode: request \(1\)[\s\S]*Target IP address: 10\.0\.0\.2/);
      });
    }

    it('reads truncated frames', async () => {
      const file = tmp();
      const w = createCaptureWriter(file, { format: 'pcap', snaplen: 60 });
      const echo = icmpEcho(100);
      w.record(echo, 0, echo.length, T0, 0, 'in');
      await w.close();
      expect(tsharkFields(file, ['frame.number', 'frame.len', 'frame.cap_len'])).toEqual([['1', String(echo.length), '60']]);
      const r = tshark(['-r', file, '-V']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/Capture Length: 60 bytes/);
      expect(r.stdout).not.toMatch(/malformed/i);
    });

    it('reads a large capture written in many chunks', async () => {
      const file = tmp();
      const w = createCaptureWriter(file, { format: 'pcap', bufferSize: 8192 });
      for (let i = 0; i < 3000; i++) {
        const f = i % 2 ? arpRequest() : icmpEcho(i % 1400, i);
        w.record(f, 0, f.length, T0, i, 'in');
      }
      await w.close();
      const rows = tsharkFields(file, ['frame.number', 'eth.type', 'icmp.checksum.status']);
      expect(rows.length).toBe(3000);
      rows.forEach((r, i) => expect(r).toEqual([String(i + 1), i % 2 ? '0x0806' : '0x0800', i % 2 ? '' : '1']));
    });
  });
});
