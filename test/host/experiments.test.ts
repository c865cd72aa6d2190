// Host tests: the seed experiments of docs/experiments.md, sections 1–5 — the
// NIC and link layer. Each runs the commands the page documents (through the
// helpers: `ustack up` spawned with --netns, `ip netns exec NS …` for the
// kernel's side, `ustack stats|ping --name NS`) and checks what the page says
// the output shows.
//
//   1. tcpdump vs a firewall drop: the capture holds what INPUT dropped.
//   2. a small RX ring overflows (rx_fifo_errors); a larger one does not.
//   3. NAPI: about one interrupt per frame at an idle rate, far fewer under load.
//   4. netdev_max_backlog: lo's frames go through the backlog; too small, they drop.
//   5. 127.0.0.1 and the stack's own address go through lo, never the TAP.
//
// Every test makes its own namespace (ustack-test-<pid>-…), passes it with
// --netns, sends packets only inside it (10.0.0.1 ↔ 10.0.0.2, or the stack to
// itself), and deletes it afterwards, pass or fail. Floods are bounded in
// count and time; instances are stopped by their PID. No assertion is about a
// time or a rate.

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
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
  parsePing,
  run,
  startUp,
  stopAll,
  ustack,
  ustackStats,
  waitFor,
} from './helpers.js';

const FILE = 'test/host/experiments.test.ts';
const enabled = hostTestsEnabled({ file: FILE, tools: ['ping', 'tshark'] });

const STACK = '10.0.0.2';
const DROP_PING = 'INPUT -p icmp --icmp-type echo-request -j DROP';

/** Every namespace a test names; afterEach deletes whichever exist. */
const namespaces = new Set<string>();
const ns = (tag: string): string => {
  const n = nsName(tag);
  namespaces.add(n);
  return n;
};
const dirs: string[] = [];
const tmp = (tag: string): string => {
  const d = mkdtempSync(join(tmpdir(), `ustack-exp-${tag}-`));
  dirs.push(d);
  return d;
};

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

// ---- reading the reports ---------------------------------------------------------------------

/** One device of `ustack stats link` (ip -s link): every column of its RX and TX rows, by name. */
function linkCounters(report: string, dev: string): Record<string, number> {
  const block = new RegExp(`^\\d+: ${dev}: [^\\n]*\\n((?:    [^\\n]*\\n?)*)`, 'm').exec(report)?.[1];
  if (!block) throw new Error(`no device ${dev} in:\n${report}`);
  const lines = block.split('\n').filter((l) => l.trim() !== '');
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = /^\s*(RX|TX)( errors)?:\s+(.*)$/.exec(lines[i]!);
    if (!head) continue;
    const prefix = `${head[1]!.toLowerCase()}${head[2] ? '_err' : ''}_`;
    const names = head[3]!.trim().split(/\s+/);
    const values = lines[i + 1]!.trim().split(/\s+/).map(Number);
    names.forEach((n, k) => (out[prefix + n] = values[k]!));
  }
  return out;
}

/** `ustack stats softnet`: processed, dropped, time_squeeze, rounds. */
function softnet(report: string): { processed: number; dropped: number; timeSqueeze: number } {
  const m = /processed (\d+)\s+dropped (\d+)\s+time_squeeze (\d+)/.exec(report);
  if (!m) throw new Error(`no softnet_stat line in:\n${report}`);
  return { processed: Number(m[1]), dropped: Number(m[2]), timeSqueeze: Number(m[3]) };
}

/** Packets and bytes of rule `num` of `chain` in `ustack stats rules` (iptables -L -v). */
function ruleCounters(listing: string, chain: string, num: number): { packets: number; bytes: number; line: string } {
  const at = listing.indexOf(`Chain ${chain} `);
  if (at < 0) throw new Error(`no chain ${chain} in:\n${listing}`);
  for (const line of listing.slice(at).split('\n').slice(2)) {
    if (line.startsWith('Chain ') || line.trim() === '') break;
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s/.exec(line);
    if (m && Number(m[1]) === num) return { packets: Number(m[2]), bytes: Number(m[3]), line };
  }
  throw new Error(`no rule ${num} in chain ${chain}:\n${listing}`);
}

