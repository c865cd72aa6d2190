// Host tests of the `ustack` command itself (bin/ustack.js → dist/cli): its
// usage errors and help, its lifecycle on a real TAP (namespaces it creates or
// borrows, a second instance, SIGINT/SIGTERM), RX ring overflow on the real
// path, the service flags (--http-port … --no-chargen), the capture's
// timestamp resolution (--pcap-tsres), and refusing to run without the
// capabilities it needs (CAP_NET_ADMIN, CAP_SYS_ADMIN).
//
// Every test that sends packets or brings ustack up uses a network namespace
// named ustack-test-<pid>-<tag>, unique to this file, and deletes it in a
// finally/afterEach, pass or fail. The usage-error tests pass such a name too,
// so that a flag wrongly accepted could only ever create that namespace (which
// the test then finds and fails on). Nothing asserts a time or a rate.

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BIN,
  CONTROL_DIR,
  DIST_MAIN,
  ROOT,
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
  type RunResult,
  startUp,
  stopAll,
  ustack,
  ustackStats,
  waitFor,
} from './helpers.js';
import { effectiveCapabilities, missingCapabilities } from '../../src/cli/up.js';

const enabled = hostTestsEnabled({ file: 'test/host/cli.test.ts', tools: ['ping', 'setpriv'] });
/** The service and capture tests also talk HTTP and read the capture back. */
const withClients = enabled && hostTestsEnabled({ file: 'test/host/cli.test.ts (services, --pcap-tsres)', tools: ['curl', 'tshark', 'bash'] });
const cliBuilt = existsSync(DIST_MAIN);
if (!cliBuilt) console.warn(`\n!! test/host/cli.test.ts: the CLI is not built (${DIST_MAIN}); run \`npx tsc -p tsconfig.build.json\`. Its usage tests are SKIPPED.\n`);

const sock = (name: string): string => join(CONTROL_DIR, `${name}.sock`);

/** Every namespace a test of this file names; afterEach deletes whichever exist. */
const namespaces = new Set<string>();
const ns = (tag: string): string => {
  const n = nsName(tag);
  namespaces.add(n);
  return n;
};

afterEach(async () => {
  try {
    await stopAll();
  } finally {
    for (const n of namespaces) deleteNetns(n);
    namespaces.clear();
  }
});

// ---- usage: nothing here may create anything ---------------------------------------------

