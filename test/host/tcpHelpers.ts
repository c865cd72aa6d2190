// Helpers of the host TCP tests (tcpHttp, tcpClient, tcpFaults): curl inside a
// test's namespace with the body hashed as it streams, the /bytes pattern's
// expected hash, large upload files, Node scripts run inside the namespace
// (so Linux's own TCP is the peer), the Tcp counters of a running instance,
// and a tshark pass over a capture.
//
// Same rules as helpers.ts: commands run in the test's namespace only, every
// wait is bounded, processes are ended by their PID, and nothing here asserts
// a time or a rate.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { counter, nsExec, ROOT, run, ustackStats, type RunResult, type UstackProcess } from './helpers.js';

export const FIXTURES = join(ROOT, 'test', 'host', 'fixtures');

/** Byte i of GET /bytes/N: (i*7+3) mod 256 (src/services/tcpServices.ts). */
export const patternByte = (i: number): number => (i * 7 + 3) & 0xff;

/** SHA-256 of the first n bytes of the /bytes pattern, computed 64 KiB at a time (the pattern repeats every 256 bytes). */
export function patternSha256(n: number): string {
  const block = Buffer.from(Array.from({ length: 65536 }, (_, i) => patternByte(i)));
  const h = createHash('sha256');
  for (let left = n; left > 0; left -= block.length) h.update(left >= block.length ? block : block.subarray(0, left));
  return h.digest('hex');
}

