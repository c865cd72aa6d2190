// Host tests: UDP between the kernel and `ustack up` over a real TAP device.
// The kernel's socat sends to the stack's echo service (RFC 862, port 7) and
// gets every byte back — 1, 512, 1472 (a full frame) and 8000 (fragmented
// both ways) — and a connected kernel socket sending to a closed port hears
// "connection refused" from the stack's ICMP port unreachable, which the
// capture holds.
//
// Each instance runs in a network namespace this file creates
// (ustack-test-<pid>-udp, -udp2) and deletes afterwards, pass or fail; every
// datagram is sent inside it, between 10.0.0.1 (the kernel) and 10.0.0.2
// (the stack). Every wait is bounded; ustack is stopped by its PID.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  counter,
  createNetns,
  deleteNetns,
  hostTestsEnabled,
  leftoverNetns,
  nsExec,
  nsName,
  run,
  startUp,
  stopAll,
  ustackStats,
  type UstackProcess,
} from './helpers.js';

const enabled = hostTestsEnabled({ file: 'test/host/udp.test.ts', tools: ['tshark', 'socat'] });

const STACK = '10.0.0.2';
const CLOSED_PORT = 9999;

/** tshark's stderr, without its warning about running as root. */
const tsharkErrors = (stderr: string): string =>
  stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^Running as user "root"/.test(l))
    .join('\n');

/** Deterministic, non-repeating-looking bytes. */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/**
 * Sends the contents of a file as one datagram with socat inside `ns` and
 * writes what comes back to another file: socat reads the file in one
 * read() (-b 65536: one datagram), then waits up to -t seconds for the reply
 * (a bound on the wait, not an expectation: the reply comes in milliseconds).
 */
async function socatEcho(ns: string, dir: string, data: Buffer, port: number): Promise<{ reply: Buffer; out: string }> {
  const tag = `${data.length}-${port}-${Math.random().toString(36).slice(2)}`;
  const inFile = join(dir, `in-${tag}.bin`);
  const outFile = join(dir, `out-${tag}.bin`);
  writeFileSync(inFile, data);
  const r = await nsExec(ns, 'socat', ['-b', '65536', '-t', '2', '-T', '10', `OPEN:${inFile}!!CREATE:${outFile}`, `UDP:${STACK}:${port}`], 30_000);
  const reply = existsSync(outFile) ? readFileSync(outFile) : Buffer.alloc(0);
  return { reply, out: `socat exit ${r.code}\n${r.stdout}${r.stderr}` };
}

/** A connected UDP socket of the kernel, inside `ns`, sending to a port: prints the error code it gets, or "none". */
async function connectedSend(ns: string, port: number): Promise<string> {
  const script = `
    const s = require('node:dgram').createSocket('udp4');
    const done = (what) => { console.log(what); s.close(); };
    const t = setTimeout(() => done('none'), 5000);
    s.on('error', (e) => { clearTimeout(t); done(e.code + ' ' + e.syscall); });
    s.connect(${port}, '${STACK}', () => s.send('anyone there?'));
  `;
  const r = await nsExec(ns, process.execPath, ['-e', script], 20_000);
  return (r.stdout + r.stderr).trim();
}

