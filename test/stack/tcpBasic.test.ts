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
