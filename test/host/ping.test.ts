// Host tests: `ustack up` on a real TAP device answers the kernel's ping and
// arping, captures what it sees, and reports its counters — live over the
// control socket and at shutdown.
//
// One instance serves the whole file, inside a network namespace this file
// creates (ustack-test-<pid>-ping) and deletes afterwards, pass or fail. Every
// packet is sent inside that namespace, between 10.0.0.1 (the kernel's side of
// the TAP) and 10.0.0.2 (the stack). Floods are bounded in count and time. No
// assertion is about a time or a rate.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONTROL_DIR,
  counter,
  createNetns,
  deleteNetns,
  hostTestsEnabled,
  leftoverNetns,
  netnsExists,
  nsExec,
  nsName,
  parsePing,
  run,
  startUp,
  stopAll,
  ustack,
  ustackStats,
  type PingSummary,
  type UstackProcess,
} from './helpers.js';

const enabled = hostTestsEnabled({ file: 'test/host/ping.test.ts', tools: ['ping', 'arping', 'tshark'] });

const STACK = '10.0.0.2';
const MAC = '02:00:00:aa:bb:cc';

/** tshark's stderr, without its warning about running as root. */
const tsharkErrors = (stderr: string): string =>
  stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^Running as user "root"/.test(l))
    .join('\n');