/** `tshark -r FILE -Y FILTER -T fields -e F…`: one array of fields per packet. */
async function tsharkFields(file: string, filter: string, fields: string[]): Promise<string[][]> {
  const r = await run('tshark', ['-n', '-r', file, '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { timeoutMs: 30_000 });
  const out = r.stdout.replace(/\n$/, '');
  return out === '' ? [] : out.split('\n').map((l) => l.split('\t'));
}

/** The NIC counters the NAPI and ring sections read (`ustack stats nic`, ethtool -S). */
async function nic(name: string): Promise<{ rx: number; irq: number; polls: number; fifo: number }> {
  const t = await ustackStats(name, 'nic');
  const get = (k: string) => {
    const v = counter(t, k);
    if (v === undefined) throw new Error(`no ${k} in:\n${t}`);
    return v;
  };
  return { rx: get('rx_packets'), irq: get('interrupts'), polls: get('napi_polls'), fifo: get('rx_fifo_errors') };
}

// ---- 1. tcpdump vs a firewall drop ---------------------------------------------------------------

describe.skipIf(!enabled)('1. can tcpdump capture the packets a firewall drops?', () => {
  it('ping fails, the capture holds every request with its verdict, the rule counts them', async () => {
    const name = ns('x1');
    const pcap = join(tmp('x1'), 'x1.pcapng');
    createNetns(name);
    // sudo npx ustack up --pcap /tmp/x1.pcapng --pcap-format pcapng --rule 'INPUT -p icmp --icmp-type echo-request -j DROP'
    await startUp(['--netns', name, '--pcap', pcap, '--pcap-format', 'pcapng', '--rule', DROP_PING]);

    // sudo ip netns exec ustack ping -c 5 -i 0.2 -W 1 10.0.0.2
    const r = await nsExec(name, 'ping', ['-c', '5', '-i', '0.2', '-W', '1', STACK], 30_000);
    expect(parsePing(r.stdout)).toMatchObject({ transmitted: 5, received: 0 });
    expect(r.code).not.toBe(0);

    // sudo npx ustack stats rules
    const rule = ruleCounters(await ustackStats(name, 'rules'), 'INPUT', 1);
    expect(rule.line).toMatch(/DROP\s+icmp\s+--.*icmptype 8$/);
    expect(rule).toMatchObject({ packets: 5, bytes: 5 * 84 });
    expect(await ustackStats(name, 'drops')).toMatch(/^netfilter-drop\s+5$/m);
    // The NIC received them all: the drop happened above it.
    expect((await nic(name)).rx).toBeGreaterThanOrEqual(5);

    // tshark -r /tmp/x1.pcapng -Y icmp -T fields -e ip.src -e icmp.type -e frame.comment
    let rows: string[][] = [];
    await waitFor('the 5 requests in the capture (flushed every second)', async () => {
      rows = await tsharkFields(pcap, 'icmp', ['ip.src', 'icmp.type', 'frame.comment']);
      return rows.length >= 5;
    }, 15_000, 250);
    const verdict = 'netfilter-drop: INPUT rule 1: -p icmp --icmp-type echo-request -j DROP';
    expect(rows).toEqual(Array.from({ length: 5 }, () => ['10.0.0.1', '8', verdict]));
  });
});

// ---- 2. the RX ring -----------------------------------------------------------------------------

describe.skipIf(!enabled)('2. a ring too small: rx_fifo_errors; a larger ring fixes it', () => {
  /** One ping first: ARP is resolved, so the burst is not held in the kernel's neighbour queue. */
  const warm = async (name: string) => {
    const p = parsePing((await nsExec(name, 'ping', ['-c', '1', '-w', '10', STACK], 20_000)).stdout);
    expect(p.received).toBe(1);
  };
  /** ping -q -c 64 -l 64 -w 5: 64 requests back to back. */
  const burst = async (name: string) => parsePing((await nsExec(name, 'ping', ['-q', '-c', '64', '-l', '64', '-w', '5', STACK], 20_000)).stdout);

  it('--rx-ring 8 --budget 1 --weight 1: a burst of 64 overflows the ring (rx_fifo_errors, replies lost)', async () => {
    const name = ns('x2a');
    createNetns(name);
    await startUp(['--netns', name, '--rx-ring', '8', '--budget', '1', '--weight', '1']);
    // Bounded: at most 3 bursts of 64, each for at most 5 s.
    await warm(name);
    let fifo = 0;
    let lost = 0;
    for (let i = 0; i < 3 && fifo === 0; i++) {
      const p = await burst(name);
      lost += p.transmitted - p.received;
      fifo = (await nic(name)).fifo;
    }
    expect(fifo).toBeGreaterThan(0);
    expect(lost).toBeGreaterThan(0);
    // ip -s link: the same frames, as the "missed" column and the "fifo" RX error.
    const tap = linkCounters(await ustackStats(name, 'link'), 'ustack0');
    expect(tap.rx_err_fifo).toBe(fifo);
    expect(tap.rx_missed).toBeGreaterThanOrEqual(fifo);
    expect(await ustackStats(name, 'softnet')).toMatch(/\(budget 1, weight 1, netdev_max_backlog 1000\)/);
  });

  it('--rx-ring 1024, same budget and weight, same burst: zero fifo errors, every reply', async () => {
    const name = ns('x2b');
    createNetns(name);
    await startUp(['--netns', name, '--rx-ring', '1024', '--budget', '1', '--weight', '1']);
    await warm(name);
    const p = await burst(name);
    expect(p.received).toBeGreaterThanOrEqual(64);
    expect((await nic(name)).fifo).toBe(0);
    const snmp = await ustackStats(name, 'snmp');
    expect(counter(snmp, 'IcmpInEchos')).toBe(p.transmitted + 1); // every request reached the stack (and the warm-up)
    expect(counter(snmp, 'IcmpOutEchoReps')).toBe(p.transmitted + 1);
  });
});

// ---- 3. NAPI ------------------------------------------------------------------------------------

describe.skipIf(!enabled)('3. NAPI: interrupts vs frames', () => {
  it('about one interrupt per frame at an idle rate; far fewer than frames under a flood with 64 in flight', async () => {
    const name = ns('x3');
    createNetns(name);
    await startUp(['--netns', name]);
    expect(parsePing((await nsExec(name, 'ping', ['-c', '1', '-w', '10', STACK], 20_000)).stdout).received).toBe(1);

    // Idle rate: 20 requests 200 ms apart. Each finds NAPI idle and the interrupt unmasked.
    const a = await nic(name);
    const idle = parsePing((await nsExec(name, 'ping', ['-q', '-c', '20', '-i', '0.2', '-w', '30', STACK], 40_000)).stdout);
    expect(idle).toMatchObject({ transmitted: 20, received: 20 });
    const b = await nic(name);
    const idleFrames = b.rx - a.rx;
    const idleIrqs = b.irq - a.irq;
    expect(idleFrames).toBeGreaterThanOrEqual(20);
    expect(idleIrqs * 2).toBeGreaterThan(idleFrames); // about one each (more than half)

    // A flood: 2000 requests, 64 in flight (-l 64). Frames land while the IRQ is masked.
    const fr = await nsExec(name, 'ping', ['-f', '-q', '-l', '64', '-c', '2000', '-w', '30', STACK], 60_000);
    const flood = parsePing(fr.stdout);
    // With -w, iputils keeps sending until it has -c replies, then exits without
    // waiting for the up to 64 still in flight: it may report a few more sent
    // than received. The stack answered every request it got (nstat below).
    expect(flood.received, fr.stdout).toBeGreaterThanOrEqual(2000);
    const snmp = await ustackStats(name, 'snmp');
    expect(counter(snmp, 'IcmpOutEchoReps')).toBe(counter(snmp, 'IcmpInEchos'));
    const c = await nic(name);
    const floodFrames = c.rx - b.rx;
    const floodIrqs = c.irq - b.irq;
    expect(floodFrames).toBeGreaterThanOrEqual(flood.received);
    expect(floodIrqs * 4).toBeLessThan(floodFrames); // far fewer (under a quarter)
    // Every interrupt started at least one poll; polls that used their whole weight were followed by more.
    expect(c.polls - b.polls).toBeGreaterThanOrEqual(floodIrqs);
    expect(c.fifo).toBe(0);
  });
});

// ---- 4. netdev_max_backlog ----------------------------------------------------------------------

describe.skipIf(!enabled)('4. netdev_max_backlog: the backlog queue feeds lo', () => {
  /** `ustack ping -s 30000 10.0.0.2`: 3 pings to the stack's own address, through lo. */
  const selfPing = (name: string) => ustack(['ping', '--name', name, '-s', '30000', STACK], 30_000);

  it('--lo-mtu 1500 --backlog 8: the 21 fragments of each request overflow the backlog; the ping fails', async () => {
    const name = ns('x4a');
    createNetns(name);
    await startUp(['--netns', name, '--lo-mtu', '1500', '--backlog', '8']);
    const r = await selfPing(name);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^3 packets transmitted, 0 received, 100% packet loss$/m);

    // 30008 bytes of ICMP in 1480-byte fragments: 21 per request, 8 fit in the backlog, 13 do not.
    const s = softnet(await ustackStats(name, 'softnet'));
    expect(s.dropped).toBe(3 * 13);
    expect(await ustackStats(name, 'softnet')).toMatch(/netdev_max_backlog 8\)/);
    const lo = linkCounters(await ustackStats(name, 'link'), 'lo');
    expect(lo).toMatchObject({ tx_packets: 3 * 21, rx_packets: 3 * 8, rx_dropped: 3 * 13 });
    expect(await ustackStats(name, 'drops')).toMatch(/^backlog-drop\s+39$/m);
    const snmp = await ustackStats(name, 'snmp');
    expect(counter(snmp, 'IpFragCreates')).toBe(3 * 21);
    expect(counter(snmp, 'IpReasmReqds')).toBe(3 * 8);
    expect(counter(snmp, 'IpReasmOKs')).toBeUndefined(); // nstat lists non-zero counters only
  });

  it('--lo-mtu 1500 with the default backlog (1000): the same ping works', async () => {
    const name = ns('x4b');
    createNetns(name);
    await startUp(['--netns', name, '--lo-mtu', '1500']);
    const r = await selfPing(name);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^3 packets transmitted, 3 received, 0% packet loss$/m);
    expect(softnet(await ustackStats(name, 'softnet')).dropped).toBe(0);
    const snmp = await ustackStats(name, 'snmp');
    expect(counter(snmp, 'IpReasmOKs')).toBe(6); // each request and each reply
  });

  it('--backlog 8 alone: lo keeps Linux’s MTU of 65536, nothing is fragmented, the ping works', async () => {
    const name = ns('x4c');
    createNetns(name);
    await startUp(['--netns', name, '--backlog', '8']);
    const r = await selfPing(name);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^3 packets transmitted, 3 received/m);
    expect(softnet(await ustackStats(name, 'softnet')).dropped).toBe(0);
    expect(counter(await ustackStats(name, 'snmp'), 'IpFragCreates')).toBeUndefined();
    expect(await ustackStats(name, 'link')).toMatch(/^1: lo: <LOOPBACK,UP> mtu 65536 /m);
  });
});

