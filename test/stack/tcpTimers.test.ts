// TCP timers on the virtual clock, observed as segments on the wire: the
// retransmission timer with exponential back-off (RFC 6298 §5.5) for a SYN
// and for data, giving up with ETIMEDOUT; the RTT estimate it rests on (RFC
// 6298 §2, Karn's rule §3); TIME-WAIT (2 MSL) and the FIN-WAIT-2 timeout of
// an orphan; zero-window probes (RFC 9293 §3.8.6.1), given up only when
// nobody answers them (Linux tcp_probe_timer); keepalive (RFC 1122
// §4.2.3.6) in every state Linux runs it, never with data outstanding;
// delayed ACKs (RFC 1122 §4.2.3.2).
import { describe, expect, it } from 'vitest';
import type { TcpSocket } from '../../src/socket/tcpSocket.js';
import type { TcpEndpoint } from '../../src/tcp/endpoint.js';
import { TCP_RTO_MAX } from '../../src/tcp/rtt.js';
import { TcpState } from '../../src/tcp/state.js';
import { TCP_ACK, TCP_FIN, TCP_RST } from '../../src/wire/tcp.js';
import { expectNoLeaks, makePair, runUntil, type Pair } from '../helpers/pair.js';
import { errorCodes, isFin, isPureAck, isSyn, pattern, RawPeer, serve, sha256, tcpBlackhole, tcpFrameToA, tcpSniff, type Seg } from '../helpers/tcp.js';

/** The virtual time at which an endpoint gives up (its fail() call). */
function failTime(ep: TcpEndpoint, p: Pair): { t: number } {
  const r = { t: 0 };
  const fail = ep.fail.bind(ep);
  ep.fail = (code: string) => {
    r.t = p.rt.clock.now();
    fail(code);
  };
  return r;
}

function gaps(ts: number[]): number[] {
  return ts.slice(1).map((t, i) => t - ts[i]!);
}

/** A connected client on A and its server socket on B. */
async function connected(p: Pair, opts: Parameters<typeof serve>[2] = {}): Promise<{ c: TcpSocket; s: TcpSocket; ce: Array<string | undefined> }> {
  const socks = serve(p, 80, opts);
  const c = p.a.connect({ port: 80, host: '10.0.0.2', allowHalfOpen: true });
  const ce = errorCodes(c);
  await runUntil(p.rt, () => socks.length === 1 && !c.connecting, 1000);
  return { c, s: socks[0]!, ce };
}

