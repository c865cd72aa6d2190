// Shared helpers of the host tests that drive the `ustack` command (bin/ustack.js,
// compiled into dist/) on a real TAP device.
//
// The rules they keep (DESIGN.md §5): every test that sends packets makes its
// own network namespace ustack-test-<pid>-<tag>, passes it with --netns, uses
// addresses inside it only, and deletes it afterwards, pass or fail. Processes
// are ended by their PID only. Nothing here asserts a time or a rate; the
// timeouts only bound how long a test may wait.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'ustack.js');
export const ADDON = join(ROOT, 'build', 'Release', 'ustack_tap.node');
export const DIST_MAIN = join(ROOT, 'dist', 'cli', 'main.js');
export const CONTROL_DIR = '/run/ustack';

// ---- can this host run them? -------------------------------------------------------

function commandWorks(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** What is missing for the host tests (and the extra commands `tools`), or an empty list. */
export function hostTestsMissing(tools: string[] = []): string[] {
  const missing: string[] = [];
  if (process.platform !== 'linux') missing.push('Linux (this is ' + process.platform + ')');
  if (process.getuid?.() !== 0) missing.push('root (run: sudo npx vitest run test/host)');
  if (!existsSync('/dev/net/tun')) missing.push('/dev/net/tun');
  if (!existsSync(ADDON)) missing.push(`the native addon ${ADDON} (run: npx node-gyp rebuild)`);
  if (!existsSync(DIST_MAIN)) missing.push(`the compiled CLI ${DIST_MAIN} (run: npx tsc -p tsconfig.build.json)`);
  if (!commandWorks('ip', ['netns', 'list'])) missing.push('`ip` (iproute2) with netns support');
  const probes: Record<string, string[]> = {
    ping: ['-V'],
    arping: ['--help'],
    tshark: ['-v'],
    setpriv: ['--version'],
    socat: ['-V'],
  };
  for (const t of tools) {
    // arping --help exits 1 on some versions: only "not found" counts as missing.
    const ok = t === 'arping' ? existsOnPath(t) : commandWorks(t, probes[t] ?? ['--version']);
    if (!ok) missing.push(`the \`${t}\` command`);
  }
  return missing;
}

function existsOnPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((d) => d && existsSync(join(d, cmd)));
}

/** A source file newer than the compiled CLI, if any. */
function staleDist(): string | undefined {
  const built = statSync(DIST_MAIN).mtimeMs;
  const walk = (dir: string): string | undefined => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        const r = walk(p);
        if (r) return r;
      } else if (e.name.endsWith('.ts') && statSync(p).mtimeMs > built) return p;
    }
    return undefined;
  };
  return walk(join(ROOT, 'src'));
}

/**
 * Whether the host tests can run here. If not, says so LOUDLY, naming what is
 * missing, so a skipped run is never mistaken for a passing one — and with
 * USTACK_REQUIRE_HOST_TESTS=1 (CI sets it) a missing piece fails the file
 * instead: CI must never pass by skipping.
 */
export function hostTestsEnabled(opts: { file?: string; tools?: string[] } = {}): boolean {
  const file = opts.file ?? 'test/host';
  const missing = requireHostTests(file, hostTestsMissing(opts.tools));
  if (missing.length === 0) {
    const stale = staleDist();
    if (stale) console.warn(`\n!! ${file}: dist/ is older than ${stale}: these tests run the compiled CLI; rebuild it (npx tsc -p tsconfig.build.json).\n`);
    return true;
  }
  const bar = '!'.repeat(78);
  console.warn(
    `\n${bar}\n!! HOST TESTS SKIPPED: ${file}\n!! missing: ${missing.join('; ')}\n` +
      `!! These tests run ustack on a real TAP device in a private network namespace.\n${bar}\n`,
  );
  return false;
}

/** Throws, naming what is missing, when USTACK_REQUIRE_HOST_TESTS=1; else returns `missing`. */
export function requireHostTests(file: string, missing: string[]): string[] {
  if (missing.length > 0 && process.env.USTACK_REQUIRE_HOST_TESTS === '1') {
    throw new Error(`${file}: USTACK_REQUIRE_HOST_TESTS=1 but these host tests cannot run: missing ${missing.join('; ')}`);
  }
  return missing;
}

// ---- running commands ----------------------------------------------------------------

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion without blocking the event loop. A command
 * still running after timeoutMs is killed (by its PID) and the promise rejects.
 */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`\`${cmd} ${args.join(' ')}\` did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs a command inside a network namespace (`ip netns exec NS cmd …`). */
export function nsExec(ns: string, cmd: string, args: string[], timeoutMs?: number): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], { timeoutMs });
}

/** Runs `ustack ARGS…` (node bin/ustack.js) to completion. */
export function ustack(args: string[], timeoutMs = 20_000): Promise<RunResult> {
  return run(process.execPath, [BIN, ...args], { timeoutMs });
}

/** `ustack stats --name NAME VIEW`: a running instance's report. */
export async function ustackStats(name: string, view = 'all'): Promise<string> {
  const r = await ustack(['stats', '--name', name, view], 10_000);
  if (r.code !== 0) throw new Error(`ustack stats --name ${name} ${view} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A counter from a report: `name: 123` (ethtool -S style) or `Name   123` (nstat style). */