describe.skipIf(!cliBuilt)('ustack: usage errors and help', () => {
  let seq = 0;

  it.each([
    [['--bogus'], /--bogus/],
    [['--rx-ring', '100'], /--rx-ring must be a power of two/],
    [['--tx-ring', '8192'], /--tx-ring/],
    [['--mtu', '10'], /--mtu must be from 68 to 65521, got 10/],
    [['--mtu', '1500x'], /--mtu expects a whole number/],
    [['--addr', 'nonsense'], /--addr expects an address with a prefix length.*'nonsense'/],
    [['--host-addr', '10.0.0.2/24'], /--host-addr and --addr are the same address/],
    [['--gateway', '10.0.0'], /--gateway/],
    [['--mac', '01:00:5e:00:00:01'], /--mac: .* multicast/],
    [['--mac', 'zz'], /--mac expects/],
    [['--tap', 'a-name-far-too-long'], /--tap/],
    [['--pcap-format', 'pcapx'], /--pcap-format must be pcap or pcapng/],
    [['--loss', '2'], /fault injection: .*loss/],
    [['--budget', '0'], /--budget/],
    [['--lo-mtu', '65537'], /--lo-mtu must be from 68 to 65536, got 65537/],
    [['--listen-backlog', '0'], /--listen-backlog must be from 1 to 65535, got 0/],
    [['--no-netns'], /--netns and --no-netns cannot be used together/],
    [['extra'], /extra/],
    [['--http-port', '0'], /--http-port must be from 1 to 65535, got 0/],
    [['--echo-port', '70000'], /--echo-port must be from 1 to 65535, got 70000/],
    [['--discard-port', 'nine'], /--discard-port expects a whole number, got 'nine'/],
    [['--chargen-port', '65536'], /--chargen-port must be from 1 to 65535, got 65536/],
    [['--http-port', '7'], /the TCP services http and echo cannot both listen on port 7 \(--http-port 7, echo's default port 7\)/],
    [['--discard-port', '2000', '--chargen-port', '2000'], /the TCP services discard and chargen cannot both listen on port 2000 \(--discard-port 2000, --chargen-port 2000\)/],
    [['--no-http', '--http-port', '8080'], /--http-port and --no-http cannot be used together/],
    [['--no-echo', '--echo-port', '7'], /--echo-port and --no-echo cannot be used together/],
    [['--no-discard', '--discard-port', '9'], /--discard-port and --no-discard cannot be used together/],
    [['--no-chargen', '--chargen-port', '19'], /--chargen-port and --no-chargen cannot be used together/],
    [['--pcap-tsres', 'ms'], /--pcap-tsres must be us or ns, got 'ms'/],
  ])('ustack up %j exits 2 naming the problem', async (bad, message) => {
    const name = ns(`u${seq++}`);
    const r = await ustack(['up', '--netns', name, ...bad]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^ustack: /);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
    expect(netnsExists(name)).toBe(false);
    expect(existsSync(sock(name))).toBe(false);
  });

  it('rejects a bad --netns name', async () => {
    const r = await ustack(['up', '--netns', 'a/b']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--netns: 'a\/b' is not a valid namespace name/);
  });

  it('ustack up --help exits 0 and documents every flag parseUpArgs accepts', async () => {
    // The option table of parseUpArgs, read from the compiled code the command runs.
    const src = readFileSync(join(ROOT, 'dist', 'cli', 'args.js'), 'utf8');
    const table = /export function parseUpArgs[\s\S]*?options: \{([\s\S]*?)\n\s*\},\n/.exec(src)?.[1];
    expect(table).toBeDefined();
    const flags = [...table!.matchAll(/^\s*'?([a-z][a-z-]*)'?: \{ type: '(string|boolean)'(, short: '(\w)')?/gm)];
    expect(flags.length).toBeGreaterThanOrEqual(20);
    expect(flags.length).toBe(table!.match(/\btype:/g)!.length); // none missed by the pattern

    for (const args of [['up', '--help'], ['up', '-h']]) {
      const r = await ustack(args);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Usage: ustack up \[options\]/);
      for (const [, flag, , , short] of flags) {
        // As a whole flag (--rule is not --rules), wherever the help lists it.
        expect(r.stdout, `--${flag}`).toMatch(new RegExp(`(^|[\\s,(])--${flag}(?![\\w-])`, 'm'));
        if (short) expect(r.stdout).toContain(`-${short}, --${flag}`);
      }
    }
  });

  it('ustack alone prints the help (and exits 2: no command); ustack help exits 0', async () => {
    const bare = await ustack([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toMatch(/^Usage: ustack <command> \[options\]/);
    expect(bare.stdout).toMatch(/^\s+up\s/m);
    expect(bare.stdout).toMatch(/^\s+stats\s/m);
    for (const h of ['help', '--help', '-h']) {
      const r = await ustack([h]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(bare.stdout);
    }
  });

  it('ustack frobnicate exits 2 naming the command', async () => {
    const r = await ustack(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(r.stdout).toBe('');
  });

  it('ustack stats: a bad view exits 2, a missing instance exits 1', async () => {
    const view = await ustack(['stats', 'nonsense']);
    expect(view.code).toBe(2);
    expect(view.stderr).toMatch(/view must be one of all, link, nic/);
    const name = ns('missing');
    const none = await ustack(['stats', '--name', name]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`no ustack instance '${name}' is running`);
  });
});

// ---- the lifecycle on a real TAP ---------------------------------------------------------------

describe.skipIf(!enabled)('ustack up: namespaces, instances, signals', () => {
  it('creates the namespace it is given if missing, and deletes it after SIGINT', async () => {
    const own = ns('own');
    expect(netnsExists(own)).toBe(false);
    const up = await startUp(['--netns', own]);
    expect(netnsExists(own)).toBe(true);
    expect((await run('ip', ['-n', own, 'link', 'show', 'dev', 'ustack0'])).code).toBe(0);
    expect(existsSync(sock(own))).toBe(true);
    const p = parsePing((await nsExec(own, 'ping', ['-c', '3', '-i', '0.2', '-w', '20', '10.0.0.2'])).stdout);
    expect(p).toMatchObject({ transmitted: 3, received: 3 });

    const exit = await up.stop('SIGINT');
    expect(exit, up.describe()).toEqual({ code: 0, signal: null });
    expect(up.stdout).toContain('ustack: SIGINT, shut down.');
    expect(counter(up.stdout, 'IcmpInEchos')).toBe(3);
    expect(up.stderr).toBe('');
    expect(netnsExists(own)).toBe(false);
    expect(existsSync(sock(own))).toBe(false);
  });

  it('uses an existing namespace and keeps it after SIGTERM (only its TAP goes)', async () => {
    const kept = ns('kept');
    createNetns(kept);
    const up = await startUp(['--netns', kept, '--tap', 'tap-kept']);
    expect((await run('ip', ['-n', kept, 'link', 'show', 'dev', 'tap-kept'])).code).toBe(0);

    const exit = await up.stop('SIGTERM');
    expect(exit, up.describe()).toEqual({ code: 0, signal: null });
    expect(netnsExists(kept)).toBe(true);
    expect((await run('ip', ['-n', kept, 'link', 'show', 'dev', 'tap-kept'])).code).not.toBe(0);
    expect(existsSync(sock(kept))).toBe(false);
  });

  it('a second instance in the same namespace fails (exit 1) and leaves the first and its namespace alone', async () => {
    const dup = ns('dup');
    const first = await startUp(['--netns', dup]); // creates dup: it is the first's to delete

    // Same TAP name, no control socket: the TAP is in use.
    const sameTap = await ustack(['up', '--netns', dup, '--no-control']);
    expect(sameTap.code, sameTap.stdout + sameTap.stderr).toBe(1);
    expect(sameTap.stderr).toMatch(/interface name 'ustack0' is in use/);
    expect(sameTap.stdout).not.toContain('ustack is up');

    // Same TAP name: the instance's name (its control socket) is taken first.
    const sameName = await ustack(['up', '--netns', dup]);
    expect(sameName.code, sameName.stdout + sameName.stderr).toBe(1);
    expect(sameName.stderr).toMatch(new RegExp(`another ustack instance named '${dup}' is running`));

    // Another TAP in the same namespace must not take over the first's control socket.
    const otherTap = await ustack(['up', '--netns', dup, '--tap', 'other0', '--no-host-addr']);
    expect(otherTap.code, otherTap.stdout + otherTap.stderr).toBe(1);
    expect(otherTap.stderr).toMatch(/another ustack instance/);
    expect((await run('ip', ['-n', dup, 'link', 'show', 'dev', 'other0'])).code).not.toBe(0);

    // The first is unharmed: its namespace, its TAP, its control socket, its answers.
    expect(first.exit).toBeNull();
    expect(netnsExists(dup)).toBe(true);
    expect(await ustackStats(dup, 'link')).toContain('ustack0');
    const p = parsePing((await nsExec(dup, 'ping', ['-c', '2', '-i', '0.2', '-w', '20', '10.0.0.2'])).stdout);
    expect(p).toMatchObject({ transmitted: 2, received: 2 });

    const exit = await first.stop('SIGTERM');
    expect(exit, first.describe()).toEqual({ code: 0, signal: null });
    expect(first.stderr).toBe('');
    expect(netnsExists(dup)).toBe(false);
  });

  it('counts rx_fifo_errors when a burst overflows a small RX ring (--rx-ring 8 --budget 1 --weight 1)', async () => {
    const ring = ns('ring');
    createNetns(ring);
    const up = await startUp(['--netns', ring, '--rx-ring', '8', '--budget', '1', '--weight', '1']);
    // Resolve ARP first, so the burst is not held in the kernel's neighbour queue.
    const warm = parsePing((await nsExec(ring, 'ping', ['-c', '1', '-w', '10', '10.0.0.2'])).stdout);
    expect(warm.received).toBe(1);

    // ping -l 64 sends 64 requests back to back: the TAP's reader fills 8 slots
    // long before the stack, taking one frame per NAPI round, can drain them.
    // Bounded: at most 3 bursts of 64 requests, each for at most 5 s.
    let fifo = 0;
    for (let burst = 0; burst < 3 && fifo === 0; burst++) {
      await nsExec(ring, 'ping', ['-q', '-c', '64', '-l', '64', '-w', '5', '10.0.0.2'], 20_000);
      fifo = counter(await ustackStats(ring, 'nic'), 'rx_fifo_errors') ?? 0;
    }
    expect(fifo).toBeGreaterThan(0);
    const link = await ustackStats(ring, 'link');
    expect(link).toMatch(/RX errors: +length +fifo/);

    // It recovers: a paced ping is answered in full afterwards.
    const after = parsePing((await nsExec(ring, 'ping', ['-c', '3', '-i', '0.2', '-w', '20', '10.0.0.2'])).stdout);
    expect(after).toMatchObject({ transmitted: 3, received: 3 });

    const exit = await up.stop('SIGTERM');
    expect(exit, up.describe()).toEqual({ code: 0, signal: null });
    expect(counter(up.stdout, 'rx_fifo_errors')).toBeGreaterThanOrEqual(fifo);
    expect(up.stdout).toMatch(/budget 1, weight 1/);
  });
});

// ---- the service flags -----------------------------------------------------------------------

const STACK = '10.0.0.2';

/** The local ports of the LISTEN rows of `ustack stats sockets`, ascending. */
async function listeningPorts(name: string): Promise<number[]> {
  const out = await ustackStats(name, 'sockets');
  return out
    .split('\n')
    .filter((l) => /^\s*LISTEN\s/.test(l))
    .map((l) => Number(/\s[\d.]+:(\d+)\s/.exec(l)![1]))
    .sort((a, b) => a - b);
}

/** curl from inside the namespace: exit code, and the body followed by a last line with the status. */
function curl(name: string, url: string): Promise<RunResult> {
  return nsExec(name, 'curl', ['-sS', '--max-time', '20', '-w', '\n%{http_code}', url], 30_000);
}

/** A bash script in the namespace with fd 3 connected to STACK:port (/dev/tcp). */
function overTcp(name: string, port: number, script: string): Promise<RunResult> {
  return nsExec(name, 'bash', ['-c', `exec 3<>/dev/tcp/${STACK}/${port} || exit 111; ${script}`], 20_000);
}

/** What connecting to each port does: 'refused', or the script's outcome. */
async function expectRefused(name: string, ports: number[]): Promise<void> {
  for (const port of ports) {
    const r = await overTcp(name, port, 'exit 0');
    expect(r.code, `port ${port}: ${r.stderr}`).toBe(111);
    expect(r.stderr).toMatch(/Connection refused/);
  }
}

/** The first chargen line (RFC 864): 72 characters from ' ' on, CRLF. */
const CHARGEN_LINE_0 = Array.from({ length: 72 }, (_, i) => String.fromCharCode(32 + i)).join('') + '\r\n';

describe.skipIf(!withClients)('ustack up: the service flags', () => {
  it('--http-port 8080 --no-echo: HTTP on 8080, nothing on 80 or 7, discard and chargen where they were', async () => {
    const name = ns('svc-http');
    const up = await startUp(['--netns', name, '--http-port', '8080', '--no-echo']);
    expect(await listeningPorts(name)).toEqual([9, 19, 8080]);

    const page = await curl(name, `http://${STACK}:8080/`);
    expect(page.code, page.stderr).toBe(0);
    expect(page.stdout.split('\n').at(-1)).toBe('200');
    expect(page.stdout).toMatch(/LISTEN\s+\d+\s+\d+\s+0\.0\.0\.0:8080\s/); // GET / is the live report
    const bytes = await nsExec(name, 'curl', ['-sS', '--max-time', '20', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `http://${STACK}:8080/bytes/100000`], 30_000);
    expect(bytes.stdout).toBe('200 100000');

    const port80 = await curl(name, `http://${STACK}/`);
    expect(port80.code, port80.stdout + port80.stderr).toBe(7); // curl: failed to connect
    expect(port80.stderr).toMatch(/Failed to connect to 10\.0\.0\.2 port 80/);
    await expectRefused(name, [7]);

    const exit = await up.stop('SIGTERM');
    expect(exit, up.describe()).toEqual({ code: 0, signal: null });
    expect(up.stderr).toBe('');
  });

  it('--no-http --echo-port 80 --discard-port 2009 --chargen-port 2019: each service on its new port, the defaults closed', async () => {
    const name = ns('svc-moved');
    const up = await startUp(['--netns', name, '--no-http', '--echo-port', '80', '--discard-port', '2009', '--chargen-port', '2019']);
    expect(await listeningPorts(name)).toEqual([80, 2009, 2019]);

    // Echo on 80 (freed by --no-http): the line comes back.
    const echo = await overTcp(name, 80, `printf 'hello, ustack\\n' >&3 && head -n 1 <&3`);
    expect(echo.code, echo.stderr).toBe(0);
    expect(echo.stdout).toBe('hello, ustack\n');
    // Chargen on 2019: its first line.
    const chargen = await overTcp(name, 2019, 'head -c 74 <&3');
    expect(chargen.code, chargen.stderr).toBe(0);
    expect(chargen.stdout).toBe(CHARGEN_LINE_0);
    // Discard on 2009 takes the bytes.
    const discard = await overTcp(name, 2009, `printf 'into the void' >&3 && exec 3>&-`);
    expect(discard.code, discard.stderr).toBe(0);

    await expectRefused(name, [7, 9, 19]);
    const exit = await up.stop('SIGTERM');
    expect(exit, up.describe()).toEqual({ code: 0, signal: null });
    expect(up.stderr).toBe('');
  });

  it('--no-http --no-echo --no-discard --no-chargen: no TCP listener at all, the stack still answers ping', async () => {
    const name = ns('svc-none');
    const up = await startUp(['--netns', name, '--no-http', '--no-echo', '--no-discard', '--no-chargen']);
    expect(await listeningPorts(name)).toEqual([]);
    const p = parsePing((await nsExec(name, 'ping', ['-c', '2', '-i', '0.2', '-w', '20', STACK])).stdout);
    expect(p).toMatchObject({ transmitted: 2, received: 2 });
    await expectRefused(name, [80, 7, 9, 19]);
    const exit = await up.stop('SIGTERM');
    expect(exit, up.describe()).toEqual({ code: 0, signal: null });
  });
});

// ---- the capture's timestamp resolution ------------------------------------------------------

describe.skipIf(!enabled)('ustack up: TCP sysctls', () => {
  it('--no-sack: a connection from Linux negotiates timestamps but not SACK (ss -i: "ts", no "sack")', async () => {
    const name = ns('nosack');
    const up = await startUp(['--netns', name, '--no-sack']);
    // sudo ip netns exec ustack node test/host/fixtures/idleConns.mjs 10.0.0.2 9 1 20 — one
    // connection from the kernel (which offers SACK) to discard, held at most 20 s.
    const idle = join(ROOT, 'test', 'host', 'fixtures', 'idleConns.mjs');
    const child = spawn('ip', ['netns', 'exec', name, process.execPath, idle, STACK, '9', '1', '20'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.on('close', () => r()));
    try {
      await waitFor('the connection', () => out.includes('open 1') || child.exitCode !== null, 20_000, 100);
      const estab = (await ustackStats(name, 'sockets')).split('\n').find((l) => /^ESTAB\s.*\s10\.0\.0\.2:9\s/.test(l));
      expect(estab).toBeDefined();
      expect(estab).toMatch(/\sts\s/);
      expect(estab).not.toMatch(/\ssack\s/);
    } finally {
      child.stdin.end(); // the fixture closes its connections and exits when stdin closes
      await exited;
    }
    const exit = await up.stop('SIGTERM');
    expect(exit, up.describe()).toEqual({ code: 0, signal: null });
  });
});

describe.skipIf(!withClients)('ustack up --pcap-tsres', () => {
  let dir = '';
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** tshark's output without the notice it prints when run as root. */
  const tshark = async (args: string[]): Promise<RunResult> => {
    const r = await run('tshark', args, { timeoutMs: 60_000 });
    return { ...r, stderr: r.stderr.split('\n').filter((l) => l.trim() !== '' && !/^Running as user/.test(l)).join('\n') };
  };

  it.each([
    ['us', ['--pcap-tsres', 'us'], 0xa1b2c3d4],
    ['ns', ['--pcap-tsres', 'ns'], 0xa1b23c4d],
    ['ns (the default)', [], 0xa1b23c4d],
  ])('%s: a ping from the namespace is captured under the right magic, and tshark reads the file cleanly', async (res, flags, magic) => {
    dir ||= mkdtempSync(join(tmpdir(), 'ustack-cli-pcap-'));
    const name = ns(`pcap-${res.slice(0, 2)}${flags.length}`);
    const file = join(dir, `${name}.pcap`);
    const up = await startUp(['--netns', name, '--pcap', file, ...flags]);
    const p = parsePing((await nsExec(name, 'ping', ['-c', '3', '-i', '0.2', '-w', '20', STACK])).stdout);
    expect(p).toMatchObject({ transmitted: 3, received: 3 });
    const exit = await up.stop('SIGINT'); // closing flushes the capture
    expect(exit, up.describe()).toEqual({ code: 0, signal: null });

    // The file's own bytes: the magic (little-endian), and each record's fraction of a second in range.
    const b = readFileSync(file);
    expect(b.readUInt32LE(0).toString(16)).toBe(magic.toString(16));
    const perSecond = res === 'us' ? 1e6 : 1e9;
    let records = 0;
    for (let pos = 24; pos < b.length; pos += 16 + b.readUInt32LE(pos + 8)) {
      expect(b.readUInt32LE(pos + 4)).toBeLessThan(perSecond);
      records++;
    }
    expect(records).toBeGreaterThanOrEqual(6);

    // tshark reads it all, without complaint, and finds the 3 requests and 3 replies.
    const all = await tshark(['-r', file]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr).toBe('');
    expect(all.stdout.trim().split('\n')).toHaveLength(records);
    const icmp = await tshark(['-r', file, '-Y', 'icmp', '-T', 'fields', '-e', 'icmp.type', '-e', 'frame.time_epoch']);
    expect(icmp.code, icmp.stderr).toBe(0);
    const rows = icmp.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.map((r) => r[0]).sort()).toEqual(['0', '0', '0', '8', '8', '8']);
    if (res === 'us') {
      // Microsecond timestamps: whatever digits tshark prints, nothing below the microsecond.
      for (const [, epoch] of rows) expect(epoch!.split('.')[1]!.padEnd(9, '0').slice(6)).toBe('000');
    }
  });
});

// ---- without the capabilities it needs ---------------------------------------------------------

/** The CapEff and Uid lines of /proc/self/status of `cat`, run under setpriv with `opts`. */
async function privilegesUnder(opts: string[]): Promise<{ capEff: bigint; uid: number }> {
  const r = await run('setpriv', [...opts, 'cat', '/proc/self/status'], { timeoutMs: 20_000 });
  expect(r.code, r.stderr).toBe(0);
  return { capEff: BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(r.stdout)![1]}`), uid: Number(/^Uid:\s*(\d+)/m.exec(r.stdout)![1]) };
}

const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;
const has = (caps: bigint, bit: number): boolean => ((caps >> BigInt(bit)) & 1n) === 1n;

describe('the capability check (CapEff of /proc/self/status)', () => {
  const status = (eff: string): string => `Name:\tnode\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t${eff}\nCapEff:\t${eff}\nCapBnd:\t000001ffffffffff\n`;

  it('reads CapEff as a bit set and names what is missing, the namespace capability only with a namespace', () => {
    expect(effectiveCapabilities(status('000001fffeffffff'))).toBe(0x1fffeffffffn);
    expect(effectiveCapabilities('Name:\tnode\n')).toBeNull();
    const all = effectiveCapabilities(status('000001ffffffffff'))!;
    const noSysAdmin = all & ~(1n << 21n);
    const noNetAdmin = all & ~(1n << 12n);
    expect(missingCapabilities({ netns: 'ns' }, all)).toEqual([]);
    expect(missingCapabilities({ netns: 'ns' }, noSysAdmin)).toEqual(["CAP_SYS_ADMIN (to create and enter the network namespace 'ns')"]);
    expect(missingCapabilities({ netns: null }, noSysAdmin)).toEqual([]);
    expect(missingCapabilities({ netns: null }, noNetAdmin)).toEqual(['CAP_NET_ADMIN (to create and configure the TAP device)']);
    expect(missingCapabilities({ netns: 'ns' }, 0n)).toHaveLength(2);
    // Only bits 12 and 21 matter.
    expect(missingCapabilities({ netns: 'ns' }, (1n << 12n) | (1n << 21n))).toEqual([]);
  });
});

describe.skipIf(!enabled)('ustack up without the capabilities it needs', () => {
  // Root with no capabilities at all (none inheritable, an empty bounding set,
  // so exec leaves CapEff empty). Still uid 0, so it can read the checkout
  // wherever it is (a 0700 temporary directory, /root): a non-root user might not.
  const noCaps = ['--inh-caps=-all', '--bounding-set=-all'];

  /** Runs `ustack up ARGS` under setpriv `opts`; checks it failed with EPERM having created nothing. */
  async function refused(opts: string[], args: string[], name: string): Promise<string> {
    const r = await run('setpriv', [...opts, process.execPath, BIN, 'up', ...args], { timeoutMs: 20_000 });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^ustack: ustack up lacks the capabilit(y|ies) .*: run it with sudo \(EPERM\)\n$/);
    expect(r.stdout).not.toContain('ustack is up');
    expect(netnsExists(name)).toBe(false);
    expect(existsSync(sock(name))).toBe(false);
    return r.stderr;
  }

  it('setpriv with an empty bounding set really leaves uid 0 with no effective capability', async () => {
    const p = await privilegesUnder(noCaps);
    expect(p.uid).toBe(0);
    expect(p.capEff).toBe(0n);
  });

  it('without any capability, with a namespace: names both CAP_NET_ADMIN and CAP_SYS_ADMIN', async () => {
    const name = ns('nocaps');
    const err = await refused(noCaps, ['--netns', name], name);
    expect(err).toBe(
      `ustack: ustack up lacks the capabilities CAP_NET_ADMIN (to create and configure the TAP device) and CAP_SYS_ADMIN (to create and enter the network namespace '${name}'): run it with sudo (EPERM)\n`,
    );
  });

  it('without any capability, --no-netns: names CAP_NET_ADMIN only (no namespace to enter), and no TAP appears', async () => {
    const name = ns('nocaps-nonetns');
    const err = await refused(noCaps, ['--no-netns', '--tap', 'ustacknocaps0'], name);
    expect(err).toBe('ustack: ustack up lacks the capability CAP_NET_ADMIN (to create and configure the TAP device): run it with sudo (EPERM)\n');
    expect(existsSync(sock('ustacknocaps0'))).toBe(false);
    expect((await run('ip', ['link', 'show', 'dev', 'ustacknocaps0'])).code).not.toBe(0);
  });

  // Being root (uid 0) is neither enough nor needed: what counts is the effective set.
  it.each([
    ['sys_admin', 'CAP_SYS_ADMIN', CAP_SYS_ADMIN, 'CAP_NET_ADMIN'],
    ['net_admin', 'CAP_NET_ADMIN', CAP_NET_ADMIN, 'CAP_SYS_ADMIN'],
  ])('as root without %s: names %s (and only it), having created nothing', async (cap, named, bit, notNamed) => {
    const opts = ['--inh-caps=-all', `--bounding-set=-${cap}`];
    const p = await privilegesUnder(opts);
    expect(p.uid).toBe(0);
    expect(has(p.capEff, bit)).toBe(false);
    expect(has(p.capEff, bit === CAP_NET_ADMIN ? CAP_SYS_ADMIN : CAP_NET_ADMIN)).toBe(true);

    const name = ns(`root-no-${cap.replace('_', '')}`);
    const err = await refused(opts, ['--netns', name], name);
    expect(err).toContain(`lacks the capability ${named} (`);
    expect(err).not.toContain(notNamed);
  });
});

afterAll(() => {
  for (const n of namespaces) deleteNetns(n);
});

describe.skipIf(!enabled)('cli.test.ts leaves nothing behind', () => {
  it('has deleted every network namespace it made', () => {
    expect(leftoverNetns()).toEqual([]);
  });
});