describe('retransmission timeout', () => {
  it('a SYN to a host that never answers is resent after 1, 2, 4, … 32 s, then ETIMEDOUT at 127 s (tcp_syn_retries = 6)', async () => {
    const p = makePair();
    tcpBlackhole(p, 0);
    const sniffA = tcpSniff(p.a);
    const t0 = p.rt.clock.now();
    const c = p.a.connect(80, '10.0.0.2');
    const e = errorCodes(c);
    const failed = failTime(c.ep!, p);
    await runUntil(p.rt, () => e.length > 0, 200_000, 1000);
    const syns = sniffA.filter(isSyn);
    expect(syns.map((s) => s.t - t0)).toEqual([0, 1000, 3000, 7000, 15_000, 31_000, 63_000]);
    expect(new Set(syns.map((s) => s.seq)).size).toBe(1);
    expect(e).toEqual(['ETIMEDOUT']);
    expect(failed.t - t0).toBe(127_000);
    expect(p.a.net.tcp.TcpExtTCPSynRetrans).toBe(6);
    expect(p.a.net.tcp.TcpAttemptFails).toBe(1);
    expect(p.a.tcp.endpoints.size).toBe(0);
  });

  it('data to a peer gone silent is resent at doubling intervals up to TCP_RTO_MAX, then ETIMEDOUT after tcp_retries2 = 15', async () => {
    const p = makePair();
    const { c, ce } = await connected(p);
    const ep = c.ep!;
    const hole = tcpBlackhole(p, 0);
    const rto = ep.rtt.rto;
    expect(rto).toBe(200); // TCP_RTO_MIN: the link has no delay
    const sniffA = tcpSniff(p.a);
    const t0 = p.rt.clock.now();
    c.write(pattern(1000));
    const failed = failTime(ep, p);
    await runUntil(p.rt, () => ce.length > 0, 2_000_000, 1000);
    const sends = sniffA.filter((s) => s.data.length > 0).map((s) => s.t);
    expect(sends[0]).toBe(t0);
    expect(sends).toHaveLength(16); // the original and 15 retransmissions
    const want = Array.from({ length: 15 }, (_, i) => Math.min(TCP_RTO_MAX, rto * 2 ** i));
    expect(gaps(sends)).toEqual(want);
    expect(failed.t - sends[15]!).toBe(TCP_RTO_MAX);
    expect(ce).toEqual(['ETIMEDOUT']);
    expect(p.a.net.tcp.TcpExtTCPAbortOnTimeout).toBe(1);
    expect(p.a.net.tcp.TcpExtTCPTimeouts).toBe(15);
    expect(sniffA.some((s) => s.flags & TCP_RST)).toBe(false); // giving up sends no RST (Linux tcp_write_err)
    expect(p.a.tcp.endpoints.size).toBe(0);
    expect(hole.lost).toBe(16);
  });

  it('after a timeout the connection recovers as soon as the path does, and back-off resets', async () => {
    const p = makePair();
    const { c, s } = await connected(p);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    const hole = tcpBlackhole(p, 0);
    c.write(pattern(20_000));
    await runUntil(p.rt, () => c.ep!.backoff === 4, 10_000, 10);
    hole.on = false;
    await runUntil(p.rt, () => Buffer.concat(got).length === 20_000, 10_000, 10);
    expect(sha256(Buffer.concat(got))).toBe(sha256(pattern(20_000)));
    expect(c.ep!.backoff).toBe(0);
  });
});

