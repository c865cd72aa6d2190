// Bulk transfer between two stacks on the virtual clock, verified by SHA-256:
// Reno and CUBIC through a hostile link, heavy loss alone, and sequence
// numbers that wrap past 2^32; then the stream API around it — backpressure
// and 'drain', byte counters, error codes, Nagle and TCP_NODELAY, path-MTU
// discovery from an ICMP "fragmentation needed", and nothing leaked.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { FaultConfig } from '../../src/nic/faults.js';
import type { TcpSocket } from '../../src/socket/tcpSocket.js';
import { IPPROTO_ICMP } from '../../src/wire/ipv4.js';
import { ETH_HLEN, ETHERTYPE_IPV4 } from '../../src/wire/ethernet.js';
import { ethFrame, icmpMessage, ipPacket } from '../helpers/frames.js';
import { A_IP, A_MAC, B_IP, B_MAC, expectNoLeaks, makePair, runUntil, type Pair } from '../helpers/pair.js';
import { errorCodes, pattern, serve, sha256, tcpSniff } from '../helpers/tcp.js';

const MB = 1024 * 1024;

interface Result {
  serverHash: string;
  clientHash: string;
  back: number;
  client: TcpSocket;
  server: TcpSocket | null;
}

/** The client sends `data` and half-closes; the server hashes it and sends it back. */
async function echoTransfer(
  p: Pair,
  data: Buffer,
  o: { congestion?: 'reno' | 'cubic'; faults?: FaultConfig; limitMs?: number } = {},
  started: { client?: TcpSocket } = {},
): Promise<Result> {
  const r: Result = { serverHash: '', clientHash: '', back: 0, client: null as unknown as TcpSocket, server: null };
  let done = false;
  p.b
    .createServer({ congestion: o.congestion }, (s: TcpSocket) => {
      r.server = s;
      const h = createHash('sha256');
      s.on('data', (d: Buffer) => h.update(d));
      s.on('end', () => {
        r.serverHash = h.digest('hex');
        s.end(data);
      });
    })
    .listen(9000);
  p.rt.run();
  if (o.faults) p.link.setFaults(o.faults);
  const c = p.a.connect({ port: 9000, host: '10.0.0.2', congestion: o.congestion });
  r.client = c;
  started.client = c;
  const h = createHash('sha256');
  c.on('data', (d: Buffer) => {
    h.update(d);
    r.back += d.length;
  });
  c.on('end', () => {
    r.clientHash = h.digest('hex');
    done = true;
  });
  c.end(data);
  await runUntil(p.rt, () => done, o.limitMs ?? 3_600_000, 5);
  return r;
}

