// Congestion control seen from the wire, two stacks on the virtual clock (or
// stack B against a hand-driven RawPeer): the initial window of RFC 6928;
// restart after idle (RFC 5681 §4.1, Linux tcp_cwnd_restart) and CUBIC's
// epoch shifted over the pause (RFC 9438 §5.8); no cwnd growth while the
// application, not cwnd, limits the flow (Linux tcp_is_cwnd_limited); and
// fast recovery entry — NewReno's ssthresh + 3·SMSS with inflation per
// duplicate and deflation on the full ACK (RFC 5681 §3.2, RFC 6582), SACK's
// plain ssthresh (RFC 6675 §5), and FlightSize without Limited Transmit.
import { describe, expect, it } from 'vitest';
import type { TcpSocket } from '../../src/socket/tcpSocket.js';
import type { Cubic } from '../../src/tcp/congestion.js';
import { INITIAL_WINDOW_SEGMENTS } from '../../src/tcp/congestion.js';
import type { TcpEndpoint } from '../../src/tcp/endpoint.js';
import { TCP_ACK } from '../../src/wire/tcp.js';
import { makePair, runUntil, type Pair } from '../helpers/pair.js';
import { errorCodes, pattern, RawPeer, serve, tcpSniff, type Seg } from '../helpers/tcp.js';

const D = 10; // one-way link delay, ms: an RTT of 20 ms

/** A connected client on A and its server socket on B (the server reads everything). */
async function connected(p: Pair, congestion?: 'reno' | 'cubic'): Promise<{ c: TcpSocket; s: TcpSocket }> {
  const socks = serve(p, 80, congestion ? { congestion } : {});
  const c = p.a.connect({ port: 80, host: '10.0.0.2', congestion });
  errorCodes(c);
  await runUntil(p.rt, () => socks.length === 1 && !c.connecting, 1000);
  const s = socks[0]!;
  s.resume();
  return { c, s };
}

/** Writes `n` bytes and waits until every byte is acknowledged. */
async function bulk(p: Pair, c: TcpSocket, n: number): Promise<void> {
  const ep = c.ep!;
  c.write(pattern(n));
  await runUntil(p.rt, () => ep.sendBuf.length === 0 && ep.flight === 0, 600_000, 1);
  expect(ep.sendBuf.length).toBe(0);
}

/** Data segments in `segs` sent at or after `t0` and before `t1`. */
const dataBetween = (segs: Seg[], t0: number, t1: number) => segs.filter((x) => x.data.length > 0 && x.t >= t0 && x.t < t1);

describe('initial window (RFC 6928)', () => {
  it('a new connection starts with cwnd = 10 · MSS and its first flight is exactly 10 full segments', async () => {
    const p = makePair({ faults: { delayMs: D } });
    const { c } = await connected(p);
    const ep = c.ep!;
    expect(ep.cwnd).toBe(10 * ep.mss);
    const outA = tcpSniff(p.a);
    const inA = tcpSniff(p.a, 'in');
    const t0 = p.rt.clock.now();
    c.write(pattern(200_000));
    await runUntil(p.rt, () => inA.length > 0, 1000);
    const firstAck = inA[0]!.t;
    expect(firstAck - t0).toBe(2 * D);
    const flight = dataBetween(outA, t0, firstAck);
    expect(flight).toHaveLength(10);
    for (const x of flight) expect(x.data.length).toBe(ep.mss);
    expect(flight.every((x) => x.t === t0)).toBe(true);
  });
});

