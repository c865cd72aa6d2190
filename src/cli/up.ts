// up: `ustack up` — a namespace (unless told otherwise), a TAP in it, the
// stack on the TAP, an optional capture, and a clean shutdown on Ctrl-C or
// SIGTERM that prints the counters and leaves nothing behind.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createCaptureWriter, type CaptureWriter, type CaptureWriterOptions } from '../capture/writer.js';
import type { NetDevice } from '../nic/device.js';
import { tapDriver } from '../nic/tapNic.js';
import { Stack } from '../stack.js';
import { startUdpEcho } from '../services/udpEcho.js';
import { startChargen, startDiscard, startEcho, startHttp } from '../services/tcpServices.js';
import type { TcpServer } from '../socket/tcpServer.js';
import { DEFAULT_TCP_CONFIG } from '../tcp/tcp.js';
import { macToString, parseMac } from '../wire/address.js';
import type { UpConfig } from './args.js';
import { CaptureTap } from './captureTap.js';
import { checkControlFree, closeControl, serveControl } from './control.js';
import { controlHandler } from './commands.js';
import { configureHostSide, netnsAdd, netnsDelete, netnsExists } from './netns.js';
import { RealRuntime } from './realRuntime.js';
import { report } from './report.js';

/** A random unicast, locally administered MAC (02:xx:xx:xx:xx:xx style). */
function randomMac(): number {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfc) | 0x02;
  return parseMac([...b].map((x) => x.toString(16).padStart(2, '0')).join(':'))!;
}

/** The capture writer's options for `--pcap`: format, timestamp resolution, interface name. */
export function captureWriterOptions(cfg: Pick<UpConfig, 'pcapFormat' | 'pcapTsres' | 'tap'>): CaptureWriterOptions {
  return { format: cfg.pcapFormat, resolution: cfg.pcapTsres, ifName: cfg.tap };
}

/** Capability numbers (linux/capability.h). */
export const CAP_NET_ADMIN = 12;
export const CAP_SYS_ADMIN = 21;

/**
 * The effective capability set, from the CapEff line of /proc/self/status
 * (or of `status`, when given), or null if there is none to read.
 */
export function effectiveCapabilities(status?: string): bigint | null {
  let text = status;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return null;
    }
  }
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  return m ? BigInt(`0x${m[1]}`) : null;
}

/**
 * The capabilities `ustack up` needs and `capEff` lacks, each with what it is
 * for: CAP_NET_ADMIN to create the TAP device (TUNSETIFF) and configure it,
 * and — unless --no-netns — CAP_SYS_ADMIN to create the namespace and enter
 * it (setns) to open the TAP there. What a uid is does not matter (root
 * without them fails; a user granted them would pass).
 */
export function missingCapabilities(cfg: Pick<UpConfig, 'netns'>, capEff: bigint): string[] {
  const need: Array<[number, string]> = [[CAP_NET_ADMIN, 'CAP_NET_ADMIN (to create and configure the TAP device)']];
  if (cfg.netns !== null) need.push([CAP_SYS_ADMIN, `CAP_SYS_ADMIN (to create and enter the network namespace '${cfg.netns}')`]);
  return need.filter(([bit]) => ((capEff >> BigInt(bit)) & 1n) === 0n).map(([, what]) => what);
}