describe('RTT estimation (RFC 6298)', () => {
  for (const d of [10, 60, 150]) {
    it(`after a transfer over a link with ${d} ms each way, SRTT is the round trip (${2 * d} ms) and RTTVAR small`, async () => {
      const p = makePair({ faults: { delayMs: d } });
      const { c, s } = await connected(p);
      s.resume();
      const ep = c.ep!;
      expect(ep.tsOk).toBe(true); // every ACK of new data is a sample (RFC 7323 §4.1)
      c.write(pattern(1_000_000));
      await runUntil(p.rt, () => ep.sendBuf.length === 0, 600_000, 5);
      expect(ep.rtt.samples).toBeGreaterThan(100);
      // The link adds 2d and nothing else takes time (no serialization delay; the
      // receiver ACKs every second segment at once, and the short last one too), so
      // every sample is 2d: SRTT converges on it, RTTVAR decays from d towards 0
      // (RFC 6298 §2.3), and the RTO is SRTT + max(G, 4·RTTVAR), at least 200 ms.
      expect(ep.rtt.latest).toBe(2 * d);
      expect(ep.rtt.srtt).toBeGreaterThan(2 * d - 0.01);
      expect(ep.rtt.srtt).toBeLessThan(2 * d + 1);
      expect(ep.rtt.rttvar).toBeLessThan(0.25);
      expect(ep.rtt.rto).toBeGreaterThanOrEqual(Math.max(200, 2 * d + 1) - 0.01);
      expect(ep.rtt.rto).toBeLessThanOrEqual(Math.max(200, 2 * d + 2));
    });
  }

  /** B serving RawPeer without timestamps (so it times one segment at a time); B's first data segment. */
  async function timedSender(): Promise<{ p: Pair; peer: RawPeer; ep: TcpEndpoint; s: TcpSocket; data: () => Seg[] }> {
    const p = makePair();
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80, { mss: 1000 });
    await runUntil(p.rt, () => socks.length === 1, 100);
    expect(ep.tsOk).toBe(false);
    expect(ep.rtt.samples).toBe(0); // the passive side takes none from the handshake
    const from = peer.seen.length;
    return { p, peer, ep, s: socks[0]!, data: () => peer.since(from).filter((x) => x.data.length > 0) };
  }

  it("Karn's algorithm: the ACK of a segment retransmitted by the RTO gives no sample; the next segment sent once does", async () => {
    const { p, peer, ep, s, data } = await timedSender();
    s.write(pattern(100));
    await runUntil(p.rt, () => data().length === 2, 5000);
    const [first, again] = data();
    expect(again!.seq).toBe(first!.seq);
    expect(again!.t - first!.t).toBe(1000); // the initial RTO (RFC 6298 §2.1)
    // The ACK comes 50 ms after the retransmission: it may answer either copy.
    p.rt.advance(50);
    peer.send(80, { flags: TCP_ACK, ack: (first!.seq + 100) >>> 0 });
    expect(ep.flight).toBe(0);
    expect(ep.rtt.samples).toBe(0);
    expect(ep.rtt.srtt).toBe(0);
    // A segment that is not retransmitted is timed: a sample of exactly 30 ms.
    s.write(pattern(100, 1));
    await runUntil(p.rt, () => data().length === 3, 100);
    p.rt.advance(30);
    peer.send(80, { flags: TCP_ACK, ack: (first!.seq + 200) >>> 0 });
    expect(ep.rtt.samples).toBe(1);
    expect(ep.rtt.srtt).toBe(30);
  });

  it("Karn's algorithm: a fast retransmission of the timed segment cancels its measurement", async () => {
    const { p, peer, ep, s, data } = await timedSender();
    s.write(pattern(10_000, 2));
    await runUntil(p.rt, () => data().length === 10, 100);
    const una = ep.sndUna;
    p.rt.advance(20);
    for (let i = 0; i < 3; i++) peer.send(80, { flags: TCP_ACK }); // segment 0, the timed one, lost
    expect(ep.inRecovery).toBe(true);
    expect(data().filter((x) => x.seq === una)).toHaveLength(2);
    p.rt.advance(20);
    peer.send(80, { flags: TCP_ACK, ack: ep.sndMax });
    expect(ep.inRecovery).toBe(false);
    expect(ep.rtt.samples).toBe(0);
  });
});

