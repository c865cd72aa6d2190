// Host tests: netfilter rules given to `ustack up` on a real TAP device.
//
//   - The seeds' question 1, "if the firewall blocks a host, can tcpdump still
//     capture its packets?": the kernel's `ping` gets no reply while the
//     stack's capture (the packet tap, AF_PACKET's place: before any filter)
//     holds every request, each with the verdict as its pcapng comment, and
//     the rule's counter says how many it dropped.
//   - REJECT --reject-with tcp-reset: the kernel's connect() fails at once with
//     "Connection refused" — the RST comes from the REJECT target (the rule's
//     counter and the capture's comment show it).
//   - A bad rule stops `ustack up` at start, exit code 2, naming the rule.
//
// One instance serves the first two, inside a namespace this file creates
// (ustack-test-<pid>-nf) and deletes afterwards, pass or fail. Every packet
// is sent inside it, between 10.0.0.1 (the kernel's side of the TAP) and
// 10.0.0.2 (the stack). Waits are bounded; the instance is stopped by its PID.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createNetns,
  deleteNetns,
  hostTestsEnabled,
  netnsExists,
  nsExec,
  nsName,
  parsePing,
  ROOT,
  run,
  startUp,
  stopAll,
  ustack,
  ustackStats,
  waitFor,
  type UstackProcess,
} from './helpers.js';

const FILE = 'test/host/netfilter.test.ts';
let enabled = hostTestsEnabled({ file: FILE, tools: ['ping', 'tshark', 'bash'] });
if (enabled && !existsSync(join(ROOT, 'dist', 'ipv4', 'netfilter.js'))) {
  console.warn(`\n!! ${FILE} SKIPPED: dist/ is older than the netfilter code; run: npx tsc -p tsconfig.build.json\n`);
  enabled = false;
}

const STACK = '10.0.0.2';
const DROP_PING = 'INPUT -p icmp --icmp-type echo-request -j DROP';
const REJECT_81 = 'INPUT -p tcp --dport 81 -j REJECT --reject-with tcp-reset';

/** Packets and bytes of rule `num` of `chain` in the `ustack stats rules` listing. */
function ruleCounters(listing: string, chain: string, num: number): { packets: number; bytes: number; line: string } {
  const at = listing.indexOf(`Chain ${chain} `);
  if (at < 0) throw new Error(`no chain ${chain} in:\n${listing}`);
  const body = listing.slice(at).split('\n').slice(2);
  for (const line of body) {
    if (line.startsWith('Chain ') || line.trim() === '') break;
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s/.exec(line);
    if (m && Number(m[1]) === num) return { packets: Number(m[2]), bytes: Number(m[3]), line };
  }
  throw new Error(`no rule ${num} in chain ${chain}:\n${listing}`);
}