/** Throws EPERM, naming each missing capability, before anything is created. */
function checkCapabilities(cfg: UpConfig): void {
  const eff = effectiveCapabilities();
  if (eff === null) {
    // No /proc to ask: fall back on the uid.
    if (process.getuid && process.getuid() !== 0) {
      throw Object.assign(new Error('ustack up needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN; no /proc/self/status to check them in): run it with sudo'), { code: 'EPERM' });
    }
    return;
  }
  const missing = missingCapabilities(cfg, eff);
  if (missing.length === 0) return;
  const list = missing.length === 1 ? missing[0]! : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)!}`;
  throw Object.assign(new Error(`ustack up lacks the capabilit${missing.length === 1 ? 'y' : 'ies'} ${list}: run it with sudo`), { code: 'EPERM' });
}

export interface RunningStack {
  stack: Stack;
  dev: NetDevice;
  /** Shuts everything down; resolves when the capture is flushed and the namespace deleted. */
  shutdown(): Promise<void>;
}

/** Resolves once `server` listens; rejects, naming the service, if listen() failed. */
function listening(server: TcpServer, what: string): Promise<void> {
  if (server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => {
      server.off('listening', onListening);
      reject(Object.assign(new Error(`the ${what} service cannot listen: ${e.message}`), { code: (e as NodeJS.ErrnoException).code }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
  });
}

export async function startUp(cfg: UpConfig, log: (s: string) => void): Promise<RunningStack> {
  checkCapabilities(cfg);
  const cleanups: Array<() => void | Promise<void>> = [];
  const undo = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        process.stderr.write(`ustack: cleanup: ${(e as Error).message}\n`);
      }
    }
    cleanups.length = 0;
  };
  const name = cfg.netns ?? cfg.tap;
  if (cfg.control) await checkControlFree(name);
  try {
    if (cfg.netns !== null && !netnsExists(cfg.netns)) {
      netnsAdd(cfg.netns);
      const ns = cfg.netns;
      cleanups.push(() => netnsDelete(ns));
    }

    const rt = new RealRuntime();
    cleanups.push(() => rt.stop());
    const stack = new Stack({ runtime: rt, softnet: { budget: cfg.budget, weight: cfg.weight, maxBacklog: cfg.backlog }, tcp: { syncookies: cfg.syncookies, sack: cfg.sack, defaults: { ...DEFAULT_TCP_CONFIG.defaults, congestion: cfg.congestion } } });
    stack.lo.mtu = cfg.loMtu;
    const mac = cfg.mac ? parseMac(cfg.mac)! : randomMac();
    const faults = Object.values(cfg.faults).some((v) => v !== undefined) ? cfg.faults : undefined;

    // The firewall is in place before the interface exists: no frame gets past it unfiltered.
    for (const r of cfg.rules) stack.netfilter.append(r);

    let capture: CaptureWriter | null = null;
    let captureTap: CaptureTap | null = null;
    if (cfg.pcap) {
      capture = createCaptureWriter(cfg.pcap, captureWriterOptions(cfg));
      const cap = capture;
      cleanups.push(() => cap.close());
      // The packet tap sees frames before anything can drop them (AF_PACKET).
      // It is added before the interface, which announces its address (a
      // gratuitous ARP) as it comes up: the capture must hold that frame too.
      // pcapng: received frames the stack drops carry the reason as a comment (captureTap.ts).
      captureTap = new CaptureTap(cap, {
        ifName: cfg.tap,
        clock: rt.clock,
        annotate: cfg.pcapFormat === 'pcapng' ? { net: stack.net, netfilter: stack.netfilter } : undefined,
      });
      stack.addTap(captureTap.tap);
      const flusher = setInterval(() => void cap.flush().catch(() => {}), 1000);
      flusher.unref();
      cleanups.push(() => clearInterval(flusher));
    }

    // Registered before the interface exists: if anything after the TAP opens
    // fails, closing the stack closes the TAP too, and the process can exit.
    cleanups.push(() => stack.close());
    const dev = stack.addInterface({
      name: cfg.tap,
      mac,
      mtu: cfg.mtu,
      txQueueLen: cfg.txQueueLen,
      addresses: [cfg.addr],
      gateway: cfg.gateway ?? undefined,
      driver: tapDriver({ name: cfg.tap, netns: cfg.netns ?? undefined, rxSlots: cfg.rxRing, txSlots: cfg.txRing, rxFaults: faults, txFaults: faults }),
    });
    if (captureTap) {
      const detach = captureTap.attach(dev);
      cleanups.push(detach);
    }

    if (cfg.hostAddr) configureHostSide(cfg.netns, cfg.tap, cfg.hostAddr);

    if (cfg.udpEchoPort !== null) {
      const echo = await startUdpEcho(stack, { port: cfg.udpEchoPort });
      cleanups.push(() => echo.close());
    }
    const svc = cfg.tcpServices;
    const backlog = cfg.listenBacklog;
    // Each service is listening before the banner says so; a listen error
    // (none is expected: the ports were checked) fails the start with its name.
    const servers: Array<[string, TcpServer]> = [];
    if (svc.http !== null) servers.push(['http', startHttp(stack, svc.http, () => report(stack, 'all'), backlog)]);
    if (svc.echo !== null) servers.push(['echo', startEcho(stack, svc.echo, backlog)]);
    if (svc.discard !== null) servers.push(['discard', startDiscard(stack, svc.discard, backlog)]);
    if (svc.chargen !== null) servers.push(['chargen', startChargen(stack, svc.chargen, backlog)]);
    await Promise.all(servers.map(([what, server]) => listening(server, what)));

    if (cfg.control) {
      const server = await serveControl(name, controlHandler(stack));
      cleanups.push(() => closeControl(server, name));
    }

    const stackIp = cfg.addr.split('/')[0]!;
    const exec = cfg.netns ? `ip netns exec ${cfg.netns} ` : '';
    log(
      [
        `ustack is up: ${stackIp} (${macToString(mac)}) on TAP ${cfg.tap}` + (cfg.netns ? ` in network namespace '${cfg.netns}'` : ''),
        cfg.hostAddr ? `  host side: ${cfg.hostAddr} on ${cfg.tap}` : '  host side: not configured (--no-host-addr)',
        `  rings: rx ${cfg.rxRing} tx ${cfg.txRing}, mtu ${cfg.mtu}` + (cfg.pcap ? `, capture: ${cfg.pcap}` : '') + (faults ? `, faults: ${JSON.stringify(faults)}` : ''),
        `  try:      ${exec}ping ${stackIp}`,
        `            ${exec}arping -c 3 -I ${cfg.tap} ${stackIp}`,
        svc.http !== null ? `            ${exec}curl http://${stackIp}${svc.http === 80 ? '' : `:${svc.http}`}/   (HTTP: node:http over the stack's TCP)` : '',
        cfg.udpEchoPort !== null ? `            ${exec}socat - UDP:${stackIp}:${cfg.udpEchoPort}   (UDP echo, RFC 862)` : '',
        cfg.control ? `  counters: ustack stats${cfg.netns && cfg.netns !== 'ustack' ? ` --name ${cfg.netns}` : cfg.netns ? '' : ` --name ${cfg.tap}`}` : '',
        '  stop:     Ctrl-C',
      ]
        .filter(Boolean)
        .join('\n'),
    );

    let done: Promise<void> | null = null;
    return {
      stack,
      dev,
      shutdown: () => (done ??= undo()),
    };
  } catch (e) {
    await undo();
    throw e;
  }
}

/** Runs until SIGINT/SIGTERM, then shuts down and prints the counters. */
export async function runUp(cfg: UpConfig): Promise<number> {
  const log = cfg.quiet ? () => {} : (s: string) => process.stdout.write(`${s}\n`);
  const running = await startUp(cfg, log);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      const text = report(running.stack, 'all');
      running
        .shutdown()
        .then(() => {
          log(`\nustack: ${signal}, shut down.\n\n${text}`);
          resolve(0);
        })
        .catch((e) => {
          process.stderr.write(`ustack: shutdown: ${(e as Error).message}\n`);
          resolve(1);
        });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGHUP', () => stop('SIGHUP'));
  });
}
