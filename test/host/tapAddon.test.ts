// Host tests for the native TAP addon (native/, src/nic/tapAddon.ts).
//
// They need root (CAP_NET_ADMIN + CAP_SYS_ADMIN for setns) and /dev/net/tun,
// and are skipped loudly without them. Every test that touches the network
// makes its own namespace ustack-test-<pid>-<n>, creates the TAP inside it,
// uses addresses only inside it, and deletes it afterwards, pass or fail:
// nothing is sent in the root namespace.

import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTapAddon, open, tapAddonPath, type TapDevice, type TapOpenOptions } from '../../src/nic/tapAddon.js';
import * as L from '../../src/nic/ringLayout.js';
import { requireHostTests } from './helpers.js';

// ---- can this host run them? ------------------------------------------------

function whyNot(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not running as root';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  for (const [cmd, args] of [['ip', ['netns', 'list']], ['ping', ['-V']]] as const) {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
    } catch {
      return `\`${cmd}\` is not available`;
    }
  }
  return undefined;
}

const skipReason = requireHostTests('test/host/tapAddon.test.ts', [whyNot()].filter((x): x is string => x !== undefined))[0];
if (skipReason) {
  console.warn(
    `\n${'!'.repeat(78)}\n!! test/host/tapAddon.test.ts SKIPPED: ${skipReason}.\n` +
      `!! The TAP addon tests need root and /dev/net/tun (run: sudo npx vitest run test/host).\n${'!'.repeat(78)}\n`,
  );
}
const addonBuilt = requireHostTests('test/host/tapAddon.test.ts', existsSync(tapAddonPath()) ? [] : [`the addon ${tapAddonPath()}`]).length === 0;
if (!addonBuilt) {
  console.warn(`\n!! test/host/tapAddon.test.ts: the addon is not built (${tapAddonPath()}); run \`npm install\`.\n`);
}

// ---- helpers ------------------------------------------------------------------

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

interface IpLink {
  ifname: string;
  mtu: number;
  flags: string[];
  address: string;
  stats64?: { rx: { packets: number; bytes: number }; tx: { packets: number; bytes: number } };
}

function ipLink(ns: string, dev: string, stats = false): IpLink {
  const args = ['-j', ...(stats ? ['-s'] : []), '-n', ns, 'link', 'show', 'dev', dev];
  return (JSON.parse(ip(...args)) as IpLink[])[0]!;
}

/** Runs a command to completion without blocking the event loop (IRQ callbacks must run meanwhile). */
function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Polls cond (yielding to the event loop) until it holds, or fails after timeoutMs. */
async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A JS view of one ring, doing what the driver will do, minimally. */
class RingView {
  readonly ctrl: Int32Array;
  readonly desc: Uint32Array;
  readonly geo: L.RingGeometry;
  constructor(readonly buf: ArrayBuffer, slots: number, slotSize: number) {
    this.geo = L.ringGeometry(slots, slotSize);
    this.ctrl = new Int32Array(buf, 0, L.CTRL_BYTES / 4);
    this.desc = new Uint32Array(buf, this.geo.descOffset, slots);
  }
  word(i: number): number {
    return Atomics.load(this.ctrl, i) >>> 0;
  }
  get prod(): number {
    return this.word(L.CTRL_PROD);
  }
  get cons(): number {
    return this.word(L.CTRL_CONS);
  }
  slot(i: number): Uint8Array {
    const at = this.geo.slotsOffset + (i & (this.geo.slots - 1)) * this.geo.slotSize;
    return new Uint8Array(this.buf, at, this.geo.slotSize);
  }
  /** RX: copies of the frames in [cons, prod), left in the ring. */
  frames(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = this.cons, end = this.prod; i !== end; i = (i + 1) >>> 0) {
      out.push(this.slot(i).slice(0, this.desc[i & (this.geo.slots - 1)]));
    }
    return out;
  }
  /** RX: hand every slot back to the NIC. */
  consumeAll(): void {
    Atomics.store(this.ctrl, L.CTRL_CONS, this.prod | 0);
  }
  /** TX: queue frames at prod (the caller checks there is room) and publish them. */
  push(...frames: Uint8Array[]): void {
    let prod = this.prod;
    for (const f of frames) {
      this.slot(prod).set(f);
      this.desc[prod & (this.geo.slots - 1)] = f.length;
      prod = (prod + 1) >>> 0;
    }
    Atomics.store(this.ctrl, L.CTRL_PROD, prod | 0);
  }
}

