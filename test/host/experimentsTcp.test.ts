// Host tests: the seed experiments of docs/experiments.md, sections 6–7 — TCP's
// listen queues under a SYN flood, and memory per idle connection. Each runs
// the commands the page documents (through the helpers) and checks what the
// page says the output shows.
//
//   6. a SYN flood (test/host/fixtures/synflood.py, ≤ 2000 SYNs in ≤ 5 s) fills
//      the SYN queue of a listener with --listen-backlog 64: SYN cookies are
//      sent, curl still gets its page at once; the kernel answers each SYN-ACK
//      to a spoofed port with a RST, which empties the queue again — unless the
//      spoofed source does not answer (10.0.0.3), when the queue stays full and
//      curl's connection is made from a cookie, until ARP gives up and the
//      stack's ICMP host unreachable to itself drops the requests; without
//      cookies (--no-syncookies) a flood from off the subnet (192.0.2.3) locks
//      curl out.
//   7. 1000 idle connections (test/host/fixtures/idleConns.mjs): 1000 ESTAB
//      lines in `ustack stats sockets`, and the process's RSS before and after.
//
// Every test makes its own namespace (ustack-test-<pid>-…), passes it with
// --netns, sends packets only inside it (from 10.0.0.1, or spoofed from
// 10.0.0.3 on the TAP's own subnet or from 192.0.2.3 — TEST-NET-1, RFC 5737 —
// whose SYN-ACKs the stack sends to its gateway, the namespace's kernel, which
// does not forward and drops them; all to 10.0.0.2), and deletes it afterwards,
// pass or fail. Floods are bounded in count and time; every process is
// stopped by its PID. No assertion is about a time or a rate.

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  ROOT,
  run,
  startUp,
  stopAll,
  ustackStats,
  waitFor,
} from './helpers.js';

const FILE = 'test/host/experimentsTcp.test.ts';
const enabled = hostTestsEnabled({ file: FILE, tools: ['python3', 'curl', 'tshark'] });

const STACK = '10.0.0.2';
const SYNFLOOD = join(ROOT, 'test', 'host', 'fixtures', 'synflood.py');
const IDLE = join(ROOT, 'test', 'host', 'fixtures', 'idleConns.mjs');

const namespaces = new Set<string>();
const ns = (tag: string): string => {
  const n = nsName(tag);
  namespaces.add(n);
  return n;
};
const dirs: string[] = [];