describe('restart after idle (RFC 5681 §4.1; Linux tcp_slow_start_after_idle = 1, tcp_cwnd_restart)', () => {
  /** A connection whose cwnd grew well past the initial window, all data acknowledged. */
  async function grown(congestion?: 'reno' | 'cubic'): Promise<{ p: Pair; c: TcpSocket; ep: TcpEndpoint }> {
    const p = makePair({ faults: { delayMs: D } });
    const { c } = await connected(p, congestion);
    await bulk(p, c, 2_000_000);
    const ep = c.ep!;
    expect(ep.cwnd).toBeGreaterThan(4 * INITIAL_WINDOW_SEGMENTS * ep.mss);
    return { p, c, ep };
  }

  it('after an idle time of many RTOs cwnd is back to the initial window, and so is the first burst', async () => {
    const { p, c, ep } = await grown('reno');
    const before = ep.cwnd;
    const ssthreshBefore = ep.ssthresh;
    await runUntil(p.rt, () => false, 10_000, 100);
    const outA = tcpSniff(p.a);
    const inA = tcpSniff(p.a, 'in');
    const t0 = p.rt.clock.now();
    c.write(pattern(500_000, 1));
    await runUntil(p.rt, () => ep.flight > 0, 10);
    expect(ep.cwnd).toBe(INITIAL_WINDOW_SEGMENTS * ep.mss);
    await runUntil(p.rt, () => inA.length > 0, 1000);
    expect(dataBetween(outA, t0, inA[0]!.t)).toHaveLength(INITIAL_WINDOW_SEGMENTS);
    // tcp_current_ssthresh: 3/4 of the cwnd given up, so slow start climbs back to it.
    expect(ep.ssthresh).toBe(Math.max(ssthreshBefore, Math.floor(before / 2) + Math.floor(before / 4)));
  });

  it('cwnd halves once for every RTO of idleness, no further than the initial window', async () => {
    const { p, c, ep } = await grown('reno');
    const before = ep.cwnd;
    const rto = ep.rtt.rto;
    // Idle for 1.5 RTO since the last data segment: one halving.
    p.rt.advance(ep.lastSend + Math.floor(1.5 * rto) - p.rt.clock.now());
    c.write(pattern(1000, 2));
    await runUntil(p.rt, () => ep.flight > 0, 10);
    expect(ep.cwnd).toBe(Math.max(Math.floor(before / 2), INITIAL_WINDOW_SEGMENTS * ep.mss));
    expect(ep.cwnd).toBeLessThan(before);
    // Idle for exactly one RTO: no restart at all (Linux: delta > icsk_rto).
    await runUntil(p.rt, () => ep.flight === 0, 1000);
    const now = ep.cwnd;
    p.rt.advance(ep.lastSend + ep.rtt.rto - p.rt.clock.now());
    c.write(pattern(1000, 3));
    await runUntil(p.rt, () => ep.flight > 0, 10);
    expect(ep.cwnd).toBe(now);
  });

  it('CUBIC: the first segment after a pause shifts the epoch by the idle time (Linux cubictcp_cwnd_event, CA_EVENT_TX_START)', async () => {
    const p = makePair({ faults: { delayMs: D } });
    const { c } = await connected(p, 'cubic');
    const ep = c.ep!;
    ep.ssthresh = ep.cwnd; // congestion avoidance from the start: CUBIC's epoch begins with the first ACK
    await bulk(p, c, 500_000);
    const cubic = ep.cc as Cubic;
    const epoch = cubic.epoch;
    expect(epoch).toBeGreaterThanOrEqual(0);
    // A pause shorter than the RTO: no cwnd restart, but the curve must not run on.
    await runUntil(p.rt, () => false, 150, 10);
    const idle = p.rt.clock.now() - ep.lastSend;
    expect(idle).toBeLessThan(ep.rtt.rto);
    const cwnd = ep.cwnd;
    c.write(pattern(1000, 4));
    await runUntil(p.rt, () => ep.flight > 0, 10);
    expect(ep.cwnd).toBe(cwnd);
    expect(cubic.epoch).toBe(epoch + idle);
  });
});

describe('cwnd grows only when it is used (Linux tcp_is_cwnd_limited, RFC 9438 §5.8)', () => {
  it('1 KB request/response every 50 ms for 10 s leaves cwnd at the initial window on both sides; a bulk transfer then grows it', async () => {
    const p = makePair({ faults: { delayMs: 1 } });
    const socks = serve(p, 80);
    const c = p.a.connect({ port: 80, host: '10.0.0.2' });
    errorCodes(c);
    await runUntil(p.rt, () => socks.length === 1 && !c.connecting, 1000);
    const s = socks[0]!;
    let request = 0;
    s.on('data', (d: Buffer) => {
      request += d.length;
      while (request >= 1000) {
        request -= 1000;
        s.write(pattern(1000, 5)); // the response
      }
    });
    let answered = 0;
    c.on('data', (d: Buffer) => (answered += d.length));
    const ca = c.ep!;
    const sa = s.ep!;
    const iw = INITIAL_WINDOW_SEGMENTS * ca.mss;
    for (let i = 1; i <= 200; i++) {
      c.write(pattern(1000, 6));
      await runUntil(p.rt, () => answered === 1000 * i, 100);
      expect(answered).toBe(1000 * i);
      await runUntil(p.rt, () => false, 50, 5);
    }
    // 200 ACKs of new data each way: without the check slow start would have added
    // 1000 bytes for every one of them.
    expect(ca.cwnd).toBe(iw);
    expect(sa.cwnd).toBe(INITIAL_WINDOW_SEGMENTS * sa.mss);
    expect(ca.isCwndLimited()).toBe(false);
    // The same connection moving bulk data fills cwnd, and cwnd grows.
    s.removeAllListeners('data');
    s.resume();
    await bulk(p, c, 1_000_000);
    expect(ca.cwnd).toBeGreaterThan(4 * iw);
  });
});

