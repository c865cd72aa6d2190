// Host tests of the `ustack` command itself (bin/ustack.js → dist/cli): its
// usage errors and help, its lifecycle on a real TAP (namespaces it creates or
// borrows, a second instance, SIGINT/SIGTERM), RX ring overflow on the real
// path, and refusing to run without root.
//
// Every test that sends packets or brings ustack up uses a network namespace
// named ustack-test-<pid>-<tag>, unique to this file, and deletes it in a
// finally/afterEach, pass or fail. The usage-error tests pass such a name too,
// so that a flag wrongly accepted could only ever create that namespace (which
// the test then finds and fails on). Nothing asserts a time or a rate.

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
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
  startUp,
  stopAll,
  ustack,
  ustackStats,
} from './helpers.js';

const enabled = hostTestsEnabled({ file: 'test/host/cli.test.ts', tools: ['ping', 'setpriv'] });
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

// ---- not root ------------------------------------------------------------------------------------

describe.skipIf(!enabled)('ustack up without root', () => {
  // nobody, with no capabilities at all (none inheritable, an empty bounding set).
  const asNobody = ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];

  it.each([[['--netns', 'NS']], [['--no-netns', '--tap', 'ustacknobody0']]])(
    'ustack up %j as nobody exits 1 saying it needs root, having created nothing',
    async (args) => {
      const name = ns('nobody');
      const r = await run('setpriv', [...asNobody, process.execPath, BIN, 'up', ...args.map((a) => (a === 'NS' ? name : a))], { timeoutMs: 20_000 });
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^ustack: ustack up needs root \(CAP_NET_ADMIN\)/);
      expect(r.stdout).not.toContain('ustack is up');
      expect(netnsExists(name)).toBe(false);
      expect(existsSync(sock(name))).toBe(false);
      expect(existsSync(sock('ustacknobody0'))).toBe(false);
      expect((await run('ip', ['link', 'show', 'dev', 'ustacknobody0'])).code).not.toBe(0);
    },
  );
});

afterAll(() => {
  for (const n of namespaces) deleteNetns(n);
});

describe.skipIf(!enabled)('cli.test.ts leaves nothing behind', () => {
  it('has deleted every network namespace it made', () => {
    expect(leftoverNetns()).toEqual([]);
  });
});