afterEach(async () => {
  try {
    await stopAll();
  } finally {
    for (const n of namespaces) deleteNetns(n);
    namespaces.clear();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
});

afterAll(() => {
  for (const n of namespaces) deleteNetns(n);
});

/** The LISTEN line of port `port` in `ustack stats sockets` (ss -tanoi). */
function listenLine(table: string, port: number): { recvQ: number; backlog: number; synq: number; line: string } {
  const line = table.split('\n').find((l) => new RegExp(`^LISTEN\\s.*\\s0\\.0\\.0\\.0:${port}\\s`).test(l));
  if (!line) throw new Error(`no LISTEN line for port ${port} in:\n${table}`);
  const m = /^LISTEN\s+(\d+)\s+(\d+)\s.*synq (\d+)$/.exec(line);
  if (!m) throw new Error(`cannot read: ${line}`);
  return { recvQ: Number(m[1]), backlog: Number(m[2]), synq: Number(m[3]), line };
}

/** A TCP counter from `ustack stats tcp` (nstat: non-zero ones only, so a missing one is 0). */
async function tcpCounter(name: string, key: string): Promise<number> {
  return counter(await ustackStats(name, 'tcp'), key) ?? 0;
}

/** sudo ip netns exec NS python3 test/host/fixtures/synflood.py SRC 10.0.0.2 80 [--count N]: "sent N SYNs". */
async function synflood(name: string, src: string, count = 2000): Promise<number> {
  const r = await nsExec(name, 'python3', [SYNFLOOD, src, STACK, '80', '--count', String(count), '--max-seconds', '5'], 20_000);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const m = /^sent (\d+) SYNs to 10\.0\.0\.2:80 in /.exec(r.stdout);
  expect(m, r.stdout).not.toBeNull();
  return Number(m![1]);
}

/** sudo ip netns exec NS curl -sS -o /dev/null -w '%{http_code}\n' http://10.0.0.2/ */
async function curl(name: string): Promise<string> {
  const r = await nsExec(name, 'curl', ['-sS', '-o', '/dev/null', '--max-time', '20', '-w', '%{http_code}\n', `http://${STACK}/`], 30_000);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

// ---- 6. listen queues under a SYN flood --------------------------------------------------------

describe.skipIf(!enabled)('6. a SYN flood: the SYN queue, SYN cookies, and the kernel’s RSTs', () => {
  it('--listen-backlog 64: cookies once the SYN queue is full; the kernel RSTs every SYN-ACK, emptying the queue; curl works', async () => {
    const name = ns('x6a');
    const dir = mkdtempSync(join(tmpdir(), 'ustack-exp-x6-'));
    dirs.push(dir);
    const pcap = join(dir, 'x6.pcap');
    createNetns(name);
    // sudo npx ustack up --rx-ring 4096 --listen-backlog 64 --pcap /tmp/x6.pcap
    const up = await startUp(['--netns', name, '--rx-ring', '4096', '--listen-backlog', '64', '--pcap', pcap]);
    expect(listenLine(await ustackStats(name, 'sockets'), 80)).toMatchObject({ recvQ: 0, backlog: 64, synq: 0 });

    // Bounded: at most 3 floods of 2000 SYNs, each for at most 5 s.
    let sent = 0;
    for (let i = 0; i < 3 && (await tcpCounter(name, 'TcpExtSyncookiesSent')) === 0; i++) sent += await synflood(name, '10.0.0.1');
    expect(sent).toBeGreaterThan(0);
    const cookies = await tcpCounter(name, 'TcpExtSyncookiesSent');
    expect(cookies).toBeGreaterThan(0);

    // curl gets the page; its connection is a passive open like any other.
    expect(await curl(name)).toBe('200');
    expect(await tcpCounter(name, 'TcpPassiveOpens')).toBe(1);

    // The kernel answered the SYN-ACKs with RSTs (no socket of its own on those
    // ports), and each RST removed its request sock: the SYN queue is empty again.
    expect(listenLine(await ustackStats(name, 'sockets'), 80).synq).toBe(0);
    expect(await tcpCounter(name, 'TcpExtSyncookiesRecv')).toBe(0);
    expect(await tcpCounter(name, 'TcpExtListenDrops')).toBe(0);

    // In the capture (tcpdump -i ustack0): SYN-ACKs from the stack, RSTs from the kernel.
    await up.stop('SIGTERM');
    const count = async (filter: string) => (await run('tshark', ['-n', '-r', pcap, '-Y', filter], { timeoutMs: 60_000 })).stdout.split('\n').filter(Boolean).length;
    const synacks = await count('ip.src == 10.0.0.2 && tcp.flags.syn == 1 && tcp.flags.ack == 1 && tcp.srcport == 80 && tcp.dstport < 32768');
    const rsts = await count('ip.src == 10.0.0.1 && tcp.flags.reset == 1 && tcp.dstport == 80 && tcp.srcport < 32768');
    expect(synacks).toBeGreaterThan(cookies);
    expect(rsts).toBe(synacks);
  });

  it('from a source that does not answer (10.0.0.3): the SYN queue stays full, and curl’s connection comes from a cookie; when ARP gives up, the queue empties', async () => {
    const name = ns('x6b');
    createNetns(name);
    // sudo npx ustack up --rx-ring 4096 --listen-backlog 64
    await startUp(['--netns', name, '--rx-ring', '4096', '--listen-backlog', '64']);
    // sudo ip netns exec ustack python3 test/host/fixtures/synflood.py 10.0.0.3 10.0.0.2 80 --count 500
    let sent = 0;
    for (let i = 0; i < 3 && listenLine(await ustackStats(name, 'sockets'), 80).synq < 64; i++) sent += await synflood(name, '10.0.0.3', 500);
    expect(sent).toBeGreaterThan(0);
    // Nobody answers for 10.0.0.3 (no ARP reply): the requests stay, their SYN-ACKs retransmitted, for about a minute.
    expect(listenLine(await ustackStats(name, 'sockets'), 80)).toMatchObject({ recvQ: 0, backlog: 64, synq: 64 });
    expect(await ustackStats(name, 'neigh')).toMatch(/^10\.0\.0\.3\s+dev\s+ustack0\s+(INCOMPLETE|FAILED)/m);
    expect(await tcpCounter(name, 'TcpExtSyncookiesSent')).toBeGreaterThan(0);

    // curl's SYN finds the queue full: answered with a cookie; its ACK carries it back.
    const recv = await tcpCounter(name, 'TcpExtSyncookiesRecv');
    expect(await curl(name)).toBe('200');
    expect(await tcpCounter(name, 'TcpExtSyncookiesRecv')).toBe(recv + 1);
    expect(await tcpCounter(name, 'TcpPassiveOpens')).toBe(1);
    expect(listenLine(await ustackStats(name, 'sockets'), 80).synq).toBe(64);

    // ARP for 10.0.0.3 gives up after 3 probes: each SYN-ACK waiting on it comes
    // back as an ICMP host unreachable from the stack to itself (Linux
    // arp_error_report → ipv4_link_failure), and tcp_req_err drops its request.
    const drops = await tcpCounter(name, 'TcpExtListenDrops');
    await waitFor('the SYN queue to empty', async () => listenLine(await ustackStats(name, 'sockets'), 80).synq === 0, 20_000, 250);
    expect(await ustackStats(name, 'neigh')).toMatch(/^10\.0\.0\.3\s+dev\s+ustack0\s+FAILED/m);
    expect(await tcpCounter(name, 'TcpExtListenDrops')).toBe(drops + 64);
    const snmp = await ustackStats(name, 'snmp');
    expect(counter(snmp, 'IcmpOutDestUnreachs')).toBeGreaterThanOrEqual(64);
    expect(counter(snmp, 'IcmpInDestUnreachs')).toBeGreaterThanOrEqual(64);
  });

  it('--no-syncookies: a flood from off the subnet (192.0.2.3) locks curl out — its SYNs find the SYN queue full and are dropped (TcpExtTCPReqQFullDrop)', async () => {
    const name = ns('x6d');
    createNetns(name);
    // sudo npx ustack up --rx-ring 4096 --listen-backlog 64 --no-syncookies
    await startUp(['--netns', name, '--rx-ring', '4096', '--listen-backlog', '64', '--no-syncookies']);
    let sent = 0;
    // sudo ip netns exec ustack python3 test/host/fixtures/synflood.py 192.0.2.3 10.0.0.2 80 --count 500
    for (let i = 0; i < 3 && listenLine(await ustackStats(name, 'sockets'), 80).synq < 64; i++) sent += await synflood(name, '192.0.2.3', 500);
    expect(sent).toBeGreaterThan(0);
    expect(listenLine(await ustackStats(name, 'sockets'), 80).synq).toBe(64);
    const full = await tcpCounter(name, 'TcpExtTCPReqQFullDrop');
    expect(full).toBeGreaterThan(0);
    // sudo ip netns exec ustack curl --max-time 3 http://10.0.0.2/ — the SYN and its
    // retransmissions (1 s, then 2 s later) are dropped; curl gives up (exit 28, timeout).
    const r = await nsExec(name, 'curl', ['-sS', '-o', '/dev/null', '--max-time', '3', `http://${STACK}/`], 30_000);
    expect(r.code).toBe(28);
    expect(await tcpCounter(name, 'TcpExtTCPReqQFullDrop')).toBeGreaterThan(full);
    expect(await tcpCounter(name, 'TcpExtSyncookiesSent')).toBe(0);
    expect(await tcpCounter(name, 'TcpPassiveOpens')).toBe(0);
    // The requests' SYN-ACKs went to the gateway and nowhere further: the queue is still full.
    expect(listenLine(await ustackStats(name, 'sockets'), 80).synq).toBe(64);
  });
});

// ---- 6b. the accept queue overflows ------------------------------------------------------------

/** Established TCP connections to 10.0.0.2:PORT as the kernel (the client, in the namespace) sees them: ss -tn state established. */
async function kernelEstablished(name: string, port: number): Promise<number> {
  const r = await nsExec(name, 'ss', ['-Htn', 'state', 'established', 'dst', `${STACK}:${port}`], 10_000);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
}

describe.skipIf(!enabled)('6b. the accept queue overflows: the client thinks it is connected, the server does not', () => {
  it('--listen-backlog 4 and bursts of 50 connects: TcpExtListenOverflows; the kernel counts more ESTABLISHED than the stack has', async () => {
    const name = ns('x6c');
    createNetns(name);
    // sudo npx ustack up --listen-backlog 4
    await startUp(['--netns', name, '--listen-backlog', '4']);
    const estab = (t: string) => t.split('\n').filter((l) => /^ESTAB\s.*\s10\.0\.0\.2:9\s/.test(l)).length;
    // sudo ip netns exec ustack node test/host/fixtures/idleConns.mjs 10.0.0.2 9 200 20
    // Bounded: at most 3 rounds of 200 connections, each held at most 20 s.
    for (let round = 0; round < 3 && (await tcpCounter(name, 'TcpExtListenOverflows')) === 0; round++) {
      const child = spawn('ip', ['netns', 'exec', name, process.execPath, IDLE, STACK, '9', '200', '20'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      try {
        await waitFor('200 connects done', () => out.includes('open 200') || child.exitCode !== null, 60_000, 100);
        expect(out).toContain('open 200');
        const overflows = await tcpCounter(name, 'TcpExtListenOverflows');
        if (overflows === 0) continue;
        // Every connect() returned: the kernel's side of all 200 is ESTABLISHED.
        expect(await kernelEstablished(name, 9)).toBe(200);
        // The stack dropped the final ACKs that found its accept queue full:
        // those connections exist only on the client's side.
        const stackSide = estab(await ustackStats(name, 'sockets'));
        expect(stackSide).toBeLessThan(200);
        expect(await tcpCounter(name, 'TcpExtListenDrops')).toBeGreaterThanOrEqual(overflows);
        expect(await tcpCounter(name, 'TcpExtSyncookiesSent')).toBeGreaterThan(0);
        console.log(`6b. accept queue: ${overflows} overflows; kernel 200 ESTABLISHED, stack ${stackSide}`);
      } finally {
        child.stdin.end();
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
    }
    expect(await tcpCounter(name, 'TcpExtListenOverflows')).toBeGreaterThan(0);
  });
});

// ---- 7. memory per connection ------------------------------------------------------------------

/** VmRSS of a process, in kB. */
function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

describe.skipIf(!enabled)('7. memory per connection: 1000 idle connections', () => {
  it('ustack stats sockets lists 1000 ESTAB lines more; the RSS before and after is printed', async () => {
    const name = ns('x7');
    createNetns(name);
    const up = await startUp(['--netns', name]);
    const estab = (t: string) => t.split('\n').filter((l) => /^ESTAB\s.*\s10\.0\.0\.1:\d+\s/.test(l)).length;
    const before = await ustackStats(name, 'sockets');
    expect(estab(before)).toBe(0);
    const rss0 = rssKb(up.pid);

    // sudo ip netns exec ustack node test/host/fixtures/idleConns.mjs 10.0.0.2 9 1000
    const child = spawn('ip', ['netns', 'exec', name, process.execPath, IDLE, STACK, '9', '1000', '60'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    try {
      await waitFor('1000 connections open', () => out.includes('open 1000') || child.exitCode !== null, 60_000, 100);
      expect(out, err).toContain('open 1000');

      const during = await ustackStats(name, 'sockets');
      const rss1 = rssKb(up.pid);
      expect(estab(during)).toBe(1000);
      expect(during.split('\n').length - before.split('\n').length).toBe(1000);
      expect(counter(await ustackStats(name, 'tcp'), 'TcpCurrEstab')).toBe(1000);
      expect(listenLine(during, 9).synq).toBe(0);
      console.log(`7. idle connections: RSS ${rss0} kB before, ${rss1} kB with 1000 open: ${((rss1 - rss0) * 1024 / 1000).toFixed(0)} bytes each (GC and heap growth make this rough; see npm run bench)`);
    } finally {
      child.stdin.end(); // the fixture closes its connections and exits
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    // The kernel closed them: the stack's ends leave ESTABLISHED.
    await waitFor('the connections to close', async () => estab(await ustackStats(name, 'sockets')) === 0, 20_000, 200);
  });
});

describe.skipIf(!enabled)('experimentsTcp.test.ts leaves nothing behind', () => {
  it('has deleted every network namespace it made', () => {
    expect(leftoverNetns('x')).toEqual([]);
  });
});