/** Writes `bytes` random bytes to `file` 1 MiB at a time; resolves with their SHA-256 as `sha256sum` prints it. */
export async function writeRandomFile(file: string, bytes: number): Promise<string> {
  const out = createWriteStream(file);
  for (let left = bytes; left > 0; ) {
    const n = Math.min(left, 1 << 20);
    if (!out.write(randomBytes(n))) await new Promise<void>((r) => out.once('drain', () => r()));
    left -= n;
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  const r = await run('sha256sum', [file], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`sha256sum ${file} failed: ${r.stderr}`);
  return r.stdout.split(/\s/)[0]!;
}

export interface CurlResult {
  code: number | null;
  stderr: string;
  /** What `-w` wrote, one line per transfer. */
  info: string[];
  /** SHA-256 and length of everything curl wrote to stdout (the bodies). */
  sha256: string;
  bytes: number;
}

/**
 * `ip netns exec NS curl -sS ARGS…`, its stdout hashed as it streams (nothing
 * is kept). `writeOut` goes to stderr (curl's %{stderr}) and comes back as
 * `info`. Killed by its PID after timeoutMs, and the promise then rejects.
 */
export function curlHashed(ns: string, args: string[], writeOut: string, timeoutMs = 60_000): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, 'curl', '-sS', '-w', `%{stderr}CURL ${writeOut}\\n`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const h = createHash('sha256');
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`curl ${args.join(' ')} did not finish within ${timeoutMs} ms (${bytes} bytes so far)\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const info = stderr
        .split('\n')
        .filter((l) => l.startsWith('CURL '))
        .map((l) => l.slice(5));
      resolve({ code, stderr: stderr.split('\n').filter((l) => l && !l.startsWith('CURL ')).join('\n'), info, sha256: h.digest('hex'), bytes });
    });
  });
}

/** Runs a fixture script with this Node inside the namespace: Linux's TCP is the peer. */
export function nodeInNs(ns: string, script: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return nsExec(ns, process.execPath, [join(FIXTURES, script), ...args], timeoutMs);
}

/** The JSON line a fixture printed last; fails with everything it printed if there is none. */
export function fixtureJson<T>(r: RunResult): T {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`the fixture printed no JSON result (exit ${r.code}, signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** The Tcp counters of a running instance (`ustack stats --name NS tcp`); nstat lists non-zero ones only. */
export async function tcpCounters(ns: string): Promise<(name: string) => number> {
  const text = await ustackStats(ns, 'tcp');
  return (name) => counter(text, name) ?? 0;
}

/**
 * SIGTERM (by its PID), then: it exits 0 and prints its counters, the Tcp
 * group with TcpPassiveOpens among them. Returns that final report.
 */
export async function stopAndCheckReport(up: UstackProcess, passiveOpensAtLeast = 1): Promise<string> {
  const exit = await up.stop('SIGTERM', 20_000);
  expect(exit, up.describe()).toEqual({ code: 0, signal: null });
  expect(up.stdout).toContain('ustack: SIGTERM, shut down.');
  const report = up.stdout.slice(up.stdout.indexOf('ustack: SIGTERM, shut down.'));
  expect(report).toContain('#nstat Tcp (non-zero counters)');
  const opens = counter(report, 'TcpPassiveOpens');
  expect(opens, report).toBeGreaterThanOrEqual(passiveOpensAtLeast);
  expect(up.stderr).toBe('');
  return report;
}

/** tshark's stderr without its warning about running as root. */
const tsharkErrors = (stderr: string): string =>
  stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^Running as user "root"/.test(l))
    .join('\n');

export interface CaptureCheck {
  frames: number;
  /** Frames tshark calls malformed, one line each: "NUMBER SRC → DST INFO". */
  malformed: string[];
  /**
   * Not among those: retransmissions (or segments tshark calls out of order,
   * which are below the highest sequence seen, too) that its single pass could not add to an
   * HTTP body it had already reassembled ("New fragment overlaps old data
   * (retransmission?)"): an artefact of reassembly, not a bad frame. Whether
   * such a retransmission carries the right bytes is checkRetransmittedBytes' job.
   */
  reassemblyOverlaps: string[];
  /** TCP segments whose checksum tshark verified as bad / good. */
  badTcpChecksums: string[];
  goodTcpChecksums: number;
  /** IPv4 headers whose checksum is bad. */
  badIpChecksums: string[];
  /** Frames with TCP analysis flags (retransmissions, dup ACKs, …): expected under faults. */
  analysisFlags: number;
}

/**
 * One tshark pass over a capture with TCP and IP checksum verification on.
 * `reassemble: false` turns TCP reassembly and HTTP off (a 150 MB HTTP
 * capture is then read in seconds instead of a minute); Ethernet, ARP, IP
 * and TCP are still checked frame by frame for malformed headers and bad checksums.
 */
export async function checkCapture(file: string, opts: { reassemble?: boolean } = {}): Promise<CaptureCheck> {
  const args = ['-n', '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE'];
  // Without reassembly HTTP would parse every body segment as if it began a message, and
  // call one of random bytes starting with CR LF malformed ("Leading CRLF"): leave HTTP out.
  if (opts.reassemble === false) args.push('-o', 'tcp.desegment_tcp_streams:FALSE', '--disable-protocol', 'http');
  const fields = ['frame.number', '_ws.malformed', 'tcp.checksum.status', 'ip.checksum.status', 'tcp.analysis.flags', 'ip.src', 'ip.dst', '_ws.col.Info'];
  const r = await run('tshark', [...args, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=f', ...fields.flatMap((f) => ['-e', f])], { timeoutMs: 120_000 });
  expect(tsharkErrors(r.stderr), `tshark -r ${file}`).toBe('');
  expect(r.code).toBe(0);
  const out: CaptureCheck = { frames: 0, malformed: [], reassemblyOverlaps: [], badTcpChecksums: [], goodTcpChecksums: 0, badIpChecksums: [], analysisFlags: 0 };
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const [num, malformed, tcpCk, ipCk, flags, src, dst, info] = line.split('\t');
    const summary = `${num} ${src} → ${dst} ${info}`;
    out.frames++;
    if (malformed && /\[TCP (Fast |Spurious )?Retransmission\]|\[TCP Out-Of-Order\]/.test(info!) && /\[Reassembly error, protocol TCP: New fragment overlaps old data \(retransmission\?\)\]$/.test(info!)) out.reassemblyOverlaps.push(summary);
    else if (malformed) out.malformed.push(summary);
    if (tcpCk === '2') out.badTcpChecksums.push(summary);
    if (tcpCk === '1') out.goodTcpChecksums++;
    if (ipCk === '2') out.badIpChecksums.push(summary);
    if (flags) out.analysisFlags++;
  }
  return out;
}

export interface StreamCheck {
  /** Data segments read, and the bytes of stream they cover. */
  segments: number;
  bytes: number;
  /** Segments whose bytes differ from bytes sent before at the same sequence numbers. */
  conflicts: string[];
}

/**
 * Every TCP data segment matching `filter` (e.g. what the stack sent:
 * 'ip.src == 10.0.0.2'), put back into its stream by sequence number: a
 * retransmission, whole or partial, must carry exactly the bytes first sent
 * there. (The peer drops data it already has, so a wrong retransmission
 * would never show in what it received.)
 */
export async function checkRetransmittedBytes(file: string, filter: string): Promise<StreamCheck> {
  const r = await run(
    'tshark',
    ['-n', '-r', file, '-o', 'tcp.desegment_tcp_streams:FALSE', '-o', 'tcp.relative_sequence_numbers:TRUE', '-Y', `(${filter}) && tcp.len > 0`, '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.stream', '-e', 'tcp.seq', '-e', 'tcp.payload'],
    { timeoutMs: 120_000 },
  );
  expect(tsharkErrors(r.stderr), `tshark -r ${file}`).toBe('');
  const streams = new Map<string, { data: Buffer; have: Uint8Array }>();
  const out: StreamCheck = { segments: 0, bytes: 0, conflicts: [] };
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const [num, stream, seqText, hex] = line.split('\t');
    const payload = Buffer.from(hex!.replace(/:/g, ''), 'hex');
    const seq = Number(seqText) - 1; // relative: the SYN is 0, the first data byte 1
    let s = streams.get(stream!);
    const need = seq + payload.length;
    if (!s || s.data.length < need) {
      const size = Math.max(need, (s?.data.length ?? 0) * 2, 1 << 16);
      const grown = { data: Buffer.alloc(size), have: new Uint8Array(size) };
      if (s) {
        s.data.copy(grown.data);
        grown.have.set(s.have);
      }
      streams.set(stream!, (s = grown));
    }
    out.segments++;
    for (let i = 0; i < payload.length; i++) {
      const at = seq + i;
      if (!s.have[at]) {
        s.have[at] = 1;
        s.data[at] = payload[i]!;
        out.bytes++;
      } else if (s.data[at] !== payload[i]) {
        out.conflicts.push(`frame ${num}: stream ${stream} byte ${at} was ${s.data[at]}, now ${payload[i]}`);
        break;
      }
    }
  }
  return out;
}