export function counter(report: string, name: string): number | undefined {
  const m = new RegExp(`^\\s*${name}:?\\s+(\\d+)\\s*$`, 'm').exec(report);
  return m ? Number(m[1]) : undefined;
}

export interface PingSummary {
  transmitted: number;
  received: number;
  errors: number;
}

/** The summary line of iputils ping: "N packets transmitted, M received, [+E errors,] X% packet loss". */
export function parsePing(out: string): PingSummary {
  const m = /(\d+) packets transmitted, (\d+) received(?:, \+(\d+) errors)?/.exec(out);
  if (!m) throw new Error(`no ping summary in:\n${out}`);
  return { transmitted: Number(m[1]), received: Number(m[2]), errors: Number(m[3] ?? 0) };
}

/** Polls cond until it holds, or fails after timeoutMs. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ---- network namespaces ---------------------------------------------------------------

/** The prefix of every namespace this test process makes. */
export const NS_PREFIX = `ustack-test-${process.pid}-`;

/** A namespace name unique to this process and tag; nothing is created. */
export function nsName(tag: string): string {
  const name = `${NS_PREFIX}${tag}`;
  if (name.length > 64) throw new Error(`namespace name too long: ${name}`);
  return name;
}

export function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(/\s+/)[0]!)
    .filter(Boolean);
}

export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`) || existsSync(`/var/run/netns/${name}`);
}

/** Our namespaces (this process's prefix) that still exist, optionally only those with a tag prefix. */
export function leftoverNetns(tagPrefix = ''): string[] {
  return netnsList().filter((n) => n.startsWith(NS_PREFIX + tagPrefix));
}

export function createNetns(name: string): void {
  if (!name.startsWith(NS_PREFIX)) throw new Error(`refusing to create a namespace not named ${NS_PREFIX}…: ${name}`);
  execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Deletes one of our namespaces if it exists (and a control socket left for it). */
export function deleteNetns(name: string): void {
  if (!name.startsWith(NS_PREFIX)) throw new Error(`refusing to delete a namespace not named ${NS_PREFIX}…: ${name}`);
  if (netnsExists(name)) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      console.warn(`could not delete network namespace ${name}: ${(e as Error).message}`);
    }
  }
  rmSync(join(CONTROL_DIR, `${name}.sock`), { force: true });
}

// ---- a running `ustack up` -------------------------------------------------------------

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class UstackProcess {
  stdout = '';
  stderr = '';
  exit: Exit | null = null;
  readonly exited: Promise<Exit>;

  constructor(readonly child: ChildProcess, readonly args: string[]) {
    child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  describe(): string {
    return `ustack up ${this.args.join(' ')} (pid ${this.pid}, exit ${JSON.stringify(this.exit)})\n--- stdout:\n${this.stdout}\n--- stderr:\n${this.stderr}`;
  }

  /** Sends `signal` to this process (by its PID) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<Exit> {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    const r = await Promise.race([this.exited, timer]);
    if (r === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
      throw new Error(`ustack did not exit within ${timeoutMs} ms of ${signal}; killed.\n${this.describe()}`);
    }
    return r;
  }
}

const running = new Set<UstackProcess>();

/** Spawns `ustack up ARGS…` without waiting for anything. */
export function spawnUp(args: string[]): UstackProcess {
  const child = spawn(process.execPath, [BIN, 'up', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  const p = new UstackProcess(child, args);
  running.add(p);
  void p.exited.then(() => running.delete(p));
  return p;
}

/**
 * Spawns `ustack up ARGS…` and waits (bounded) for its "ustack is up" line.
 * Throws with everything it printed if it exits first or takes too long.
 */
export async function startUp(args: string[], timeoutMs = 15_000): Promise<UstackProcess> {
  const p = spawnUp(args);
  const deadline = Date.now() + timeoutMs;
  while (!p.stdout.includes('ustack is up')) {
    if (p.exit) throw new Error(`ustack up exited before it was up.\n${p.describe()}`);
    if (Date.now() > deadline) {
      await p.stop('SIGKILL').catch(() => {});
      throw new Error(`ustack up was not up within ${timeoutMs} ms.\n${p.describe()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return p;
}

/** Stops (SIGTERM, then SIGKILL) every `ustack up` this process started that is still running. */
export async function stopAll(): Promise<void> {
  for (const p of [...running]) {
    try {
      await p.stop('SIGTERM', 10_000);
    } catch (e) {
      console.warn((e as Error).message);
    }
  }
}
