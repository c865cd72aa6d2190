// Host tests: ustack's TCP as a server on a real TAP, with Linux's TCP (curl,
// and Node's own net module run inside the namespace) as the client. One
// `ustack up --pcap` serves the whole file in a namespace of its own
// (ustack-test-<pid>-tcphttp), deleted afterwards, pass or fail. All traffic
// is between 10.0.0.1 (the kernel's side of the TAP) and 10.0.0.2 (the
// stack), inside that namespace. Every transfer is bounded in size and time;
// no assertion is about a time or a rate.
//
//   GET /                    200 and the live counters page
//   GET /bytes/100000000     100 MB, hashed as it streams, equal to the pattern's hash
//   POST /sha256 (50 MB)     the stack's hash of the body equals sha256sum of the file
//   20 requests, keep-alive  one TCP connection: curl connects once, one passive open
//   echo (port 7)            1 MiB, and 500 connections at once each with its own bytes
//   chargen, discard         RFC 864 lines as specified; 1 MB swallowed and closed cleanly
//   closed port              refused at once by a RST (curl exit 7, ECONNREFUSED), not a timeout
//   SIGTERM                  exit 0 with the Tcp counters; tshark finds no malformed
//                            frame and no bad TCP or IP checksum in the capture

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { counter, createNetns, deleteNetns, hostTestsEnabled, nsName, startUp, stopAll, ustackStats, waitFor, type UstackProcess } from './helpers.js';
import { checkCapture, curlHashed, fixtureJson, nodeInNs, patternSha256, stopAndCheckReport, tcpCounters, writeRandomFile } from './tcpHelpers.js';

const enabled = hostTestsEnabled({ file: 'test/host/tcpHttp.test.ts', tools: ['curl', 'tshark', 'sha256sum'] });

const STACK = '10.0.0.2';
const URL = `http://${STACK}`;

interface EchoResult {
  connections: number;
  size: number;
  ok: number;
  failed: Array<{ i: number; error: string | null; bytes: number }>;
  timedOut?: boolean;
}

