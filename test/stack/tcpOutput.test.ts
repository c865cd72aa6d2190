// What a connection puts on the wire, apart from congestion control: silly
// window avoidance on both sides (RFC 9293 §3.8.6.2.1 sender, §3.8.6.2.2
// receiver), and the initial sequence numbers of RFC 6528 — a clock plus a
// keyed hash of the 4-tuple — on the active and the passive side.
import { describe, expect, it } from 'vitest';
import type { TcpEndpoint } from '../../src/tcp/endpoint.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import type { TcpOptions } from '../../src/wire/tcpOptions.js';
import { makePair, runUntil, type Pair } from '../helpers/pair.js';
import { errorCodes, isSyn, isSynAck, pattern, RawPeer, serve, tcpSniff, type Seg } from '../helpers/tcp.js';

/** RawPeer's handshake with a window of its own choosing in the SYN and the ACK (RawPeer.connect always offers 65535). */
function connectWithWindow(peer: RawPeer, lport: number, window: number, options?: Partial<TcpOptions>): TcpEndpoint {
  const n = peer.seen.length;
  peer.send(lport, { flags: TCP_SYN, window, options });
  const synAck = peer.since(n).find(isSynAck)!;
  peer.rcvNxt = (synAck.seq + 1) >>> 0;
  peer.send(lport, { flags: TCP_ACK, window });
  return peer.endpoint(lport)!;
}

describe('sender-side silly window avoidance (RFC 9293 §3.8.6.2.1)', () => {
  const MSS = 1000;

  /** B (Nagle off) writes `n` bytes to RawPeer, which offered `window` bytes and an MSS of 1000. */
  async function sender(window: number, n: number): Promise<{ p: Pair; peer: RawPeer; ep: TcpEndpoint; data: () => Seg[] }> {
    const p = makePair();
    const socks = serve(p, 80, { noDelay: true });
    const peer = new RawPeer(p);
    const ep = connectWithWindow(peer, 80, window, { mss: MSS });
    await runUntil(p.rt, () => socks.length === 1, 100);
    expect(ep.noDelay).toBe(true);
    expect(ep.maxSndWnd).toBe(window);
    const from = peer.seen.length;
    socks[0]!.write(pattern(n));
    await runUntil(p.rt, () => false, 1);
    return { p, peer, ep, data: () => peer.since(from).filter((x) => x.data.length > 0) };
  }

  it('a window that opens by less than min(MSS, max window / 2) gets no segment; one that takes a full segment does', async () => {
    const { p, peer, ep, data } = await sender(4000, 20_000);
    expect(data().map((x) => x.data.length)).toEqual([MSS, MSS, MSS, MSS]);
    const end = (ep.sndUna + 4000) >>> 0;
    // Everything acknowledged, but only 300 bytes of window: sending them would be a
    // silly segment (Nagle is off, so only SWS avoidance holds it back).
    peer.send(80, { flags: TCP_ACK, ack: end, window: 300 });
    expect(data()).toHaveLength(4);
    peer.send(80, { flags: TCP_ACK, ack: end, window: 900 });
    expect(data()).toHaveLength(4);
    // Enough for a full segment: exactly one, and nothing for the 500 bytes left over.
    peer.send(80, { flags: TCP_ACK, ack: end, window: 1500 });
    expect(data().slice(4).map((x) => x.data.length)).toEqual([MSS]);
    // With the window still stuck below a segment, the persist timer's override sends what fits (§3.8.6.2.1 (4)).
    peer.send(80, { flags: TCP_ACK, ack: (end + MSS) >>> 0, window: 300 });
    expect(data()).toHaveLength(5);
    await runUntil(p.rt, () => data().length > 5, 5000);
    expect(data()[5]!.data.length).toBe(300);
  });

  it('a short segment goes when it is at least half the largest window the peer ever offered', async () => {
    const { peer, ep, data } = await sender(1500, 20_000);
    expect(data().map((x) => x.data.length)).toEqual([MSS]); // the 500 left of the window are below 1500 / 2
    const end = (ep.sndUna + MSS) >>> 0;
    peer.send(80, { flags: TCP_ACK, ack: end, window: 700 }); // below 750
    expect(data()).toHaveLength(1);
    peer.send(80, { flags: TCP_ACK, ack: end, window: 800 }); // 800 ≥ 750
    expect(data().slice(1).map((x) => x.data.length)).toEqual([800]);
  });
});

