#!/usr/bin/env node
// bench/run.js — `npm run bench`: measures ustack beside the Linux kernel on
// the same machine, in the same run, through the same tools.
//
//   ustack:  ping from a namespace to the stack on a TAP  (ns A ── TAP ── ustack)
//   kernel:  ping from a namespace to the kernel behind a veth pair
//            (ns K1 ── veth ── ns K2)
//
// Figures, each beside the kernel's:
//   ping RTT p50 / p99 (500 pings, 5 ms apart), flood-ping rate (ping -f, 5000);
//   TCP download (curl GET /bytes/200 MB) and upload (one connection to discard);
//   HTTP requests/s with keep-alive (wrk, 5 s) and new connections/s (5 s);
//   memory per idle established connection (10,000 open, server side).
// The kernel side runs the same services (bench/kernelServer.js, Node on the
// kernel's TCP). Every namespace is created here and deleted at the end, also
// on failure. Needs root; wrk is optional (apt-get install wrk).
//
//   node bench/run.js [--record]   --record writes the table to docs/benchmarks.md

import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const record = process.argv.includes('--record');
const tag = `ustack-bench-${process.pid}`;
const NS_U = `${tag}-u`;
const NS_K1 = `${tag}-k1`;
const NS_K2 = `${tag}-k2`;
const RTT_COUNT = 500;
const FLOOD_COUNT = 5000;
const DOWNLOAD_BYTES = 200_000_000;
const UPLOAD_BYTES = 200_000_000;
const IDLE_CONNS = 10_000;

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}
const inNs = (ns, cmd, args, opts) => sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);

function need() {
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (it creates network namespaces and a TAP device)');
  if (!existsSync(join(root, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm install` first');
  for (const tool of ['ip', 'ping']) {
    try {
      sh('which', [tool]);
    } catch {
      throw new Error(`\`${tool}\` is not installed (apt-get install iproute2 iputils-ping)`);
    }
  }
}

const created = [];
function netnsAdd(name) {
  sh('ip', ['netns', 'add', name]);
  created.push(name);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}
function cleanup() {
  for (const ns of created.splice(0)) {
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      /* already gone */
    }
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** RTT samples of `ping -c N -i 0.005` in ms, sorted. */
function rtts(ns, dst) {
  const out = inNs(ns, 'ping', ['-n', '-c', String(RTT_COUNT), '-i', '0.005', '-W', '1', '-w', '60', dst], { maxBuffer: 16 << 20 });
  const samples = [...out.matchAll(/time=([0-9.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  return { samples, received: samples.length };
}

/** Replies per second of a bounded flood ping. */
function flood(ns, dst) {
  const out = inNs(ns, 'ping', ['-n', '-q', '-f', '-c', String(FLOOD_COUNT), '-w', '30', dst]);
  const m = out.match(/(\d+) packets transmitted, (\d+) received.*time (\d+)ms/);
  if (!m) throw new Error(`cannot parse ping -f output:\n${out}`);
  const received = Number(m[2]);
  const ms = Number(m[3]);
  return { sent: Number(m[1]), received, rate: ms > 0 ? (received * 1000) / ms : NaN };
}

const has = (tool) => {
  try {
    sh('which', [tool]);
    return true;
  } catch {
    return false;
  }
};

/** MB/s of one curl download of /bytes/N. */
function download(ns, ip) {
  const out = inNs(ns, 'curl', ['-s', '-o', '/dev/null', '-m', '120', '-w', '%{http_code} %{speed_download}', `http://${ip}/bytes/${DOWNLOAD_BYTES}`]);
  const [code, speed] = out.trim().split(' ');
  return code === '200' ? Number(speed) / 1e6 : NaN;
}

function upload(ns, ip) {
  return Number(inNs(ns, process.execPath, [join(root, 'bench/client.js'), 'upload', ip, '9', String(UPLOAD_BYTES)], { timeout: 120_000 }).trim());
}

function connsPerSec(ns, ip) {
  return Number(inNs(ns, process.execPath, [join(root, 'bench/client.js'), 'conns', ip, '9', '5'], { timeout: 60_000 }).trim());
}

/** wrk's Requests/sec for 5 s of keep-alive GET /bytes/100; NaN without wrk. */
function httpRps(ns, ip) {
  if (!has('wrk')) return NaN;
  const out = inNs(ns, 'wrk', ['-t', '2', '-c', '32', '-d', '5s', `http://${ip}/bytes/100`], { timeout: 60_000 });
  const m = out.match(/Requests\/sec:\s+([0-9.]+)/);
  return m ? Number(m[1]) : NaN;
}

function kb(file, key) {
  const m = readFileSync(file, 'utf8').match(new RegExp(`${key}:\\s+(\\d+)\\s*kB`));
  return m ? Number(m[1]) : NaN;
}

/**
 * Bytes of server memory per idle established connection: opens N from the
 * client namespace, measures, closes. `measure()` returns the server's bytes.
 */
async function idleMemory(ns, ip, measure) {
  const before = measure();
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(root, 'bench/client.js'), 'idle', ip, '9', String(IDLE_CONNS)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const ok = await new Promise((resolve) => {
    let out = '';
    const t = setTimeout(() => resolve(false), 90_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('open')) {
        clearTimeout(t);
        resolve(true);
      }
    });
    child.on('exit', () => resolve(false));
  });
  await new Promise((r) => setTimeout(r, 2000)); // let the last ACKs land
  const after = measure();
  child.stdin.end();
  await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
  return ok ? (after - before) / IDLE_CONNS : NaN;
}

function startKernelServer() {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', NS_K2, process.execPath, join(root, 'bench/kernelServer.js'), '10.9.0.2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const t = setTimeout(() => reject(new Error(`kernel server did not start: ${out}`)), 10000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready')) {
        clearTimeout(t);
        resolve(child);
      }
    });
    child.stderr.on('data', (d) => (out += d));
  });
}