describe('bulk transfer', () => {
  it('10 MB each way with Reno under 5% loss, 25% reordering, 5% duplication and 1% corruption', async () => {
    const p = makePair({ seed: 11 });
    const data = pattern(10 * MB, 1);
    let cc = '';
    p.a.addTap(() => {
      if (!cc && r0.client?.ep) cc = r0.client.ep.cc.name;
    });
    const r0: { client?: TcpSocket } = {};
    const pending = echoTransfer(p, data, { congestion: 'reno', faults: { loss: 0.05, reorder: 0.25, reorderMs: 3, duplicate: 0.05, corrupt: 0.01, delayMs: 1 } }, r0);
    const r = await pending;
    expect(r.serverHash).toBe(sha256(data));
    expect(r.back).toBe(data.length);
    expect(r.clientHash).toBe(sha256(data));
    expect(cc).toBe('reno');
    const ta = p.a.net.tcp;
    const tb = p.b.net.tcp;
    expect(ta.TcpRetransSegs).toBeGreaterThan(0);
    expect(tb.TcpRetransSegs).toBeGreaterThan(0);
    expect(ta.TcpExtTCPSackRecovery + tb.TcpExtTCPSackRecovery).toBeGreaterThan(0);
    expect(ta.TcpInCsumErrors + tb.TcpInCsumErrors).toBeGreaterThan(0);
    expect(p.link.wires[0].stats.corrupted).toBeGreaterThan(0);
  });

  it('uses the congestion control asked for on each side', async () => {
    const p = makePair();
    const socks = serve(p, 80, { congestion: 'reno' });
    const c = p.a.connect({ port: 80, host: '10.0.0.2', congestion: 'reno' });
    const d = p.a.connect({ port: 80, host: '10.0.0.2' });
    await runUntil(p.rt, () => socks.length === 2, 100);
    expect(c.ep!.cc.name).toBe('reno');
    expect(d.ep!.cc.name).toBe('cubic');
    expect(socks[0]!.ep!.cc.name).toBe('reno');
  });

  it('10 MB each way with CUBIC under 10% loss alone', async () => {
    const p = makePair({ seed: 5 });
    const data = pattern(10 * MB, 2);
    const r = await echoTransfer(p, data, { faults: { loss: 0.1, delayMs: 2 } });
    expect(r.serverHash).toBe(sha256(data));
    expect(r.clientHash).toBe(sha256(data));
    expect(p.link.wires[0].stats.lost).toBeGreaterThan(0.08 * p.link.wires[0].stats.frames);
    expect(p.a.net.tcp.TcpRetransSegs + p.b.net.tcp.TcpRetransSegs).toBeGreaterThan(0);
  });

  it('1 MB each way with sequence numbers wrapping past 2^32, through loss and reordering', async () => {
    const p = makePair({ seed: 9 });
    p.a.tcp.isn = () => 0xfffff000;
    p.b.tcp.isn = () => 0xffff8000;
    const sniffA = tcpSniff(p.a);
    const sniffB = tcpSniff(p.b);
    const data = pattern(MB, 3);
    const r = await echoTransfer(p, data, { faults: { loss: 0.02, reorder: 0.1, reorderMs: 2, delayMs: 1 } });
    expect(r.serverHash).toBe(sha256(data));
    expect(r.clientHash).toBe(sha256(data));
    for (const seen of [sniffA, sniffB]) {
      expect(seen.some((s) => s.seq >= 0xffff0000)).toBe(true);
      expect(seen.some((s) => s.seq < 0x00100000 && s.data.length > 0)).toBe(true);
    }
    expect(p.a.net.tcp.TcpRetransSegs + p.b.net.tcp.TcpRetransSegs).toBeGreaterThan(0);
  });
});