describe.skipIf(!enabled)('ustack up on a real TAP: UDP echo and port unreachable', () => {
  const ns = nsName('udp');
  let dir = '';
  let pcap = '';
  let up: UstackProcess;
  const SIZES = [1, 512, 1472, 8000];
  const snmp = async (): Promise<(name: string) => number> => {
    const text = await ustackStats(ns, 'snmp');
    return (name) => counter(text, name) ?? 0; // nstat lists non-zero counters only
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ustack-udp-'));
    pcap = join(dir, 'udp.pcap');
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

  it('says the echo service runs on port 7', () => {
    expect(up.stdout).toContain(`socat - UDP:${STACK}:7`);
    expect(up.stderr).toBe('');
  });

  it('echoes 1, 512, 1472 and 8000 bytes back byte for byte (socat)', async () => {
    const before = await snmp();
    for (const size of SIZES) {
      const data = pattern(size, size);
      const { reply, out } = await socatEcho(ns, dir, data, 7);
      expect(reply.length, out).toBe(size);
      expect(reply.equals(data), `${size} bytes came back changed\n${out}`).toBe(true);
    }
    const after = await snmp();
    const delta = (n: string): number => after(n) - before(n);
    expect(delta('UdpInDatagrams')).toBe(SIZES.length);
    expect(delta('UdpOutDatagrams')).toBe(SIZES.length);
    expect(delta('UdpInErrors')).toBe(0);
    // 8000 bytes are 6 fragments each way at MTU 1500.
    expect(delta('IpReasmOKs')).toBe(1);
    expect(delta('IpFragOKs')).toBe(1);
    expect(delta('IpFragCreates')).toBe(6);
  });

  it('answers a closed port with port unreachable: the kernel reports connection refused', async () => {
    const before = await snmp();
    expect(await connectedSend(ns, CLOSED_PORT)).toBe('ECONNREFUSED recvmsg');
    // socat, too, hears it on its connected socket.
    const { out } = await socatEcho(ns, dir, Buffer.from('hello?\n'), CLOSED_PORT);
    expect(out).toMatch(/Connection refused/);
    const after = await snmp();
    expect(after('UdpNoPorts') - before('UdpNoPorts')).toBe(2);
    expect(after('IcmpOutDestUnreachs') - before('IcmpOutDestUnreachs')).toBe(2);
  });

  it('on SIGTERM exits 0 and prints its UDP counters', async () => {
    const exit = await up.stop('SIGTERM');
    expect(exit, up.describe()).toEqual({ code: 0, signal: null });
    expect(counter(up.stdout, 'UdpInDatagrams'), up.stdout).toBe(SIZES.length);
    expect(counter(up.stdout, 'UdpNoPorts')).toBe(2);
    expect(up.stdout).toMatch(/udp-noport\s+2/);
  });

  describe('the capture (--pcap), read by tshark after SIGTERM', () => {
    const tshark = async (args: string[]): Promise<string[]> => {
      const r = await run('tshark', ['-n', '-r', pcap, ...args], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(tsharkErrors(r.stderr)).toBe('');
      return r.stdout.split('\n').filter((l) => l.trim() !== '');
    };

    it('holds the ICMP port unreachable errors, quoting the datagrams to the closed port', async () => {
      const fields = await tshark(['-Y', 'icmp.type == 3 && icmp.code == 3', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.dstport']);
      // Outer header stack → kernel; the quoted one kernel → stack, to the closed port.
      const line = `${STACK},10.0.0.1\t10.0.0.1,${STACK}\t${CLOSED_PORT}`;
      expect(fields).toEqual([line, line]);
    });

    it('holds the echoes with good UDP checksums and nothing malformed', async () => {
      const opts = ['-o', 'udp.check_checksum:TRUE'];
      expect(await tshark(['-Y', '_ws.malformed'])).toEqual([]);
      expect(await tshark([...opts, '-Y', 'udp.checksum.status == 0'])).toEqual([]);
      const echoes = await tshark([...opts, '-Y', `udp.srcport == 7 && ip.src == ${STACK} && udp.checksum.status == 1`, '-T', 'fields', '-e', 'udp.length']);
      expect(echoes.map(Number)).toEqual(SIZES.map((s) => s + 8));
    });
  });
});

describe.skipIf(!enabled)('ustack up --udp-echo-port', () => {
  const ns = nsName('udp2');
  let dir = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ustack-udp2-'));
    createNetns(ns);
    await startUp(['--netns', ns, '--udp-echo-port', '7777', '--no-control']);
  });

  afterAll(async () => {
    try {
      await stopAll();
    } finally {
      deleteNetns(ns);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves the port it is given, and not port 7', async () => {
    const data = pattern(100, 3);
    const { reply, out } = await socatEcho(ns, dir, data, 7777);
    expect(reply.equals(data), out).toBe(true);
    expect(await connectedSend(ns, 7)).toBe('ECONNREFUSED recvmsg');
  });
});

describe.skipIf(!enabled)('udp.test.ts leaves nothing behind', () => {
  it('has deleted every network namespace it made', () => {
    expect(leftoverNetns('udp')).toEqual([]);
  });
});