describe('TIME-WAIT and FIN-WAIT-2', () => {
  it('TIME-WAIT lasts exactly timeWaitMs, then the endpoint and every buffer are gone', async () => {
    const p = makePair();
    p.a.tcp.config.timeWaitMs = 5000;
    const { c, s } = await connected(p);
    s.resume();
    c.resume();
    const ep = c.ep!;
    const inA = tcpSniff(p.a, 'in');
    s.on('end', () => s.end());
    c.end();
    await runUntil(p.rt, () => ep.state === TcpState.TimeWait, 100);
    const finAt = inA.filter(isFin)[0]!.t;
    expect(p.b.tcp.endpoints.size).toBe(0);
    p.rt.advance(finAt + 4999 - p.rt.clock.now());
    expect(ep.state).toBe(TcpState.TimeWait);
    expect(p.a.tcp.endpoints.size).toBe(1);
    p.rt.advance(1);
    expect(ep.state).toBe(TcpState.Close);
    expect(p.a.tcp.endpoints.size).toBe(0);
    expectNoLeaks(p.a, p.b);
  });

  it('a retransmitted FIN in TIME-WAIT is ACKed again and restarts the 2 MSL timer', async () => {
    const p = makePair();
    p.a.tcp.config.timeWaitMs = 5000;
    const { c, s } = await connected(p);
    s.resume();
    c.resume();
    const ep = c.ep!;
    const inA = tcpSniff(p.a, 'in');
    const outA = tcpSniff(p.a);
    s.on('end', () => s.end());
    c.end();
    await runUntil(p.rt, () => ep.state === TcpState.TimeWait, 100);
    const fin = inA.filter(isFin)[0]!;
    p.rt.advance(3000);
    tcpBlackhole(p, 1); // B, long closed, would answer A's ACK with a RST, which ends TIME-WAIT (tcp_rfc1337 = 0)
    const n = outA.length;
    p.link.inject(0, tcpFrameToA({ sport: fin.sport, dport: fin.dport, seq: fin.seq, ack: fin.ack, flags: TCP_FIN | TCP_ACK, options: fin.opts.timestamps ? { timestamps: true, tsVal: fin.opts.tsVal + 1, tsEcr: fin.opts.tsEcr } : undefined }));
    p.rt.run();
    const resent = outA.slice(n);
    expect(resent).toHaveLength(1);
    expect(isPureAck(resent[0]!)).toBe(true);
    expect(resent[0]!.ack).toBe(fin.seq + 1);
    const restartedAt = p.rt.clock.now();
    p.rt.advance(restartedAt + 4999 - p.rt.clock.now());
    expect(ep.state).toBe(TcpState.TimeWait);
    p.rt.advance(1);
    expect(ep.state).toBe(TcpState.Close);
    expectNoLeaks(p.a);
  });

  it('an orphan in FIN-WAIT-2 is dropped after finTimeoutMs (tcp_fin_timeout)', async () => {
    const p = makePair();
    p.a.tcp.config.finTimeoutMs = 4000;
    const { c, s } = await connected(p);
    s.resume();
    const ep = c.ep!;
    c.end();
    await runUntil(p.rt, () => ep.state === TcpState.FinWait2, 100);
    // Not yet an orphan: FIN-WAIT-2 waits for the peer as long as it takes.
    await runUntil(p.rt, () => false, 10_000, 100);
    expect(ep.state).toBe(TcpState.FinWait2);
    c.destroy();
    await runUntil(p.rt, () => c.destroyed, 10);
    const t0 = p.rt.clock.now();
    expect(ep.orphan).toBe(true);
    p.rt.advance(3999);
    expect(ep.state).toBe(TcpState.FinWait2);
    p.rt.advance(1);
    expect(ep.state).toBe(TcpState.Close);
    expect(p.rt.clock.now() - t0).toBe(4000);
    expect(p.a.tcp.endpoints.size).toBe(0);
    expectNoLeaks(p.a);
  });

  it('an orphan closed in FIN-WAIT-1 starts its FIN-WAIT-2 timeout when its FIN is ACKed', async () => {
    const p = makePair({ faults: { delayMs: 10 } });
    p.a.tcp.config.finTimeoutMs = 4000;
    const { c, s } = await connected(p);
    s.resume();
    const ep = c.ep!;
    const inA = tcpSniff(p.a, 'in');
    c.destroy(); // close() with nothing unread: FIN, and the socket is gone
    await runUntil(p.rt, () => ep.state === TcpState.FinWait2, 100);
    const ackAt = inA[inA.length - 1]!.t;
    p.rt.advance(ackAt + 3999 - p.rt.clock.now());
    expect(ep.state).toBe(TcpState.FinWait2);
    p.rt.advance(1);
    expect(ep.state).toBe(TcpState.Close);
  });
});