describe('stream API', () => {
  it('write() returns false while the send buffer is full and drain follows once the peer reads', async () => {
    const p = makePair();
    const socks = serve(p, 80, { rcvBuf: 16_384 });
    const c = p.a.connect({ port: 80, host: '10.0.0.2', sndBuf: 65_536 });
    await runUntil(p.rt, () => socks.length === 1 && !c.connecting, 100);
    const s = socks[0]!;
    // Fill the peer's window (its 16 KB buffer) and our 64 KB send buffer.
    const fill = 16_384 + 65_536;
    expect(c.write(pattern(fill, 7))).toBe(false); // one write above the 16 KB highWaterMark
    let drained = 0;
    c.on('drain', () => drained++);
    await runUntil(p.rt, () => false, 2000, 10);
    const ep = c.ep!;
    expect(drained).toBe(1); // TCP took it all: the peer's window, then the send buffer
    expect(ep.sndWnd).toBe(0);
    expect(ep.sendRoom).toBe(0);
    expect(c.bytesWritten).toBe(fill);
    // Now TCP takes nothing: write() says stop once the stream holds its highWaterMark.
    const chunk = pattern(8192, 8);
    expect(c.write(chunk)).toBe(true);
    expect(c.write(chunk)).toBe(false);
    await runUntil(p.rt, () => false, 5000, 10);
    expect(drained).toBe(1);
    expect(c.writableLength).toBe(2 * chunk.length);
    expect(c.bytesWritten).toBe(fill);
    const writes = fill + 2 * chunk.length;
    let got = 0;
    s.on('data', (d: Buffer) => (got += d.length));
    await runUntil(p.rt, () => drained === 2, 10_000, 10);
    expect(drained).toBe(2);
    await runUntil(p.rt, () => got === writes, 10_000, 10);
    expect(got).toBe(writes);
    expect(c.bytesWritten).toBe(got);
    expect(s.bytesRead).toBe(got);
  });

  it('bytesRead and bytesWritten count payload bytes on both sides', async () => {
    const p = makePair();
    const socks = serve(p, 80);
    const c = p.a.connect(80, '10.0.0.2');
    c.write('hello ');
    c.write(Buffer.from('world'));
    await runUntil(p.rt, () => socks.length === 1 && socks[0]!.bytesRead === 11, 100);
    const s = socks[0]!;
    s.write(pattern(5000));
    await runUntil(p.rt, () => c.bytesRead === 5000, 100);
    expect(c.bytesWritten).toBe(11);
    expect(s.bytesRead).toBe(11);
    expect(s.bytesWritten).toBe(5000);
    expect(c.bytesRead).toBe(5000);
  });

  it('ECONNRESET when the peer resets', async () => {
    const p = makePair();
    const socks = serve(p, 80);
    const c = p.a.connect(80, '10.0.0.2');
    const e = errorCodes(c);
    await runUntil(p.rt, () => socks.length === 1, 100);
    socks[0]!.resetAndDestroy();
    await runUntil(p.rt, () => e.length > 0, 100);
    expect(e).toEqual(['ECONNRESET']);
    expect(p.a.net.tcp.TcpEstabResets).toBe(1);
    expect(p.a.tcp.endpoints.size).toBe(0);
    expect(p.b.tcp.endpoints.size).toBe(0);
  });

  it('close() with unread data sends a RST, not a FIN (RFC 2525 §2.17, TcpExtTCPAbortOnClose)', async () => {
    const p = makePair();
    const socks = serve(p, 80);
    const c = p.a.connect(80, '10.0.0.2');
    const e = errorCodes(c);
    await runUntil(p.rt, () => socks.length === 1, 100);
    c.write('unread');
    await runUntil(p.rt, () => socks[0]!.readableLength === 6, 100);
    socks[0]!.destroy();
    await runUntil(p.rt, () => e.length > 0, 100);
    expect(p.b.net.tcp.TcpExtTCPAbortOnClose).toBe(1);
    expect(e).toEqual(['ECONNRESET']);
  });

  it('ECONNREFUSED, EADDRINUSE on listen and on a duplicate 4-tuple', async () => {
    const p = makePair();
    const refused = errorCodes(p.a.connect(81, '10.0.0.2'));
    const one = p.b.createServer(() => {});
    one.listen(80);
    const two = p.b.createServer(() => {});
    const listenErr = errorCodes(two);
    two.listen(80);
    const c1 = p.a.connect({ port: 80, host: '10.0.0.2', localPort: 4000 });
    errorCodes(c1);
    const c2 = p.a.connect({ port: 80, host: '10.0.0.2', localPort: 4000 });
    const dup = errorCodes(c2);
    await runUntil(p.rt, () => refused.length > 0 && listenErr.length > 0 && dup.length > 0, 100);
    expect(refused).toEqual(['ECONNREFUSED']);
    expect(listenErr).toEqual(['EADDRINUSE']);
    expect(dup).toEqual(['EADDRINUSE']);
    expect(c1.destroyed).toBe(false);
  });

  it('Nagle coalesces small writes while data is unacknowledged; setNoDelay sends each at once', async () => {
    const count = async (noDelay: boolean) => {
      const p = makePair({ faults: { delayMs: 5 } });
      const socks = serve(p, 80);
      const c = p.a.connect(80, '10.0.0.2');
      await runUntil(p.rt, () => socks.length === 1 && !c.connecting, 100);
      let got = 0;
      socks[0]!.on('data', (d: Buffer) => (got += d.length));
      if (noDelay) c.setNoDelay(true);
      const sniffA = tcpSniff(p.a);
      for (let i = 0; i < 100; i++) c.write(pattern(10, i));
      await runUntil(p.rt, () => got === 1000, 1000);
      expect(got).toBe(1000);
      return sniffA.filter((s) => s.data.length > 0).length;
    };
    expect(await count(false)).toBe(2); // the first write, then the other 99 once it is ACKed
    expect(await count(true)).toBe(100);
  });

  it("Nagle with Minshall's rule (Linux): the short tail of a large write goes out at once", async () => {
    const p = makePair({ faults: { delayMs: 5 } });
    const socks = serve(p, 80);
    const c = p.a.connect(80, '10.0.0.2');
    await runUntil(p.rt, () => socks.length === 1 && !c.connecting, 100);
    socks[0]!.resume();
    const sniffA = tcpSniff(p.a);
    const mss = c.ep!.mss;
    const t0 = p.rt.clock.now();
    c.write(pattern(3 * mss + 100));
    p.rt.run();
    const sent = sniffA.filter((s) => s.data.length > 0);
    expect(sent.map((s) => s.data.length)).toEqual([mss, mss, mss, 100]);
    expect(sent.every((s) => s.t === t0)).toBe(true);
    // A second short write waits while that short segment is unacknowledged.
    c.write(pattern(50));
    p.rt.run();
    expect(sniffA.filter((s) => s.data.length > 0)).toHaveLength(4);
    await runUntil(p.rt, () => sniffA.filter((s) => s.data.length > 0).length === 5, 100);
    expect(sniffA.filter((s) => s.data.length > 0)[4]!.t - t0).toBe(10); // one round trip
  });

  it('an ICMP fragmentation-needed about a segment in flight lowers the MSS (RFC 1191) and the data still arrives', async () => {
    const p = makePair({ faults: { delayMs: 10 } });
    const socks = serve(p, 80);
    const c = p.a.connect(80, '10.0.0.2');
    await runUntil(p.rt, () => socks.length === 1 && !c.connecting, 100);
    const got: Buffer[] = [];
    socks[0]!.on('data', (d: Buffer) => got.push(d));
    const outA: Uint8Array[] = [];
    p.a.addTap((_dev, buf, off, len, dir) => {
      if (dir === 'out') outA.push(buf.slice(off, off + len));
    });
    const sniffA = tcpSniff(p.a);
    const body = pattern(200_000, 5);
    c.end(body);
    p.rt.run();
    const first = outA.find((f) => f.length > 1000)!;
    const ep = c.ep!;
    const before = ep.mss;
    // A router says: the next hop takes 1000 bytes. The quote is the IP header and 8 bytes of TCP.
    const quote = first.slice(ETH_HLEN, ETH_HLEN + 28);
    const icmp = icmpMessage(3, 4, 1000, quote);
    // A datagram quoting a sequence number that is not in flight is ignored (RFC 5927 §4.1).
    const stale = quote.slice();
    stale[24] ^= 0x80;
    p.link.inject(0, ethFrame(A_MAC, B_MAC, ETHERTYPE_IPV4, ipPacket({ src: B_IP, dst: A_IP, protocol: IPPROTO_ICMP }, icmpMessage(3, 4, 1000, stale))));
    p.rt.run();
    expect(ep.mss).toBe(before);
    p.link.inject(0, ethFrame(A_MAC, B_MAC, ETHERTYPE_IPV4, ipPacket({ src: B_IP, dst: A_IP, protocol: IPPROTO_ICMP }, icmp)));
    p.rt.run();
    expect(ep.mss).toBeLessThanOrEqual(1000 - 40);
    expect(p.a.net.tcp.TcpExtPMTUDiscovery).toBe(1);
    const n = sniffA.length;
    await runUntil(p.rt, () => Buffer.concat(got).length === body.length, 10_000);
    expect(sha256(Buffer.concat(got))).toBe(sha256(body));
    for (const s of sniffA.slice(n)) expect(s.ipLen).toBeLessThanOrEqual(1000);
    expect(sniffA.slice(n).filter((s) => s.data.length > 0).length).toBeGreaterThan(10);
  });

  it('leaks nothing: after many connections and TIME-WAIT no endpoint or buffer is left', async () => {
    const p = makePair({ seed: 4, faults: { loss: 0.02, delayMs: 1 } });
    p.a.tcp.config.timeWaitMs = 2000;
    p.b.tcp.config.timeWaitMs = 2000;
    const baseline = p.a.net.pool.stats.inUse + p.b.net.pool.stats.inUse;
    p.b.createServer((s) => s.pipe(s)).listen(7);
    p.rt.run();
    let closed = 0;
    for (let i = 0; i < 20; i++) {
      const c = p.a.connect(7, '10.0.0.2');
      errorCodes(c);
      c.resume();
      c.on('close', () => closed++);
      c.end(pattern(10_000 * (i + 1), i));
    }
    await runUntil(p.rt, () => closed === 20, 120_000, 10);
    expect(closed).toBe(20);
    await runUntil(p.rt, () => p.a.tcp.endpoints.size + p.b.tcp.endpoints.size === 0, 10_000, 100);
    expect(p.a.tcp.endpoints.size).toBe(0);
    expect(p.b.tcp.endpoints.size).toBe(0);
    expect(p.a.net.tcp.TcpCurrEstab).toBe(0);
    expect(p.b.net.tcp.TcpCurrEstab).toBe(0);
    expect(p.a.net.pool.stats.inUse + p.b.net.pool.stats.inUse).toBe(baseline);
    expectNoLeaks(p.a, p.b);
  });
});