describe.skipIf(!enabled)('ustack up on a real TAP: ping, arping, capture, counters', () => {
  const ns = nsName('ping');
  let dir = '';
  let pcap = '';
  let up: UstackProcess;
  // What ping reported over the whole file: the capture and the counters must agree.
  const total = { transmitted: 0, received: 0 };
  const ping = async (args: string[], timeoutMs = 60_000): Promise<PingSummary & { out: string }> => {
    const r = await nsExec(ns, 'ping', [...args, STACK], timeoutMs);
    const s = parsePing(r.stdout);
    total.transmitted += s.transmitted;
    total.received += s.received;
    // iputils checks every reply's payload: no corrupted, duplicated or cut replies.
    expect(r.stdout).not.toMatch(/wrong data byte|DUP!|truncated/);
    return { ...s, out: r.stdout + r.stderr };
  };
  const snmp = async (): Promise<(name: string) => number> => {
    const text = await ustackStats(ns, 'snmp');
    return (name) => counter(text, name) ?? 0; // nstat lists non-zero counters only
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ustack-ping-'));
    pcap = join(dir, 'ping.pcap');
    createNetns(ns);
    up = await startUp(['--netns', ns, '--mac', MAC, '--pcap', pcap]);
  });

  afterAll(async () => {
    try {
      await stopAll();
    } finally {
      deleteNetns(ns);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says it is up, with the MAC and namespace it was given', () => {
    expect(up.stdout).toContain(`ustack is up: ${STACK} (${MAC}) on TAP ustack0 in network namespace '${ns}'`);
    expect(up.stdout).toContain(`capture: ${pcap}`);
    expect(up.stderr).toBe('');
  });

  it('answers all of 20 pings', async () => {
    const r = await ping(['-c', '20', '-i', '0.05', '-w', '30']);
    expect(r, r.out).toMatchObject({ transmitted: 20, received: 20, errors: 0 });
  });

  it('answers fragmented pings, reassembling requests and fragmenting replies', async () => {
    const before = await snmp();
    const a = await ping(['-c', '5', '-i', '0.2', '-w', '30', '-s', '4000']);
    expect(a, a.out).toMatchObject({ transmitted: 5, received: 5, errors: 0 });
    const b = await ping(['-c', '3', '-i', '0.2', '-w', '30', '-s', '65000']);
    expect(b, b.out).toMatchObject({ transmitted: 3, received: 3, errors: 0 });
    const after = await snmp();
    const delta = (n: string) => after(n) - before(n);
    // 4008 bytes of ICMP are 3 fragments at MTU 1500; 65008 bytes are 44.
    expect(delta('IpReasmOKs')).toBe(8);
    expect(delta('IpReasmFails')).toBe(0);
    expect(delta('IpFragOKs')).toBe(8);
    expect(delta('IpFragCreates')).toBe(5 * 3 + 3 * 44);
    expect(delta('IpFragFails')).toBe(0);
  });

  it('answers all of a bounded flood (ping -f -c 2000 -w 30)', async () => {
    const before = await snmp();
    const r = await ping(['-f', '-q', '-c', '2000', '-w', '30']);
    expect(r, r.out).toMatchObject({ transmitted: 2000, received: 2000, errors: 0 });
    const after = await snmp();
    expect(after('IcmpInEchos') - before('IcmpInEchos')).toBe(2000);
    expect(after('IcmpOutEchoReps') - before('IcmpOutEchoReps')).toBe(2000);
  });

  it('answers arping from its own MAC, and the kernel learns it', async () => {
    const r = await nsExec(ns, 'arping', ['-c', '3', '-w', '20', '-I', 'ustack0', STACK], 30_000);
    const out = r.stdout + r.stderr;
    expect(r.code, out).toBe(0);
    const replies = r.stdout.split('\n').filter((l) => / bytes from /.test(l));
    expect(replies, out).toHaveLength(3);
    for (const l of replies) expect(l).toContain(`from ${MAC} (${STACK})`);
    expect(out).toMatch(/3 packets transmitted, 3 packets received/);

    const neigh = await run('ip', ['-n', ns, 'neigh', 'show', STACK, 'dev', 'ustack0']);
    expect(neigh.stdout).toContain(`lladdr ${MAC}`);
  });

  it('reports its counters while running (ustack stats --name NS)', async () => {
    const nic = await ustackStats(ns, 'nic');
    expect(nic).toMatch(/^NIC statistics \(ustack0\):/);
    expect(counter(nic, 'rx_packets')).toBeGreaterThan(0);
    expect(counter(nic, 'tx_packets')).toBeGreaterThan(0);
    expect(counter(nic, 'rx_fifo_errors')).toBe(0);

    const link = await ustackStats(ns, 'link');
    expect(link).toMatch(/^2: ustack0: <BROADCAST,UP> mtu 1500/m);
    expect(link).toContain(`link/ether ${MAC}`);

    // The stack learned the kernel's side of the TAP.
    const hostMac = (JSON.parse((await run('ip', ['-j', '-n', ns, 'link', 'show', 'dev', 'ustack0'])).stdout) as Array<{ address: string }>)[0]!.address;
    const neigh = await ustackStats(ns, 'neigh');
    expect(neigh).toMatch(new RegExp(`^10\\.0\\.0\\.1 +dev +ustack0 +lladdr +${hostMac} `, 'm'));

    const bad = await ustack(['stats', '--name', ns, 'nonsense']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/view must be one of/);
  });

  it('on SIGTERM exits 0, prints its counters, and keeps the namespace it did not create', async () => {
    const exit = await up.stop('SIGTERM');
    expect(exit, up.describe()).toEqual({ code: 0, signal: null });
    expect(up.stdout).toContain('ustack: SIGTERM, shut down.');
    expect(up.stderr).toBe('');
    expect(counter(up.stdout, 'IcmpInEchos'), up.stdout).toBe(total.transmitted);
    expect(counter(up.stdout, 'IcmpOutEchoReps'), up.stdout).toBe(total.received);
    expect(counter(up.stdout, 'rx_fifo_errors')).toBe(0);

    expect(netnsExists(ns)).toBe(true); // ours: ustack must leave it
    const tap = await run('ip', ['-n', ns, 'link', 'show', 'dev', 'ustack0']);
    expect(tap.code).not.toBe(0); // but its TAP is gone
    expect(existsSync(join(CONTROL_DIR, `${ns}.sock`))).toBe(false);
  });

  describe('the capture (--pcap), read by tshark after SIGTERM', () => {
    const tshark = async (args: string[]): Promise<string[]> => {
      const r = await run('tshark', ['-n', '-r', pcap, ...args], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(tsharkErrors(r.stderr)).toBe('');
      return r.stdout.split('\n').filter((l) => l.trim() !== '');
    };
    const count = async (filter: string, opts: string[] = []): Promise<number> => (await tshark([...opts, '-Y', filter])).length;

    it('has no malformed packets and no bad checksums', async () => {
      expect(existsSync(pcap)).toBe(true);
      expect(await count('_ws.malformed')).toBe(0);
      expect(await count('ip.checksum.status == 0 || icmp.checksum.status == 0', ['-o', 'ip.check_checksum:TRUE'])).toBe(0);
      expect(await count('icmp.checksum.status == 1')).toBe(total.transmitted + total.received);
    });

    it('holds as many echo requests and replies as ping counted, fragmented ones once', async () => {
      // With reassembly on (tshark's default) a fragmented ping is shown as ICMP
      // once, on the fragment that completes it; the others are "Fragmented IP
      // protocol". With it off, ICMP is dissected in the first fragment only.
      expect(await count('icmp.type == 8')).toBe(total.transmitted);
      expect(await count('icmp.type == 0')).toBe(total.received);
      const noDefrag = ['-o', 'ip.defragment:FALSE'];
      expect(await count('icmp.type == 8 && ip.frag_offset == 0', noDefrag)).toBe(total.transmitted);
      expect(await count('icmp.type == 0 && ip.frag_offset == 0', noDefrag)).toBe(total.received);
    });

    it('holds every frame the device counted, both ways, from the gratuitous ARP on', async () => {
      const out = await count(`eth.src == ${MAC}`);
      const into = await count(`eth.src != ${MAC}`);
      // The capture sees what is handed to the device (like AF_PACKET), so the
      // stack's frames are those sent plus any the qdisc dropped.
      expect(out).toBe(counter(up.stdout, 'tx_packets')! + counter(up.stdout, 'tx_dropped')!);
      expect(into).toBe(counter(up.stdout, 'rx_packets'));
      // Announced as it came up: sender = target = 10.0.0.2.
      const garp = await tshark(['-Y', `arp.opcode == 1 && arp.src.proto_ipv4 == ${STACK} && arp.dst.proto_ipv4 == ${STACK}`, '-T', 'fields', '-e', 'eth.src']);
      expect(garp).toEqual([MAC]);
      expect(await count(`arp.opcode == 2 && eth.src == ${MAC}`)).toBeGreaterThanOrEqual(3);
    });
  });
});

describe.skipIf(!enabled)('ping.test.ts leaves nothing behind', () => {
  it('has deleted every network namespace it made', () => {
    expect(leftoverNetns()).toEqual([]);
  });
});