describe('zero-window probes (persist timer)', () => {
  it('a sender facing a zero window probes at growing intervals and resumes when the reader reads', async () => {
    const p = makePair();
    const { c, s } = await connected(p, { rcvBuf: 4096 });
    const ep = c.ep!;
    const sniffA = tcpSniff(p.a);
    const body = pattern(100_000, 4);
    c.end(body);
    await runUntil(p.rt, () => ep.sndWnd === 0 && ep.flight === 0, 1000);
    expect(ep.sndWnd).toBe(0);
    const sentBefore = sniffA.filter((x) => x.data.length > 0).length;
    await runUntil(p.rt, () => false, 60_000, 100);
    const probes = sniffA.filter((x) => isPureAck(x) && x.seq === ((ep.sndUna - 1) >>> 0));
    expect(probes.length).toBeGreaterThanOrEqual(6);
    expect(p.a.net.tcp.TcpExtTCPWinProbe).toBe(probes.length);
    const g = gaps(probes.map((x) => x.t));
    for (let i = 1; i < g.length; i++) expect(g[i]).toBe(Math.min(TCP_RTO_MAX, 2 * g[i - 1]!));
    // No data went out meanwhile: the window stayed closed.
    expect(sniffA.filter((x) => x.data.length > 0).length).toBe(sentBefore);
    // The reader starts reading: the window opens and everything arrives.
    const got: Buffer[] = [];
    let ended = false;
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => (ended = true));
    await runUntil(p.rt, () => ended, 10_000, 10);
    expect(sha256(Buffer.concat(got))).toBe(sha256(body));
  });

  it('a lost window update is recovered by the next probe', async () => {
    const p = makePair();
    const { c, s } = await connected(p, { rcvBuf: 4096 });
    const ep = c.ep!;
    c.end(pattern(50_000, 6));
    await runUntil(p.rt, () => ep.sndWnd === 0 && ep.flight === 0, 1000);
    const back = tcpBlackhole(p, 1);
    const got: Buffer[] = [];
    let ended = false;
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => (ended = true));
    await runUntil(p.rt, () => back.lost > 0, 1000);
    expect(back.lost).toBe(1); // the window update
    back.on = false;
    const probes = p.a.net.tcp.TcpExtTCPWinProbe;
    await runUntil(p.rt, () => ended, 30_000, 10);
    expect(p.a.net.tcp.TcpExtTCPWinProbe).toBe(probes + 1);
    expect(sha256(Buffer.concat(got))).toBe(sha256(pattern(50_000, 6)));
  });

  it('the probe back-off ends when the window opens: lost data after it is resent after one RTO', async () => {
    const p = makePair();
    const { c, s } = await connected(p, { rcvBuf: 4096 });
    const ep = c.ep!;
    c.write(pattern(30_000, 8));
    await runUntil(p.rt, () => p.a.net.tcp.TcpExtTCPWinProbe >= 5, 60_000, 10);
    expect(ep.backoff).toBeGreaterThanOrEqual(5);
    const sniffA = tcpSniff(p.a);
    const hole = tcpBlackhole(p, 0, false);
    s.once('data', () => (hole.on = true)); // the window update gets through, the data after it does not
    s.resume();
    const rtx = () => {
      const sent = sniffA.filter((x) => x.data.length > 0);
      return sent.slice(1).find((x) => x.seq === sent[0]!.seq);
    };
    await runUntil(p.rt, () => rtx() !== undefined, 10_000, 1);
    expect(hole.lost).toBeGreaterThan(0);
    expect(rtx()!.t - sniffA.filter((x) => x.data.length > 0)[0]!.t).toBe(ep.rtt.rto);
  });
});