/** `tshark -r FILE -Y FILTER -T fields -e F…`: one array of fields per packet (a file still being written may end mid-block). */
async function tsharkFields(file: string, filter: string, fields: string[]): Promise<string[][]> {
  const r = await run('tshark', ['-r', file, '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { timeoutMs: 30_000 });
  const out = r.stdout.replace(/\n$/, '');
  return out === '' ? [] : out.split('\n').map((l) => l.split('\t'));
}

describe.skipIf(!enabled)('ustack up --rule on a real TAP', () => {
  const ns = nsName('nf');
  let dir = '';
  let pcap = '';
  let up: UstackProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ustack-nf-'));
    pcap = join(dir, 'nf.pcapng');
    createNetns(ns);
    up = await startUp(['--netns', ns, '--pcap', pcap, '--pcap-format', 'pcapng', '--rule', DROP_PING, '--rule', REJECT_81]);
  });

  afterAll(async () => {
    try {
      await stopAll();
    } finally {
      deleteNetns(ns);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the firewall drops the kernel’s pings, yet the capture holds all 5 requests (seeds, question 1)', async () => {
    const r = await nsExec(ns, 'ping', ['-c', '5', '-W', '1', STACK], 30_000);
    const s = parsePing(r.stdout);
    expect(s).toMatchObject({ transmitted: 5, received: 0 });

    // iptables -L -v: the rule counted every request it dropped.
    const listing = await ustackStats(ns, 'rules');
    const rule = ruleCounters(listing, 'INPUT', 1);
    expect(rule.line).toMatch(/DROP\s+icmp\s+--\s+\*\s+\*\s+0\.0\.0\.0\/0\s+0\.0\.0\.0\/0\s+icmptype 8$/);
    expect(rule.packets).toBe(5);
    expect(rule.bytes).toBe(5 * 84);
    expect(await ustackStats(ns, 'drops')).toMatch(/^netfilter-drop\s+5$/m);

    // tcpdump's view: the tap comes before the filter. The writer flushes every second.
    const verdict = `netfilter-drop: INPUT rule 1: ${DROP_PING.slice('INPUT '.length)}`;
    let rows: string[][] = [];
    await waitFor('5 echo requests in the capture', async () => {
      rows = await tsharkFields(pcap, 'icmp.type == 8', ['ip.src', 'frame.comment']);
      return rows.length >= 5;
    }, 15_000, 250);
    expect(rows).toEqual(Array.from({ length: 5 }, () => ['10.0.0.1', verdict]));
    expect(await tsharkFields(pcap, 'icmp.type == 0', ['ip.src'])).toEqual([]);
  });

  it('REJECT --reject-with tcp-reset makes the kernel’s connect fail at once: connection refused', async () => {
    const started = Date.now();
    const r = await nsExec(ns, 'bash', ['-c', `exec 3<>/dev/tcp/${STACK}/81`], 20_000);
    const took = Date.now() - started;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Connection refused/);
    // Without the RST, connect() would retransmit its SYN for about two minutes (tcp_syn_retries).
    expect(took).toBeLessThan(15_000);

    const listing = await ustackStats(ns, 'rules');
    const rule = ruleCounters(listing, 'INPUT', 2);
    expect(rule.line).toMatch(/REJECT\s+tcp\s+--.*tcp dpt:81 reject-with tcp-reset$/);
    expect(rule.packets).toBe(1);

    // In the capture: the SYN with its verdict, then the stack's RST,ACK acknowledging it.
    let rows: string[][] = [];
    await waitFor('the SYN and the RST in the capture', async () => {
      rows = await tsharkFields(pcap, 'tcp.port == 81', ['tcp.flags.str', 'ip.src', 'tcp.seq_raw', 'tcp.ack_raw', 'frame.comment']);
      return rows.length >= 2;
    }, 15_000, 250);
    const [syn, rst] = rows;
    expect(syn![0]).toMatch(/S/);
    expect(syn![1]).toBe('10.0.0.1');
    expect(syn![4]).toBe(`netfilter-drop: INPUT rule 2: ${REJECT_81.slice('INPUT '.length)}`);
    expect(rst![0]).toMatch(/A.R/); // ·······A·R··
    expect(rst![1]).toBe(STACK);
    expect(rst![2]).toBe('0');
    expect(Number(rst![3])).toBe((Number(syn![2]) + 1) % 2 ** 32);
    expect(rst![4]).toBe('');
  });

  it('stops cleanly on SIGTERM and prints the rules with their counters', async () => {
    const exit = await up.stop('SIGTERM');
    expect(exit.code).toBe(0);
    expect(up.stdout).toMatch(/#netfilter rules/);
    expect(up.stdout).toMatch(/^\s*1\s+5\s+420\s+DROP\s+icmp/m);
    // The namespace was ours (created by the test): ustack keeps it.
    expect(netnsExists(ns)).toBe(true);
  });
});

describe.skipIf(!enabled)('ustack up with a bad rule', () => {
  const ns = nsName('nf-bad');
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ustack-nf-bad-'));
  });
  afterAll(() => {
    deleteNetns(ns); // never created: the arguments are checked first; this is belt and braces
    rmSync(dir, { recursive: true, force: true });
  });

  it('--rule: exits 2 before touching anything, naming the rule and the reason', async () => {
    const r = await ustack(['up', '--netns', ns, '--rule', DROP_PING, '--rule', 'INPUT -p icmp --icmp-type bogus -j DROP'], 20_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--rule 'INPUT -p icmp --icmp-type bogus -j DROP': --icmp-type: unknown ICMP type 'bogus'");
    expect(netnsExists(ns)).toBe(false);
  });

  it('--rules FILE: exits 2 naming the rule by its index in the file', async () => {
    const file = join(dir, 'rules.json');
    writeFileSync(file, JSON.stringify([{ chain: 'INPUT', protocol: 'icmp', target: 'DROP' }, { chain: 'PREROUTING', target: 'REJECT' }]));
    const r = await ustack(['up', '--netns', ns, '--rules', file], 20_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--rules ${file}: rule [1]: REJECT is valid only in the INPUT and OUTPUT chains, not PREROUTING`);
    const missing = await ustack(['up', '--netns', ns, '--rules', join(dir, 'nope.json')], 20_000);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--rules .*nope\.json: cannot read the file: ENOENT/);
    expect(netnsExists(ns)).toBe(false);
  });
});
