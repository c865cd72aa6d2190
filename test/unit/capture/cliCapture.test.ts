// `ustack up --pcap F [--pcap-format F] [--pcap-tsres us|ns]`: the flags as
// parseUpArgs reads them, turned into the capture writer's options by the
// function startUp uses (captureWriterOptions), and the file that writer
// makes — its magic number and its scaled timestamps. (The host test in
// test/host/cli.test.ts runs the whole command.)

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseUpArgs, UP_HELP, type UpConfig } from '../../../src/cli/args.js';
import { captureWriterOptions } from '../../../src/cli/up.js';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US } from '../../../src/capture/pcap.js';
import { createCaptureWriter } from '../../../src/capture/writer.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ustack-cli-capture-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
let n = 0;

function config(argv: string[]): UpConfig {
  const cfg = parseUpArgs(argv);
  if (cfg === 'help') throw new Error('help');
  return cfg;
}

const T0 = 1_700_000_000;
const FRAME = Uint8Array.from({ length: 60 }, (_, i) => i);

/** What `ustack up ARGV` writes for two frames at T0 + 0.123456789 s and T0 + 1.999999999 s. */
async function capture(argv: string[]): Promise<Buffer> {
  const file = path.join(dir, `c${n++}.pcap`);
  const cfg = config(['--pcap', file, ...argv]);
  const w = createCaptureWriter(cfg.pcap!, captureWriterOptions(cfg));
  w.record(FRAME, 0, FRAME.length, T0, 123_456_789, 'in');
  w.record(FRAME, 0, FRAME.length, T0 + 1, 999_999_999, 'out');
  await w.close();
  return fs.readFileSync(file);
}

/** [sec, fraction] of each classic pcap record. */
function stamps(b: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let pos = 24; pos < b.length; pos += 16 + b.readUInt32LE(pos + 8)) out.push([b.readUInt32LE(pos), b.readUInt32LE(pos + 4)]);
  return out;
}

describe('ustack up --pcap-tsres', () => {
  it('us: the classic magic 0xa1b2c3d4 and microsecond fractions (nanoseconds truncated)', async () => {
    const b = await capture(['--pcap-tsres', 'us']);
    expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(PCAP_MAGIC_US).toBe(0xa1b2c3d4);
    expect(stamps(b)).toEqual([
      [T0, 123_456],
      [T0 + 1, 999_999],
    ]);
  });

  it('ns: the magic 0xa1b23c4d and nanosecond fractions', async () => {
    const b = await capture(['--pcap-tsres', 'ns']);
    expect(b.readUInt32LE(0)).toBe(0xa1b23c4d);
    expect(PCAP_MAGIC_NS).toBe(0xa1b23c4d);
    expect(stamps(b)).toEqual([
      [T0, 123_456_789],
      [T0 + 1, 999_999_999],
    ]);
  });

  it('defaults to ns, as before the flag existed', async () => {
    expect(config([]).pcapTsres).toBe('ns');
    const b = await capture([]);
    expect(b.readUInt32LE(0)).toBe(PCAP_MAGIC_NS);
    expect(stamps(b)[0]).toEqual([T0, 123_456_789]);
  });

  it('applies to pcapng too: if_tsresol 6 in the interface description', async () => {
    const file = path.join(dir, `c${n++}.pcapng`);
    const cfg = config(['--pcap', file, '--pcap-format', 'pcapng', '--pcap-tsres', 'us', '--tap', 'tap9']);
    expect(captureWriterOptions(cfg)).toEqual({ format: 'pcapng', resolution: 'us', ifName: 'tap9' });
    const w = createCaptureWriter(file, captureWriterOptions(cfg));
    await w.close();
    const b = fs.readFileSync(file);
    // SHB, then the IDB: its options hold if_tsresol (code 9, length 1, value 6).
    const idb = b.readUInt32LE(4); // the SHB's total length
    expect(b.readUInt32LE(idb)).toBe(1);
    const opts = b.subarray(idb + 16, idb + b.readUInt32LE(idb + 4) - 4);
    let tsresol: number | undefined;
    for (let p = 0; p + 4 <= opts.length; ) {
      const code = opts.readUInt16LE(p);
      const len = opts.readUInt16LE(p + 2);
      if (code === 9) tsresol = opts[p + 4];
      if (code === 0) break;
      p += 4 + ((len + 3) & ~3);
    }
    expect(tsresol).toBe(6);
  });

  it('rejects anything but us or ns, and is in the help', () => {
    for (const bad of ['ms', 'US', 'nano', '']) {
      expect(() => parseUpArgs(['--pcap-tsres', bad])).toThrow(`--pcap-tsres must be us or ns, got '${bad}'`);
    }
    expect(UP_HELP).toMatch(/^ {2}--pcap-tsres R {6}timestamp resolution: us or ns \(default: ns\)/m);
  });
});