// ---- 5. 127.0.0.1 and the own address never touch the NIC --------------------------------------

describe.skipIf(!enabled)('5. does 127.0.0.1 (or the own address) go through the NIC?', () => {
  it('lo counts every frame; the TAP sends nothing and receives only the kernel’s own multicast; the capture has no ICMP', async () => {
    const name = ns('x5');
    const pcap = join(tmp('x5'), 'x5.pcap');
    createNetns(name);
    // sudo npx ustack up --pcap /tmp/x5.pcap
    const up = await startUp(['--netns', name, '--pcap', pcap]);

    const before = await ustackStats(name, 'link');
    // sudo npx ustack ping 127.0.0.1 ; sudo npx ustack ping 10.0.0.2
    for (const dst of ['127.0.0.1', STACK]) {
      const r = await ustack(['ping', '--name', name, dst], 30_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^3 packets transmitted, 3 received, 0% packet loss$/m);
      expect(r.stdout).toContain(`64 bytes from ${dst}: icmp_seq=1 ttl=64`);
    }
    const after = await ustackStats(name, 'link');
    const d = (dev: string, k: string) => linkCounters(after, dev)[k]! - linkCounters(before, dev)[k]!;
    // Each ping is a request and a reply, each once out of lo and once into it.
    expect(d('lo', 'tx_packets')).toBe(12);
    expect(d('lo', 'rx_packets')).toBe(12);
    expect(d('lo', 'tx_bytes')).toBe(12 * 98); // 14 + 20 + 8 + 56: lo frames carry an Ethernet header too
    // The TAP: nothing sent; anything received was the kernel's own multicast (IPv6 router solicitations, MLD).
    expect(d('ustack0', 'tx_packets')).toBe(0);
    expect(d('ustack0', 'rx_packets')).toBe(d('ustack0', 'rx_mcast'));
    const snmp = await ustackStats(name, 'snmp');
    expect(counter(snmp, 'IcmpInEchos')).toBe(6);
    expect(counter(snmp, 'IcmpOutEchoReps')).toBe(6);

    // The capture of the TAP (tcpdump -i ustack0) has none of it.
    await up.stop('SIGTERM');
    const all = await tsharkFields(pcap, 'frame', ['frame.number']);
    expect(all.length).toBeGreaterThan(0); // the gratuitous ARP at least
    expect(await tsharkFields(pcap, 'icmp || ip.addr == 127.0.0.1', ['frame.number'])).toEqual([]);
  });
});

describe.skipIf(!enabled)('experiments.test.ts leaves nothing behind', () => {
  it('has deleted every network namespace it made', () => {
    expect(leftoverNetns('x')).toEqual([]);
  });
});