function startUstack() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin/ustack.js'), 'up', '--netns', NS_U, '--no-control'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`ustack did not come up:\n${out}`)), 15000);
    const onData = (d) => {
      out += d;
      if (out.includes('ustack is up')) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ustack exited with ${code}:\n${out}`));
    });
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10000).unref();
  });
}

const fmt = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');

async function main() {
  need();
  let child = null;
  let kchild = null;
  try {
    // The kernel's reference: a veth pair between two namespaces.
    netnsAdd(NS_K1);
    netnsAdd(NS_K2);
    sh('ip', ['link', 'add', 'ubk0', 'netns', NS_K1, 'type', 'veth', 'peer', 'name', 'ubk1', 'netns', NS_K2]);
    sh('ip', ['-n', NS_K1, 'addr', 'add', '10.9.0.1/24', 'dev', 'ubk0']);
    sh('ip', ['-n', NS_K2, 'addr', 'add', '10.9.0.2/24', 'dev', 'ubk1']);
    sh('ip', ['-n', NS_K1, 'link', 'set', 'ubk0', 'up']);
    sh('ip', ['-n', NS_K2, 'link', 'set', 'ubk1', 'up']);

    // ustack on a TAP in its own namespace (created here, so ustack keeps it).
    netnsAdd(NS_U);
    child = await startUstack();
    inNs(NS_U, 'ping', ['-c', '3', '-i', '0.1', '-W', '1', '10.0.0.2']); // warm up: ARP, JIT
    inNs(NS_K1, 'ping', ['-c', '3', '-i', '0.1', '-W', '1', '10.9.0.2']);

    const ru = rtts(NS_U, '10.0.0.2');
    const rk = rtts(NS_K1, '10.9.0.2');
    const fu = flood(NS_U, '10.0.0.2');
    const fk = flood(NS_K1, '10.9.0.2');

    process.stderr.write('bench: ping done; TCP next\n');
    kchild = await startKernelServer();
    const du = download(NS_U, '10.0.0.2');
    const dk = download(NS_K1, '10.9.0.2');
    const uu = upload(NS_U, '10.0.0.2');
    const uk = upload(NS_K1, '10.9.0.2');
    const hu = httpRps(NS_U, '10.0.0.2');
    const hk = httpRps(NS_K1, '10.9.0.2');
    const cu = connsPerSec(NS_U, '10.0.0.2');
    const ck = connsPerSec(NS_K1, '10.9.0.2');
    const upid = child.pid;
    const kpid = kchild.pid;
    const mu = await idleMemory(NS_U, '10.0.0.2', () => kb(`/proc/${upid}/status`, 'VmRSS') * 1024);
    // The kernel's server side: half the slab growth (both ends are kernel sockets) plus the server process.
    const kernelServerPid = kpid; // `ip netns exec` execs node: same PID
    const mk = await idleMemory(NS_K1, '10.9.0.2', () => (kb('/proc/meminfo', 'Slab') / 2 + kb(`/proc/${kernelServerPid}/status`, 'VmRSS')) * 1024);

    const rows = [
      ['ping RTT p50 (ms)', fmt(percentile(ru.samples, 50)), fmt(percentile(rk.samples, 50)), ratio(percentile(ru.samples, 50), percentile(rk.samples, 50))],
      ['ping RTT p99 (ms)', fmt(percentile(ru.samples, 99)), fmt(percentile(rk.samples, 99)), ratio(percentile(ru.samples, 99), percentile(rk.samples, 99))],
      [`ping replies (of ${RTT_COUNT})`, String(ru.received), String(rk.received), ''],
      ['flood ping (replies/s)', fmt(fu.rate, 0), fmt(fk.rate, 0), ratio(fu.rate, fk.rate)],
      [`flood replies (of ${FLOOD_COUNT})`, String(fu.received), String(fk.received), ''],
      ['TCP download, curl (MB/s)', fmt(du, 1), fmt(dk, 1), ratio(du, dk)],
      ['TCP upload to discard (MB/s)', fmt(uu, 1), fmt(uk, 1), ratio(uu, uk)],
      ['HTTP keep-alive (req/s, wrk)', fmt(hu, 0), fmt(hk, 0), ratio(hu, hk)],
      ['new connections (conn/s)', fmt(cu, 0), fmt(ck, 0), ratio(cu, ck)],
      [`memory per idle conn (bytes, ${IDLE_CONNS})`, fmt(mu, 0), fmt(mk, 0), ratio(mu, mk)],
    ];
    const header = ['figure', 'ustack (TAP)', 'Linux (veth)', 'ustack ÷ Linux'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
    const table = [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
    const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
    process.stdout.write(`\n${table}\n\n${machine}\n`);

    if (record) {
      const file = join(root, 'docs/benchmarks.md');
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      const block = `<!-- bench -->\nMeasured ${new Date().toISOString().slice(0, 10)} on ${machine}.\n\n${table}\n<!-- /bench -->`;
      const re = /<!-- bench -->[\s\S]*<!-- \/bench -->/;
      writeFileSync(file, re.test(text) ? text.replace(re, block) : `${text}\n${block}\n`);
      process.stdout.write(`recorded in ${file}\n`);
    }
  } finally {
    if (kchild) await stop(kchild);
    if (child) await stop(child);
    cleanup();
  }
}

process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

main().catch((e) => {
  cleanup();
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(1);
});