describe.skipIf(!enabled)('ustack TCP server on a real TAP: HTTP, echo, chargen, discard (Linux TCP as the client)', () => {
  const ns = nsName('tcphttp');
  let dir = '';
  let pcap = '';
  let up: UstackProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ustack-tcphttp-'));
    pcap = join(dir, 'tcp.pcap');
    createNetns(ns);
    up = await startUp(['--netns', ns, '--pcap', pcap]);
  });

  afterAll(async () => {
    try {
      await stopAll();
    } finally {
      deleteNetns(ns);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('GET / answers 200 with the counters page', async () => {
    const r = await curlHashed(ns, ['-o', join(dir, 'index.html'), `${URL}/`], '%{http_code} %{size_download} %{content_type}', 20_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.info[0]).toMatch(/^200 \d+ text\/html/);
    const page = readFileSync(join(dir, 'index.html'), 'utf8');
    expect(page).toContain('<h1>ustack</h1>');
    expect(page).toContain('#nstat Tcp (non-zero counters)');
    expect(page).toMatch(/TcpPassiveOpens\s+1\b/); // this very connection
    expect(page).toMatch(/LISTEN\s+0\s+\d+\s+0\.0\.0\.0:80\b/);
  });

  it('GET /bytes/100000000: 100 MB whose SHA-256 is the pattern’s', async () => {
    const n = 100_000_000;
    const r = await curlHashed(ns, [`${URL}/bytes/${n}`], '%{http_code} %{size_download}', 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.info).toEqual([`200 ${n}`]);
    expect(r.bytes).toBe(n);
    expect(r.sha256).toBe(patternSha256(n));
  });

  it('POST /sha256 of 50 MB: the stack’s hash equals sha256sum of the file', async () => {
    const file = join(dir, 'upload.bin');
    const want = await writeRandomFile(file, 50_000_000);
    const out = join(dir, 'upload.sha256');
    const r = await curlHashed(ns, ['-o', out, '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${file}`, `${URL}/sha256`], '%{http_code} %{size_upload}', 120_000);
    rmSync(file);
    expect(r.code, r.stderr).toBe(0);
    expect(r.info).toEqual(['200 50000000']);
    expect(readFileSync(out, 'utf8')).toBe(`${want}\n`);
  });

  it('20 requests over one keep-alive connection: curl connects once, the stack sees one passive open', async () => {
    const before = await tcpCounters(ns);
    const sizes = Array.from({ length: 20 }, (_, i) => 1000 * (i + 1) + i);
    const args = sizes.flatMap((n) => ['-o', '/dev/null', `${URL}/bytes/${n}`]);
    const r = await curlHashed(ns, args, '%{http_code} %{size_download} %{num_connects}', 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.info.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(sizes.map((n) => `200 ${n}`));
    expect(r.info.reduce((sum, l) => sum + Number(l.split(' ')[2]), 0)).toBe(1);
    const after = await tcpCounters(ns);
    expect(after('TcpPassiveOpens') - before('TcpPassiveOpens')).toBe(1);
    expect(after('TcpEstabResets') - before('TcpEstabResets')).toBe(0);
  });

  it('echoes 1 MiB on port 7 to Linux’s TCP byte for byte', async () => {
    const r = await nodeInNs(ns, 'tcpClients.mjs', ['echo', STACK, '7', '1', String(1 << 20), '30000'], 40_000);
    const res = fixtureJson<EchoResult>(r);
    expect(res, r.stderr).toEqual({ connections: 1, size: 1 << 20, ok: 1, failed: [] });
  });

  it('echoes on 500 connections opened at once, each its own 2000 bytes', async () => {
    const before = await tcpCounters(ns);
    // Bounded: 500 connections × 2000 bytes, 60 s. A burst of 500 SYNs may overflow the
    // 256-slot RX ring (rx_fifo_errors); the kernel's SYN retransmits then recover.
    const r = await nodeInNs(ns, 'tcpClients.mjs', ['echo', STACK, '7', '500', '2000', '60000'], 70_000);
    const res = fixtureJson<EchoResult>(r);
    expect(res, JSON.stringify(res.failed.slice(0, 10))).toEqual({ connections: 500, size: 2000, ok: 500, failed: [] });
    const after = await tcpCounters(ns);
    expect(after('TcpPassiveOpens') - before('TcpPassiveOpens')).toBe(500);
    // Every connection closes: soon only the four listeners are left in the socket table
    // (a lost last ACK leaves one in LAST-ACK until its FIN is retransmitted: wait, bounded).
    let sockets = '';
    const connections = () => sockets.split('\n').filter((l) => l && !/^(#|State\b|LISTEN\b)/.test(l));
    const allClosed = async (): Promise<boolean> => {
      sockets = await ustackStats(ns, 'sockets');
      return connections().length === 0;
    };
    await waitFor('the 500 connections to close', allClosed, 15_000, 200).catch((e) => {
      throw new Error(`${(e as Error).message}\n${sockets}`);
    });
    expect(sockets).toMatch(/LISTEN\s+0\s+\d+\s+0\.0\.0\.0:7\b/);
  });

  it('chargen (port 19) sends RFC 864 lines; discard (port 9) takes 1 MB and closes cleanly', async () => {
    const c = fixtureJson<{ ok?: boolean; bytes: number; error?: string }>(await nodeInNs(ns, 'tcpClients.mjs', ['chargen', STACK, '19', '1000000', '', '30000'], 40_000));
    expect(c).toEqual({ bytes: 1_000_000, ok: true });
    const d = fixtureJson<{ written: number; received: number; ended: boolean; error: string | null }>(
      await nodeInNs(ns, 'tcpClients.mjs', ['discard', STACK, '9', '1000000', '', '30000'], 40_000),
    );
    expect(d).toEqual({ written: 1_000_000, received: 0, ended: true, error: null });
  });

  it('a closed port refuses at once with a RST: curl exit 7 and ECONNREFUSED, not a timeout', async () => {
    const before = await tcpCounters(ns);
    // --connect-timeout only bounds the test: a timeout would be exit 28 with "timed out".
    const r = await curlHashed(ns, ['--connect-timeout', '10', `${URL}:81/`], '%{http_code}', 20_000);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/Failed to connect to 10\.0\.0\.2 port 81/);
    expect(r.stderr).not.toMatch(/timed out|timeout/i);
    const n = fixtureJson<{ code?: string; connected?: boolean }>(await nodeInNs(ns, 'tcpClients.mjs', ['refused', STACK, '81', '', '', '15000'], 20_000));
    expect(n.code).toBe('ECONNREFUSED');
    const after = await tcpCounters(ns);
    expect(after('TcpOutRsts') - before('TcpOutRsts')).toBe(2); // one RST per SYN, from curl and from node
  });

  it('SIGTERM: exits 0 printing the Tcp counters; the capture holds no malformed frame and no bad checksum', async () => {
    const report = await stopAndCheckReport(up);
    // GET /, /bytes, POST, the keep-alive connection, echo 1 MiB, 500 echoes, chargen, discard.
    expect(counter(report, 'TcpPassiveOpens'), report).toBe(1 + 1 + 1 + 1 + 1 + 500 + 1 + 1);
    // 150 MB of HTTP: read frame by frame, without TCP reassembly and HTTP (tcpFaults.test.ts
    // reads its smaller captures whole); Ethernet, IP and TCP headers and checksums are all checked.
    const cap = await checkCapture(pcap, { reassemble: false });
    expect(cap.frames).toBeGreaterThan(100_000);
    expect(cap.goodTcpChecksums).toBeGreaterThan(100_000); // verification was on
    expect(cap.malformed).toEqual([]);
    expect(cap.badTcpChecksums).toEqual([]);
    expect(cap.badIpChecksums).toEqual([]);
  });
});