describe('receiver-side silly window avoidance (RFC 9293 §3.8.6.2.2)', () => {
  it('a reader taking 100 bytes at a time never moves the right edge by less than min(rcvbuf / 2, MSS)', async () => {
    const p = makePair({ faults: { delayMs: 1 } });
    const rcvBuf = 8192;
    const socks = serve(p, 80, { rcvBuf });
    const sniffB = tcpSniff(p.b);
    const c = p.a.connect(80, '10.0.0.2');
    errorCodes(c);
    c.end(pattern(60_000));
    await runUntil(p.rt, () => socks.length === 1, 100);
    const s = socks[0]!;
    const ep = s.ep!;
    // Nobody reads until the window is shut; then 100 bytes every 20 ms.
    await runUntil(p.rt, () => c.ep!.sndWnd === 0 && c.ep!.flight === 0, 2000);
    expect(s.readableLength).toBe(rcvBuf);
    let got = 0;
    const end = p.rt.clock.now() + 300_000;
    while (got < 60_000 && p.rt.clock.now() < end) {
      await runUntil(p.rt, () => false, 20, 1);
      const chunk = s.read(Math.min(100, s.readableLength)) as Buffer | null;
      if (chunk) got += chunk.length;
    }
    expect(got).toBe(60_000);
    const shift = sniffB.find(isSynAck)!.opts.wscale;
    const threshold = Math.min(rcvBuf / 2, ep.advMss);
    let right = -1;
    const steps: number[] = [];
    for (const x of sniffB) {
      if (x.flags & (TCP_SYN | TCP_RST) || !(x.flags & TCP_ACK)) continue;
      const edge = (x.ack + (x.window << Math.max(shift, 0))) >>> 0;
      if (right >= 0 && edge !== right) steps.push((edge - right) | 0);
      right = edge;
    }
    expect(steps.length).toBeGreaterThan(10);
    for (const d of steps) expect(d).toBeGreaterThanOrEqual(threshold);
  });
});

describe('initial sequence numbers (RFC 6528)', () => {
  const CLOCK = 250; // ISN ticks per ms: a 4 µs clock
  /** The hash part F(4-tuple) of an ISN sent at `t`: ISN − M(t). */
  const hashPart = (isn: number, t: number) => (isn - Math.floor(t * CLOCK)) >>> 0;
  const distance = (a: number, b: number) => Math.min((a - b) >>> 0, (b - a) >>> 0);

  it('active open: the same 4-tuple later gets an ISN advanced by the clock; other 4-tuples get unrelated ones', async () => {
    const p = makePair();
    const syns = tcpSniff(p.a);
    /** A connect to a closed port from `lport` (refused at once: no TIME-WAIT keeps the 4-tuple). */
    const attempt = async (lport: number): Promise<Seg> => {
      const n = syns.length;
      const c = p.a.connect({ port: 81, host: '10.0.0.2', localPort: lport });
      const e = errorCodes(c);
      await runUntil(p.rt, () => e.length > 0, 1000);
      expect(e).toEqual(['ECONNREFUSED']);
      return syns.slice(n).find(isSyn)!;
    };
    const first = await attempt(50_000);
    p.rt.advance(12_345);
    const again = await attempt(50_000);
    expect(again.t - first.t).toBeGreaterThanOrEqual(12_345);
    // M advances by 250 per ms and F is the same for the same 4-tuple.
    expect((again.seq - first.seq) >>> 0).toBe(((again.t - first.t) * CLOCK) >>> 0);
    expect(hashPart(again.seq, again.t)).toBe(hashPart(first.seq, first.t));
    // Other 4-tuples, at the same instant: each has its own F, far from the others.
    const others: Seg[] = [];
    for (const lport of [50_001, 50_002, 50_003, 50_004]) others.push(await attempt(lport));
    const parts = [first, ...others].map((x) => hashPart(x.seq, x.t));
    for (let i = 0; i < parts.length; i++) {
      for (let j = i + 1; j < parts.length; j++) expect(distance(parts[i]!, parts[j]!)).toBeGreaterThan(1 << 20);
    }
  });

  it('passive open: the SYN-ACK for the same 4-tuple later is advanced by the clock too', async () => {
    const p = makePair();
    serve(p, 80);
    const peer = new RawPeer(p);
    const synAckOf = (iss: number): Seg => {
      peer.sndNxt = iss;
      const n = peer.seen.length;
      peer.connect(80);
      const sa = peer.since(n).find(isSynAck)!;
      peer.send(80, { flags: TCP_RST }); // gone at once: the 4-tuple is free again
      expect(peer.endpoint(80)).toBeUndefined();
      return sa;
    };
    const a = synAckOf(1000);
    p.rt.advance(7_000);
    const b = synAckOf(5_000_000);
    expect((b.seq - a.seq) >>> 0).toBe(((b.t - a.t) * CLOCK) >>> 0);
    // Another peer port at the same time: unrelated.
    const other = new RawPeer(p, 40_001);
    const n = other.seen.length;
    other.connect(80);
    const c = other.since(n).find(isSynAck)!;
    expect(distance(hashPart(c.seq, c.t), hashPart(b.seq, b.t))).toBeGreaterThan(1 << 20);
  });
});