describe('zero-window probes: giving up (Linux tcp_probe_timer)', () => {
  const isZwp = (x: Seg, una: number) => isPureAck(x) && x.seq === ((una - 1) >>> 0);

  /** A's client facing B's closed 4 KB window, nothing in flight, no probe sent yet. */
  async function zeroWindow(p: Pair): Promise<{ c: TcpSocket; ce: Array<string | undefined>; ep: TcpEndpoint }> {
    const { c, ce } = await connected(p, { rcvBuf: 4096 });
    const ep = c.ep!;
    c.write(pattern(100_000, 9));
    await runUntil(p.rt, () => ep.sndWnd === 0 && ep.flight === 0, 1000);
    expect(p.a.net.tcp.TcpExtTCPWinProbe).toBe(0);
    return { c, ce, ep };
  }

  it('a peer that answers no probe is given up after tcp_retries2 = 15 of them with ETIMEDOUT, no RST', async () => {
    const p = makePair();
    const { ce, ep } = await zeroWindow(p);
    const sniffA = tcpSniff(p.a);
    tcpBlackhole(p, 1); // B (and its window updates, and its answers) are never heard again
    const failed = failTime(ep, p);
    await runUntil(p.rt, () => ce.length > 0, 4_000_000, 1000);
    const probes = sniffA.filter((x) => isZwp(x, ep.sndUna));
    expect(probes).toHaveLength(15);
    expect(sniffA).toHaveLength(15); // nothing else: no data, no RST (Linux tcp_write_err)
    // The probes back off as ever (max(RTO, 200 ms) · 2^n, at most TCP_RTO_MAX); the 16th
    // expiry, instead of probing, gives up.
    const g = gaps(probes.map((x) => x.t));
    for (let i = 1; i < g.length; i++) expect(g[i]).toBe(Math.min(TCP_RTO_MAX, 2 * g[i - 1]!));
    expect(failed.t - probes[14]!.t).toBe(TCP_RTO_MAX);
    expect(ce).toEqual(['ETIMEDOUT']);
    expect(p.a.net.tcp.TcpExtTCPAbortOnTimeout).toBe(1);
    expect(p.a.net.tcp.TcpExtTCPWinProbe).toBe(15);
    expect(p.a.tcp.endpoints.size).toBe(0);
  });

  it('an orphan (closed by the application) is given up after 8 unanswered probes (tcp_orphan_retries)', async () => {
    const p = makePair();
    const { c, ep } = await zeroWindow(p);
    tcpBlackhole(p, 1);
    c.destroy(); // close(): a FIN is queued behind the data the window holds back
    await runUntil(p.rt, () => c.destroyed, 10);
    expect(ep.orphan).toBe(true);
    await runUntil(p.rt, () => ep.state === TcpState.Close, 4_000_000, 1000);
    expect(ep.state).toBe(TcpState.Close);
    expect(p.a.net.tcp.TcpExtTCPWinProbe).toBe(8);
    expect(p.a.net.tcp.TcpExtTCPAbortOnTimeout).toBe(1);
  });

  it('a peer that answers every probe with a zero window keeps the connection open indefinitely (RFC 1122 §4.2.2.17)', async () => {
    const p = makePair();
    const { ce, ep } = await zeroWindow(p);
    const sniffA = tcpSniff(p.a);
    await runUntil(p.rt, () => false, 3_600_000, 1000); // an hour
    const probes = sniffA.filter((x) => isZwp(x, ep.sndUna));
    expect(probes.length).toBeGreaterThan(30); // twice tcp_retries2 and more
    expect(gaps(probes.map((x) => x.t)).slice(-5)).toEqual(Array(5).fill(TCP_RTO_MAX));
    expect(ep.state).toBe(TcpState.Established);
    expect(ep.probesOut).toBe(0); // each answer clears the count
    expect(ce).toEqual([]);
    expect(p.a.net.tcp.TcpExtTCPAbortOnTimeout).toBe(0);
  });
});

