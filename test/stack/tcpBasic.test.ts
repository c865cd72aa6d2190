import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { makePair, runUntil } from '../helpers/pair.js';
import type { TcpSocket } from '../../src/socket/tcpSocket.js';

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

describe('TCP between two stacks', () => {
  it('connects, echoes data and closes both ways', async () => {
    const { rt, a, b } = makePair();
    const server = b.createServer((s) => s.pipe(s));
    server.listen(7);
    rt.run();
    const c = a.connect(7, '10.0.0.2');
    const got: Buffer[] = [];
    let connected = false;
    let closed = false;
    c.on('connect', () => (connected = true));
    c.on('data', (d: Buffer) => got.push(d));
    c.on('close', () => (closed = true));
    c.end(Buffer.from('hello, world'));
    await runUntil(rt, () => closed, 10_000);
    expect(connected).toBe(true);
    expect(Buffer.concat(got).toString()).toBe('hello, world');
    expect(closed).toBe(true);
    expect(a.net.tcp.TcpActiveOpens).toBe(1);
    expect(b.net.tcp.TcpPassiveOpens).toBe(1);
  });

  it('refuses a closed port at once with ECONNREFUSED', async () => {
    const { rt, a, b } = makePair();
    const c = a.connect(81, '10.0.0.2');
    let err: NodeJS.ErrnoException | null = null;
    c.on('error', (e) => (err = e));
    await runUntil(rt, () => err !== null, 2000);
    expect(err!.code).toBe('ECONNREFUSED');
    expect(b.net.tcp.TcpOutRsts).toBe(1);
  });

  it('moves 10 MB intact in both directions under loss, reordering, duplication and corruption', async () => {
    const { rt, a, b, link } = makePair({ seed: 7 });
    const size = 10 * 1024 * 1024;
    const data = pattern(size);
    const want = createHash('sha256').update(data).digest('hex');
    let serverHash = '';
    const server = b.createServer((s: TcpSocket) => {
      const h = createHash('sha256');
      let n = 0;
      s.on('data', (d: Buffer) => {
        h.update(d);
        n += d.length;
      });
      s.on('end', () => {
        serverHash = h.digest('hex');
        s.end(data); // and send it back
      });
    });
    server.listen(9000);
    rt.run();
    link.setFaults({ loss: 0.05, reorder: 0.25, reorderMs: 3, duplicate: 0.05, corrupt: 0.01, delayMs: 1 });
    const c = a.connect(9000, '10.0.0.2');
    const h = createHash('sha256');
    let back = 0;
    let done = false;
    c.on('data', (d: Buffer) => {
      h.update(d);
      back += d.length;
    });
    c.on('end', () => (done = true));
    c.end(data);
    await runUntil(rt, () => done, 3_600_000, 5);
    expect(serverHash).toBe(want);
    expect(back).toBe(size);
    expect(h.digest('hex')).toBe(want);
    expect(a.net.tcp.TcpRetransSegs + b.net.tcp.TcpRetransSegs).toBeGreaterThan(0);
  });
});

describe('TCP over the loopback device', () => {
  it.each(['127.0.0.1', '10.0.0.1'])('to its own %s: MSS 65495 (lo MTU 65536, capped at 65535), 1 MB intact, the NIC never moves', async (host) => {
    const { rt, a, devA } = makePair();
    const data = pattern(1024 * 1024);
    const got: Buffer[] = [];
    const server = a.createServer((s: TcpSocket) => {
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => s.end());
    });
    server.listen(5000);
    rt.run();
    const tapBefore = { ...devA.stats };
    const c = a.connect(5000, host);
    let closed = false;
    const mss = new Set<string>();
    const sample = (): void => {
      for (const ep of a.tcp.socketTable()) if (ep.rport !== 0) mss.add(`${ep.advMss}/${ep.mss}`);
    };
    c.on('close', () => (closed = true));
    c.on('connect', sample);
    c.on('drain', sample);
    c.end(data);
    await runUntil(rt, () => closed, 10_000);
    expect(createHash('sha256').update(Buffer.concat(got)).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    // Linux ipv4_default_advmss: min(65536, 65535) - 40 announced by both ends;
    // segments carry 12 bytes of timestamps, so 65483 of data (as Linux's ss
    // -i shows on lo); every one fitted in a datagram, none refused as too big.
    expect([...mss]).toEqual(['65495/65483']);
    expect(a.drops().filter(([r]) => r === 'pkt-too-big')).toEqual([]);
    expect(a.net.tcp.TcpRetransSegs).toBe(0);
    expect(a.lo.stats.tx_packets).toBeGreaterThan(0);
    expect(devA.stats.tx_packets).toBe(tapBefore.tx_packets);
    expect(devA.stats.rx_packets).toBe(tapBefore.rx_packets);
  });
});
