// Host tests: ustack's TCP as a client, with Linux's TCP as the server, on a
// real TAP inside a namespace of this file's own (ustack-test-<pid>-tcpclient),
// deleted afterwards, pass or fail. Linux servers (fixtures/linuxServer.mjs)
// run inside that namespace; the stack is 10.0.0.2, the kernel's side 10.0.0.1.
//
// 1. The library (dist/) in a child process (fixtures/stackClient.mjs): a
//    Stack with the real runtime and the TAP driver, the TAP created in the
//    namespace — `ustack up`'s path, but connecting out. It echoes 1 MiB
//    through Linux's echo server, downloads 10 MB that Linux sends at full
//    rate, runs 50 echo connections at once, and is refused by a closed port.
// 2. `ustack fetch`: a running `ustack up` makes an HTTP GET through its own
//    TCP to a Linux HTTP server (10 MB, hashed), and to a closed port.
//
// Every transfer is bounded in size and time; no assertion is about a time or a rate.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { counter, createNetns, deleteNetns, hostTestsEnabled, nsName, run, startUp, stopAll, ustack, waitFor, type UstackProcess } from './helpers.js';
import { curlHashed, FIXTURES, fixtureJson, patternSha256, stopAndCheckReport } from './tcpHelpers.js';

const enabled = hostTestsEnabled({ file: 'test/host/tcpClient.test.ts', tools: ['curl'] });

const SERVER = '10.0.0.1';
const ECHO = 5000;
const PATTERN = 5001;
const CLOSED = 5002;
const HTTP = 5080;

interface Exchange {
  error: string | null;
  bytes: number;
  sha256: string;
  ok?: boolean;
}

interface StackClientResult {
  echo?: Exchange;
  download?: Exchange;
  concurrent?: { connections: number; ok: number; failed: unknown[] };
  refused?: { code?: string; connected?: boolean };
  counters: Record<string, number>;
  drops: Record<string, number>;
  timedOut?: boolean;
  exception?: string;
}

describe.skipIf(!enabled)('ustack TCP client on a real TAP (Linux TCP as the server)', () => {
  const ns = nsName('tcpclient');
  let server: ChildProcess | null = null;
  let serverOut = '';

  beforeAll(async () => {
    createNetns(ns);
    // Listens on the namespace's addresses only; exits by itself after 180 s at the latest.
    server = spawn('ip', ['netns', 'exec', ns, process.execPath, join(FIXTURES, 'linuxServer.mjs'), String(ECHO), String(PATTERN), String(HTTP), '180'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d: Buffer) => (serverOut += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (serverOut += d.toString()));
    await waitFor('the Linux servers to listen', () => serverOut.includes('listening') || server!.exitCode !== null, 10_000);
    expect(serverOut).toContain('listening');
  });

  afterAll(async () => {
    try {
      await stopAll();
      if (server && server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((r) => server!.once('close', r));
        server.kill('SIGTERM'); // by its PID: ip netns exec execs node in place
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      }
    } finally {
      deleteNetns(ns);
    }
  });

  describe('the library as a client (Stack + RealRuntime + tapDriver, in a child process)', () => {
    let res: StackClientResult;

    beforeAll(async () => {
      const r = await run(process.execPath, [join(FIXTURES, 'stackClient.mjs'), ns, 'uclient0', String(ECHO), String(PATTERN), String(CLOSED)], { timeoutMs: 75_000 });
      res = fixtureJson<StackClientResult>(r);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(res.exception).toBeUndefined();
    });

    it('echoes 1 MiB through Linux’s echo server', () => {
      expect(res.echo).toMatchObject({ error: null, bytes: 1 << 20, ok: true });
    });

    it('receives 10 MB that Linux sends at full rate, byte for byte', () => {
      expect(res.download).toEqual({ error: null, bytes: 10_000_000, sha256: patternSha256(10_000_000) });
    });

    it('runs 50 connections at once, each echoed intact', () => {
      expect(res.concurrent).toEqual({ connections: 50, ok: 50, failed: [] });
    });

    it('is refused by a closed port (the kernel’s RST): ECONNREFUSED', () => {
      expect(res.refused?.code).toBe('ECONNREFUSED');
    });

    it('counts its opens like Linux: 53 active opens, one attempt failed, none passive', () => {
      expect(res.counters.TcpActiveOpens).toBe(1 + 1 + 50 + 1);
      expect(res.counters.TcpAttemptFails).toBe(1);
      expect(res.counters.TcpPassiveOpens).toBeUndefined();
      expect(res.counters.TcpInCsumErrors).toBeUndefined();
    });
  });

  describe('ustack fetch: a running ustack up as an HTTP client', () => {
    let up: UstackProcess;

    beforeAll(async () => {
      // The namespace exists, so ustack keeps it; the client's TAP went with its process.
      up = await startUp(['--netns', ns, '--tap', 'ustack0']);
    });

    it('GETs 10 MB from a Linux HTTP server through its own TCP', async () => {
      const r = await ustack(['fetch', '--name', ns, `http://${SERVER}:${HTTP}/bytes/10000000`], 60_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toBe(`status 200 bytes 10000000 sha256 ${patternSha256(10_000_000)}\n`);
    });

    it('reports ECONNREFUSED for a closed port', async () => {
      const r = await ustack(['fetch', '--name', ns, `http://${SERVER}:${CLOSED}/`], 40_000);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^error: ECONNREFUSED/);
    });

    it('still serves as well (one curl GET /), then exits 0 on SIGTERM with its Tcp counters', async () => {
      const g = await curlHashed(ns, ['-o', '/dev/null', 'http://10.0.0.2/'], '%{http_code}', 20_000);
      expect(g.code, g.stderr).toBe(0);
      expect(g.info).toEqual(['200']);
      const report = await stopAndCheckReport(up, 1);
      expect(counter(report, 'TcpActiveOpens'), report).toBe(2);
      expect(counter(report, 'TcpAttemptFails'), report).toBe(1);
      expect(counter(report, 'TcpPassiveOpens'), report).toBe(1);
    });
  });
});