describe('keepalive', () => {
  const isProbe = (x: Seg, una: number) => isPureAck(x) && x.seq === ((una - 1) >>> 0);

  it('probes after the idle time, every keepalive interval while the peer answers, and the connection stays', async () => {
    const p = makePair();
    const { c, ce } = await connected(p);
    const ep = c.ep!;
    const sniffA = tcpSniff(p.a);
    const t0 = ep.lastRecv;
    c.setKeepAlive(true, 1000);
    await runUntil(p.rt, () => false, 600_000, 1000);
    const probes = sniffA.filter((x) => isProbe(x, ep.sndUna));
    expect(probes[0]!.t - t0).toBe(1000);
    expect(probes).toHaveLength(8); // 1 s, then every 75 s (tcp_keepalive_intvl) up to 600 s
    for (const g of gaps(probes.map((x) => x.t))) expect(g).toBe(75_000);
    expect(ep.state).toBe(TcpState.Established);
    expect(ce).toEqual([]);
    expect(p.a.net.tcp.TcpExtTCPKeepAlive).toBe(8);
  });

  it('a silent peer is given up after 9 unanswered probes with ETIMEDOUT', async () => {
    const p = makePair();
    const { c, ce } = await connected(p);
    const ep = c.ep!;
    const sniffA = tcpSniff(p.a);
    tcpBlackhole(p, 0);
    const t0 = ep.lastRecv;
    c.setKeepAlive(true, 1000);
    const failed = failTime(ep, p);
    await runUntil(p.rt, () => ce.length > 0, 1_000_000, 1000);
    const probes = sniffA.filter((x) => isProbe(x, ep.sndUna));
    expect(probes).toHaveLength(9);
    expect(probes.map((x) => x.t - t0)).toEqual(Array.from({ length: 9 }, (_, i) => 1000 + 75_000 * i));
    expect(failed.t - t0).toBe(1000 + 9 * 75_000);
    expect(ce).toEqual(['ETIMEDOUT']);
    const last = sniffA[sniffA.length - 1]!;
    expect(last.flags & TCP_RST).toBeTruthy(); // Linux resets as it gives up on keepalive
    expect(last.t).toBe(failed.t);
    expect(p.a.tcp.endpoints.size).toBe(0);
  });

  it('traffic postpones the first probe', async () => {
    const p = makePair();
    const { c, s } = await connected(p);
    s.resume();
    const sniffA = tcpSniff(p.a);
    c.setKeepAlive(true, 1000);
    for (let i = 0; i < 5; i++) {
      await runUntil(p.rt, () => false, 500, 100);
      s.write('x');
    }
    expect(sniffA.filter((x) => isProbe(x, c.ep!.sndUna))).toHaveLength(0);
    await runUntil(p.rt, () => false, 1100, 100);
    expect(sniffA.filter((x) => isProbe(x, c.ep!.sndUna))).toHaveLength(1);
  });
});

describe('keepalive: states and outstanding data (Linux tcp_keepalive_timer)', () => {
  const isProbe = (x: Seg, una: number) => isPureAck(x) && x.seq === ((una - 1) >>> 0);

  it('in CLOSE-WAIT: turned on after the peer closed, it probes, and a silent peer is given up', async () => {
    const p = makePair();
    const { c, s, ce } = await connected(p);
    c.resume();
    const ep = c.ep!;
    s.end(); // B half-closes: A is in CLOSE-WAIT, B in FIN-WAIT-2
    await runUntil(p.rt, () => ep.state === TcpState.CloseWait, 100);
    const sniffA = tcpSniff(p.a);
    const t0 = ep.lastRecv;
    c.setKeepAlive(true, 1000);
    await runUntil(p.rt, () => sniffA.some((x) => isProbe(x, ep.sndUna)), 5000, 100);
    expect(sniffA.filter((x) => isProbe(x, ep.sndUna)).map((x) => x.t - t0)).toEqual([1000]);
    expect(ep.lastRecv).toBeGreaterThan(t0); // B answered (an ACK for an old sequence number)
    tcpBlackhole(p, 0);
    await runUntil(p.rt, () => ce.length > 0, 1_000_000, 1000);
    expect(ce).toEqual(['ETIMEDOUT']);
    expect(sniffA.filter((x) => isProbe(x, ep.sndUna))).toHaveLength(1 + 9);
  });

  it('in FIN-WAIT-2 (the socket still open): probes, and a silent peer is given up', async () => {
    const p = makePair();
    const { c, ce } = await connected(p);
    const ep = c.ep!;
    c.end(); // B never closes its half
    await runUntil(p.rt, () => ep.state === TcpState.FinWait2, 100);
    const sniffA = tcpSniff(p.a);
    c.setKeepAlive(true, 1000);
    tcpBlackhole(p, 0);
    const t0 = ep.lastRecv;
    await runUntil(p.rt, () => ce.length > 0, 1_000_000, 1000);
    const probes = sniffA.filter((x) => isProbe(x, ep.sndUna));
    expect(probes.map((x) => x.t - t0)).toEqual(Array.from({ length: 9 }, (_, i) => 1000 + 75_000 * i));
    expect(ce).toEqual(['ETIMEDOUT']);
  });

  it('no probe while data is in flight: the retransmission timer watches the peer then', async () => {
    const p = makePair();
    const { c, s } = await connected(p);
    const ep = c.ep!;
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    c.setKeepAlive(true, 1000);
    const sniffA = tcpSniff(p.a);
    const hole = tcpBlackhole(p, 0);
    c.write(pattern(5000, 3));
    await runUntil(p.rt, () => false, 30_000, 100);
    expect(ep.flight).toBeGreaterThan(0);
    expect(ep.backoff).toBeGreaterThan(3);
    expect(p.a.net.tcp.TcpExtTCPKeepAlive).toBe(0);
    expect(sniffA.filter((x) => isProbe(x, ep.sndUna))).toHaveLength(0);
    // The path heals, the data is acknowledged, and keepalive takes over again one idle time later.
    hole.on = false;
    await runUntil(p.rt, () => ep.flight === 0 && ep.sendBuf.length === 0, 200_000, 100);
    const quiet = ep.lastRecv;
    await runUntil(p.rt, () => p.a.net.tcp.TcpExtTCPKeepAlive > 0, 10_000, 100);
    const probe = sniffA.filter((x) => isProbe(x, ep.sndUna))[0]!;
    expect(probe.t - quiet).toBeGreaterThanOrEqual(1000);
    expect(probe.t - quiet).toBeLessThan(2100);
    expect(Buffer.concat(got).length).toBe(5000);
  });

  it('no probe while data waits for a zero window: the persist timer probes instead', async () => {
    const p = makePair();
    const { c, ce } = await connected(p, { rcvBuf: 4096 });
    const ep = c.ep!;
    c.setKeepAlive(true, 1000);
    c.write(pattern(50_000, 4));
    await runUntil(p.rt, () => false, 120_000, 100);
    expect(ep.sndWnd).toBe(0);
    expect(p.a.net.tcp.TcpExtTCPWinProbe).toBeGreaterThan(5);
    expect(p.a.net.tcp.TcpExtTCPKeepAlive).toBe(0);
    expect(ce).toEqual([]);
  });
});