describe('fast recovery entry (RFC 5681 §3.2, RFC 6582, RFC 6675 §5)', () => {
  const MSS = 1000;

  /** B (Reno) serving RawPeer with MSS 1000; B writes `n` bytes; returns B's endpoint and its first flight. */
  async function setup(sack: boolean, n = 30_000): Promise<{ p: Pair; peer: RawPeer; ep: TcpEndpoint; data: () => Seg[] }> {
    const p = makePair();
    const socks = serve(p, 80, { congestion: 'reno' });
    const peer = new RawPeer(p);
    const ep = peer.connect(80, { mss: MSS, sackPermitted: sack });
    await runUntil(p.rt, () => socks.length === 1, 100);
    expect(ep.mss).toBe(MSS);
    expect(ep.sackOk).toBe(sack);
    const from = peer.seen.length;
    socks[0]!.write(pattern(n, 7));
    await runUntil(p.rt, () => false, 1);
    const data = () => peer.since(from).filter((x) => x.data.length > 0);
    expect(data()).toHaveLength(INITIAL_WINDOW_SEGMENTS);
    return { p, peer, ep, data };
  }

  it('NewReno: the third duplicate sets ssthresh from FlightSize without Limited Transmit, cwnd = ssthresh + 3·SMSS; each further duplicate adds an SMSS; the full ACK deflates to ssthresh', async () => {
    const { peer, ep, data } = await setup(false);
    const una = ep.sndUna;
    const seg = (i: number) => (una + i * MSS) >>> 0; // the i-th segment's sequence number, from 0
    const dup = () => peer.send(80, { flags: TCP_ACK }); // ACK = SND.UNA, the window unchanged: segment 0 was lost
    // Duplicates 1 and 2: Limited Transmit sends one new segment each (RFC 3042).
    dup();
    dup();
    expect(data().slice(10).map((x) => x.seq)).toEqual([seg(10), seg(11)]);
    expect(ep.inRecovery).toBe(false);
    // The third: fast retransmit of segment 0. FlightSize is 10 segments, not 12.
    dup();
    expect(ep.inRecovery).toBe(true);
    expect(ep.ssthresh).toBe(5 * MSS);
    expect(ep.cwnd).toBe(ep.ssthresh + 3 * MSS);
    expect(data().slice(12).map((x) => x.seq)).toEqual([seg(0)]);
    expect(ep.proto.net.tcp.TcpExtTCPRenoRecovery).toBe(1);
    // 12 segments outstanding; cwnd = 8 + one per duplicate: new data only once it passes 12.
    for (let d = 4; d <= 7; d++) {
      dup();
      expect(ep.cwnd).toBe(5 * MSS + d * MSS);
      expect(data()).toHaveLength(13);
    }
    for (let d = 8; d <= 11; d++) {
      dup();
      expect(data().slice(13).map((x) => x.seq)).toEqual(Array.from({ length: d - 7 }, (_, i) => seg(12 + i)));
    }
    // Segment 0 arrives: the ACK covers all that was outstanding when recovery began (full ACK).
    peer.send(80, { flags: TCP_ACK, ack: seg(12) });
    expect(ep.inRecovery).toBe(false);
    expect(ep.cwnd).toBe(ep.ssthresh); // min(ssthresh, FlightSize + SMSS) = min(5, 4 + 1) segments
  });

  it('SACK: cwnd = ssthresh at entry — the pipe, not inflation, accounts for what left the network', async () => {
    const { peer, ep, data } = await setup(true);
    const una = ep.sndUna;
    const seg = (i: number) => (una + i * MSS) >>> 0;
    for (let k = 1; k <= 3; k++) peer.send(80, { flags: TCP_ACK, options: { sack: [[seg(1), seg(1 + k)]] } });
    expect(ep.inRecovery).toBe(true);
    expect(ep.ssthresh).toBe(5 * MSS); // FlightSize 10 segments: the two Limited Transmit sent are left out
    expect(ep.cwnd).toBe(ep.ssthresh);
    expect(data().slice(10).map((x) => x.seq)).toEqual([seg(10), seg(11), seg(0)]);
  });
});