const mac = (s: string): number[] => s.split(':').map((h) => parseInt(h, 16));
const macStr = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
const ipv4 = (s: string): number[] => s.split('.').map(Number);
const ethertype = (f: Uint8Array): number => (f[12]! << 8) | f[13]!;

/** An Ethernet + ARP frame (42 bytes, unpadded: a TAP takes short frames). */
function arpFrame(op: 1 | 2, srcMac: string, dstMac: string, senderIp: string, targetMac: string, targetIp: string): Uint8Array {
  return Uint8Array.from([
    ...mac(dstMac), ...mac(srcMac), 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, op,
    ...mac(srcMac), ...ipv4(senderIp), ...mac(targetMac), ...ipv4(targetIp),
  ]);
}

// ---- the tests -----------------------------------------------------------------

describe.skipIf(!addonBuilt)('tap addon: layout', () => {
  it('compiles in the same ring constants as ringLayout.ts', () => {
    expect({ ...loadTapAddon().layout }).toEqual({
      CTRL_PROD: L.CTRL_PROD,
      CTRL_IRQ: L.CTRL_IRQ,
      CTRL_FIFO_ERRORS: L.CTRL_FIFO_ERRORS,
      CTRL_LENGTH_ERRORS: L.CTRL_LENGTH_ERRORS,
      CTRL_CONS: L.CTRL_CONS,
      CTRL_BYTES: L.CTRL_BYTES,
      MIN_RING_SLOTS: L.MIN_RING_SLOTS,
      MAX_RING_SLOTS: L.MAX_RING_SLOTS,
      FRAME_OVERHEAD: L.FRAME_OVERHEAD,
    });
  });
});