describe('delayed ACK', () => {
  it('one full segment is ACKed 40 ms after it arrives; a second full segment is ACKed at once', async () => {
    const p = makePair();
    const { c, s } = await connected(p);
    const mss = c.ep!.mss;
    const first = tcpSniff(p.b);
    s.resume();
    await runUntil(p.rt, () => false, 100, 10);
    // No segment follows the handshake until data comes (Linux tcp_cleanup_rbuf
    // acts only on bytes read); the ACK of the first data opens the window from
    // the SYN-ACK's unscaled 65535 to the buffer.
    expect(first).toHaveLength(0);
    c.write(pattern(mss));
    await runUntil(p.rt, () => first.length > 0, 100);
    expect(first).toHaveLength(1);
    expect(first[0]!.window << s.ep!.rcvWscale).toBeGreaterThan(65535);
    await runUntil(p.rt, () => false, 100, 10);
    const delayed = p.b.net.tcp.TcpExtDelayedACKs;
    const inB = tcpSniff(p.b, 'in');
    const outB = tcpSniff(p.b);
    c.write(pattern(mss));
    await runUntil(p.rt, () => outB.length > 0, 100);
    const data1 = inB.filter((x) => x.data.length > 0);
    expect(data1).toHaveLength(1);
    expect(outB).toHaveLength(1);
    expect(outB[0]!.t - data1[0]!.t).toBe(40);
    expect(outB[0]!.ack).toBe((data1[0]!.seq + mss) >>> 0);
    expect(p.b.net.tcp.TcpExtDelayedACKs).toBe(delayed + 1);
    await runUntil(p.rt, () => false, 100, 10);
    c.write(pattern(2 * mss));
    await runUntil(p.rt, () => outB.length > 1, 100);
    const data2 = inB.filter((x) => x.data.length > 0).slice(1);
    expect(data2).toHaveLength(2);
    expect(outB).toHaveLength(2);
    expect(outB[1]!.t).toBe(data2[1]!.t);
    expect(outB[1]!.ack).toBe((data2[1]!.seq + mss) >>> 0);
  });
});