describe.skipIf(skipReason !== undefined)('tap addon on a real TAP', () => {
  const namespaces: string[] = [];
  const devices: TapDevice[] = [];
  let seq = 0;

  afterEach(() => {
    for (const d of devices.splice(0)) d.close();
    for (const ns of namespaces.splice(0)) {
      try {
        ip('netns', 'del', ns);
      } catch (e) {
        console.warn(`could not delete network namespace ${ns}: ${(e as Error).message}`);
      }
    }
  });

  function newNetns(): string {
    const ns = `ustack-test-${process.pid}-${seq++}`;
    ip('netns', 'add', ns);
    namespaces.push(ns);
    // No IPv6 here: otherwise the kernel sends router solicitations, MLD
    // reports and DAD probes into the TAP on its own schedule, and these tests
    // count the frames they cause.
    // (Written to /proc/sys directly: sysctl(8) is in procps, which a fresh machine may lack.)
    execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c',
      'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6']);
    return ns;
  }

  function openIn(ns: string, over: Partial<TapOpenOptions> = {}): TapDevice {
    const mtu = over.mtu ?? 1500;
    const dev = open({
      name: 'ustack0',
      netns: ns,
      mtu,
      rxSlots: 64,
      txSlots: 64,
      slotSize: L.slotSizeFor(mtu),
      onIrq: () => {},
      ...over,
    });
    devices.push(dev);
    return dev;
  }

  it('creates the TAP inside the namespace, up, with the MTU and rings asked for', () => {
    const ns = newNetns();
    const dev = openIn(ns, { mtu: 1400, rxSlots: 32, txSlots: 16 });
    expect(dev.name).toBe('ustack0');
    expect(dev.hostMac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);

    const link = ipLink(ns, 'ustack0');
    expect(link.mtu).toBe(1400);
    expect(link.flags).toContain('UP');
    expect(link.address).toBe(dev.hostMac);
    // Not in the root namespace.
    expect(() => ip('link', 'show', 'dev', 'ustack0')).toThrow();

    expect(dev.rx).toBeInstanceOf(ArrayBuffer);
    expect(dev.rx.byteLength).toBe(L.ringGeometry(32, L.slotSizeFor(1400)).byteLength);
    expect(dev.tx.byteLength).toBe(L.ringGeometry(16, L.slotSizeFor(1400)).byteLength);
    const rx = new RingView(dev.rx, 32, L.slotSizeFor(1400));
    expect(rx.word(L.CTRL_IRQ)).toBe(1); // the NIC starts with its interrupt enabled
    expect(rx.prod).toBe(0);
  });

  it('receives kernel ARP requests into the RX ring, raises one IRQ and masks it', async () => {
    const ns = newNetns();
    let irqCalls = 0;
    const dev = openIn(ns, { onIrq: () => irqCalls++ });
    const rx = new RingView(dev.rx, 64, L.slotSizeFor(1500));
    ip('-n', ns, 'addr', 'add', '10.213.0.1/24', 'dev', dev.name);

    // Nobody answers 10.213.0.2, so the kernel keeps asking for it by ARP.
    const ping = run('ip', ['netns', 'exec', ns, 'ping', '-c', '3', '-i', '0.2', '-W', '1', '10.213.0.2']);
    await waitFor('an IRQ and two frames', () => irqCalls >= 1 && rx.prod >= 2);
    await ping;

    // Masked as it fired: JS never re-enabled it, so one IRQ for all frames.
    expect(rx.word(L.CTRL_IRQ)).toBe(0);
    expect(irqCalls).toBe(1);
    expect(dev.stats().irqs).toBe(1);

    const arps = rx.frames().filter((f) => ethertype(f) === 0x0806);
    expect(arps.length).toBeGreaterThanOrEqual(1);
    const arp = arps[0]!;
    expect(arp.length).toBeGreaterThanOrEqual(42);
    expect(macStr(arp.subarray(0, 6))).toBe('ff:ff:ff:ff:ff:ff');
    expect(macStr(arp.subarray(6, 12))).toBe(dev.hostMac);
    expect((arp[20]! << 8) | arp[21]!).toBe(1); // request
    expect(Array.from(arp.subarray(28, 32))).toEqual(ipv4('10.213.0.1')); // sender
    expect(Array.from(arp.subarray(38, 42))).toEqual(ipv4('10.213.0.2')); // target

    const s = dev.stats();
    expect(s.rxFrames).toBe(rx.prod);
    expect(s.rxBytes).toBe(rx.frames().reduce((n, f) => n + f.length, 0));
    expect(s.rxFifoErrors).toBe(0);

    // NAPI complete: consume, re-enable; the next frame interrupts again.
    rx.consumeAll();
    Atomics.store(rx.ctrl, L.CTRL_IRQ, 1);
    const ping2 = run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', '10.213.0.3']);
    await waitFor('a second IRQ', () => irqCalls >= 2);
    await ping2;
    expect(dev.stats().irqs).toBe(irqCalls);
    expect(rx.word(L.CTRL_IRQ)).toBe(0);
  });

  it('sends frames from the TX ring: the kernel receives and answers them', async () => {
    const ns = newNetns();
    const dev = openIn(ns, { rxSlots: 64, txSlots: 8 });
    const rx = new RingView(dev.rx, 64, L.slotSizeFor(1500));
    const tx = new RingView(dev.tx, 8, L.slotSizeFor(1500));
    ip('-n', ns, 'addr', 'add', '10.213.0.1/24', 'dev', dev.name);
    const before = ipLink(ns, dev.name, true).stats64!.rx.packets;

    // A peer 10.213.0.2 asks who has 10.213.0.1.
    const peer = '02:00:00:00:02:02';
    const request = arpFrame(1, peer, 'ff:ff:ff:ff:ff:ff', '10.213.0.2', '00:00:00:00:00:00', '10.213.0.1');
    tx.push(request);
    dev.txKick(); // the doorbell: the TX thread writes it
    await waitFor('the TX thread to send it', () => tx.cons === 1);
    expect(dev.stats()).toMatchObject({ txFrames: 1, txBytes: 42, txErrors: 0, txBusy: 0 });
    expect(ipLink(ns, dev.name, true).stats64!.rx.packets).toBe(before + 1);

    // The kernel took it: it learned the peer and answered it.
    await waitFor('the ARP reply', () => rx.frames().some((f) => ethertype(f) === 0x0806 && f[21] === 2));
    const reply = rx.frames().find((f) => ethertype(f) === 0x0806 && f[21] === 2)!;
    expect(macStr(reply.subarray(0, 6))).toBe(peer);
    expect(macStr(reply.subarray(6, 12))).toBe(dev.hostMac);
    expect(ip('-n', ns, 'neigh', 'show', '10.213.0.2', 'dev', dev.name)).toContain(peer);

    // A full ring's worth that wraps around the end of the 8 slots.
    const frames = Array.from({ length: 8 }, (_, i) =>
      Uint8Array.from([...mac('ff:ff:ff:ff:ff:ff'), ...mac(peer), 0x88, 0xb5, ...new Array(46).fill(i)]));
    tx.push(...frames);
    dev.txKick();
    await waitFor('the TX thread to send 8 more', () => tx.cons === 9);
    dev.txKick(); // nothing pending: a harmless wake-up
    await waitFor('TX counters', () => dev.stats().txFrames === 9);
    expect(dev.stats()).toMatchObject({ txFrames: 9, txBytes: 42 + 8 * 60, txErrors: 0 });
    expect(ipLink(ns, dev.name, true).stats64!.rx.packets).toBe(before + 9);
  });

  it('consumes bad TX descriptors as txErrors', async () => {
    const ns = newNetns();
    const dev = openIn(ns, { txSlots: 8 });
    const tx = new RingView(dev.tx, 8, L.slotSizeFor(1500));
    const good = Uint8Array.from([...mac('ff:ff:ff:ff:ff:ff'), ...mac('02:00:00:00:02:02'), 0x88, 0xb5, ...new Array(46).fill(0)]);
    tx.push(good, new Uint8Array(10) /* shorter than an Ethernet header: EINVAL */, good);
    tx.desc[1 & 7] = 10;
    // And one whose length is larger than a slot.
    tx.push(good);
    tx.desc[3 & 7] = L.slotSizeFor(1500) + 1;
    dev.txKick();
    await waitFor('the TX thread to consume all four', () => tx.cons === 4);
    expect(dev.stats()).toMatchObject({ txFrames: 2, txErrors: 2 });
  });

  it('raises a TX completion interrupt (kind 1) only when JS asked for one', async () => {
    const ns = newNetns();
    const kinds: number[] = [];
    const dev = openIn(ns, { txSlots: 8, onIrq: (kind: number) => kinds.push(kind) });
    const tx = new RingView(dev.tx, 8, L.slotSizeFor(1500));
    const frame = Uint8Array.from([...mac('ff:ff:ff:ff:ff:ff'), ...mac('02:00:00:00:02:02'), 0x88, 0xb5, ...new Array(46).fill(1)]);
    expect(Atomics.load(tx.ctrl, L.CTRL_IRQ)).toBe(0); // TX completions start masked
    tx.push(frame);
    dev.txKick();
    await waitFor('the first frame sent', () => tx.cons === 1);
    expect(kinds).toEqual([]);
    // A driver that found the ring full asks to hear of the next completion.
    Atomics.store(tx.ctrl, L.CTRL_IRQ, 1);
    tx.push(frame);
    dev.txKick();
    await waitFor('a TX completion interrupt', () => kinds.includes(1));
    expect(tx.cons).toBe(2);
    expect(Atomics.load(tx.ctrl, L.CTRL_IRQ)).toBe(0); // masked as it fired
  });

  it('counts rx_fifo_errors when nobody empties a small RX ring', async () => {
    const ns = newNetns();
    let irqCalls = 0;
    const dev = openIn(ns, { rxSlots: 8, onIrq: () => irqCalls++ });
    const rx = new RingView(dev.rx, 8, L.slotSizeFor(1500));
    ip('-n', ns, 'addr', 'add', '10.213.0.1/24', 'dev', dev.name);

    // 30 broadcast pings: Ethernet broadcasts with no ARP needed, 8 fit.
    const r = await run('ip', ['netns', 'exec', ns, 'ping', '-b', '-c', '30', '-i', '0.01', '-W', '1', '10.213.0.255']);
    expect(r.stderr).not.toMatch(/Do you want to ping broadcast/);
    await waitFor('rx fifo errors', () => dev.stats().rxFifoErrors >= 22);

    const s = dev.stats();
    expect(rx.prod - rx.cons).toBe(8);
    expect(s.rxFrames).toBe(8);
    expect(s.rxFifoErrors).toBeGreaterThanOrEqual(22);
    expect(rx.word(L.CTRL_FIFO_ERRORS)).toBe(s.rxFifoErrors);
    expect(s.irqs).toBe(1);
    await waitFor('the IRQ callback', () => irqCalls === 1);
  });

  it('takes a frame of exactly slotSize bytes and counts a longer one as rx_length_errors', async () => {
    const ns = newNetns();
    const dev = openIn(ns, { mtu: 1500, slotSize: 128, rxSlots: 8 });
    const rx = new RingView(dev.rx, 8, 128);
    ip('-n', ns, 'addr', 'add', '10.213.0.1/24', 'dev', dev.name);
    const ping = (size: number) =>
      run('ip', ['netns', 'exec', ns, 'ping', '-b', '-c', '1', '-W', '1', '-s', String(size), '10.213.0.255']);

    await ping(86); // 14 Ethernet + 20 IPv4 + 8 ICMP + 86 = 128 bytes
    await waitFor('the 128-byte frame', () => dev.stats().rxFrames >= 1);
    const [frame] = rx.frames();
    expect(frame!.length).toBe(128);
    expect(ethertype(frame!)).toBe(0x0800);
    expect(dev.stats().rxLengthErrors).toBe(0);

    await ping(87); // 129 bytes: one too many
    await waitFor('a length error', () => dev.stats().rxLengthErrors >= 1);
    expect(rx.word(L.CTRL_LENGTH_ERRORS)).toBe(dev.stats().rxLengthErrors);
    expect(rx.prod).toBe(1); // not published
  });

  describe('errors', () => {
    const base = (): TapOpenOptions => ({
      name: 'ustack0', mtu: 1500, rxSlots: 8, txSlots: 8, slotSize: 1536, onIrq: () => {},
    });
    const codeOf = (f: () => unknown): { code?: string; message: string; error: unknown } => {
      try {
        const d = f();
        if (d && typeof (d as TapDevice).close === 'function') (d as TapDevice).close();
      } catch (e) {
        return { code: (e as { code?: string }).code, message: (e as Error).message, error: e };
      }
      throw new Error('expected open() to throw');
    };

    it('rejects invalid options with EINVAL before any system call', () => {
      // The namespace does not exist: had validation let a case through, open()
      // would fail with ENOENT (and this test with it) rather than create anything.
      const missing = `ustack-test-${process.pid}-missing`;
      const cases: Array<[Partial<Record<keyof TapOpenOptions, unknown>>, RegExp]> = [
        [{ name: 'a-name-far-too-long' }, /name/],
        [{ name: '' }, /name/],
        [{ name: 'bad/name' }, /name/],
        [{ name: 42 }, /name/],
        [{ netns: '' }, /netns/],
        [{ netns: 'a/b' }, /netns/],
        [{ mtu: 67 }, /mtu/],
        [{ mtu: 65522 }, /mtu/],
        [{ mtu: 1500.5 }, /mtu/],
        [{ rxSlots: 12 }, /rxSlots/],
        [{ txSlots: 8192 }, /txSlots/],
        [{ slotSize: 100 }, /slotSize/],
        [{ slotSize: 0 }, /slotSize/],
        [{ onIrq: 'nope' }, /onIrq/],
      ];
      for (const [over, what] of cases) {
        const r = codeOf(() => open({ ...base(), netns: missing, ...over } as TapOpenOptions));
        expect(r.code, JSON.stringify(over)).toBe('EINVAL');
        expect(r.message).toMatch(what);
        expect(r.error).toBeInstanceOf(Error);
      }
      expect(codeOf(() => open(undefined as unknown as TapOpenOptions)).code).toBe('EINVAL');
      const long = codeOf(() => open({ ...base(), netns: missing, name: 'x'.repeat(16) }));
      expect(long.error).toBeInstanceOf(RangeError);
      const typed = codeOf(() => open({ ...base(), netns: missing, mtu: '1500' } as unknown as TapOpenOptions));
      expect(typed.error).toBeInstanceOf(TypeError);
    });

    it('names a missing namespace in an ENOENT error', () => {
      const missing = `ustack-test-${process.pid}-missing`;
      const r = codeOf(() => open({ ...base(), netns: missing }));
      expect(r.code).toBe('ENOENT');
      expect(r.message).toContain(`'${missing}'`);
      expect(r.message).toContain(`ip netns add ${missing}`);
    });

    it('refuses a name that is already open with EBUSY', () => {
      const ns = newNetns();
      const first = openIn(ns);
      const r = codeOf(() => open({ ...base(), netns: ns }));
      expect(r.code).toBe('EBUSY');
      expect(r.message).toContain("'ustack0'");
      // A device that is not a TAP is "in use" too.
      expect(codeOf(() => open({ ...base(), name: 'lo', netns: ns })).code).toBe('EBUSY');
      // The first one is unharmed.
      expect(() => first.txKick()).not.toThrow();
      expect(ipLink(ns, 'ustack0').flags).toContain('UP');
    });
  });

  it('close() is idempotent, removes the interface and keeps the rings readable', () => {
    const ns = newNetns();
    const dev = openIn(ns);
    const rx = new RingView(dev.rx, 64, L.slotSizeFor(1500));
    dev.close();
    dev.close();
    expect(() => ipLink(ns, 'ustack0')).toThrow();
    expect(rx.word(L.CTRL_IRQ)).toBe(1);
    expect(dev.stats().txFrames).toBe(0);
    let err: { code?: string } | undefined;
    try {
      dev.txKick();
    } catch (e) {
      err = e as { code?: string };
    }
    expect(err?.code).toBe('ERR_TAP_CLOSED');
  });

  it('keeps the process alive while open and lets it exit after close()', async () => {
    const ns = newNetns();
    const dir = mkdtempSync(join(tmpdir(), 'ustack-tap-'));
    try {
      const script = join(dir, 'child.mjs');
      writeFileSync(
        script,
        `import { createRequire } from 'node:module';
const [addonPath, ns] = process.argv.slice(2);
const addon = createRequire(import.meta.url)(addonPath);
const dev = addon.open({ name: 'ustack0', netns: ns, mtu: 1500, rxSlots: 8, txSlots: 8, slotSize: 1536, onIrq() {} });
// An unref'd timer does not hold the process open: it fires only because the live device does.
setTimeout(() => { console.log('alive'); dev.close(); dev.close(); console.log('closed'); }, 300).unref();
`,
      );
      const r = await run(process.execPath, [script, tapAddonPath(), ns], 5_000);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('alive\nclosed\n');
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
