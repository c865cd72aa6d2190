// Congestion control in isolation: Reno (RFC 5681, byte counting per RFC
// 3465) and CUBIC (RFC 9438), driven ACK by ACK on a simulated clock; no
// growth for an application-limited flow (Linux tcp_is_cwnd_limited), and
// CUBIC's epoch shifted over idle time (RFC 9438 §5.8, CA_EVENT_TX_START).
import { describe, expect, it } from 'vitest';
import { createCongestionOps, Cubic, CwndUse, Reno, restartCwnd, type CcState, type CongestionOps } from '../../../src/tcp/congestion.js';

const MSS = 1000;

/** A connection's congestion state; cwnd-limited unless `limited` says otherwise. */
function state(cwndSeg: number, ssthreshSeg = Infinity, limited = () => true): CcState {
  return { cwnd: cwndSeg * MSS, ssthresh: ssthreshSeg === Infinity ? 0x7fffffff : ssthreshSeg * MSS, mss: MSS, isCwndLimited: limited };
}

/** One RTT of ACKs, one per segment of the window; returns the new time. */
function oneRtt(cc: CongestionOps, s: CcState, now: number, rtt: number): number {
  const segs = Math.floor(s.cwnd / MSS);
  for (let i = 0; i < segs; i++) cc.congAvoid(s, MSS, now, rtt);
  return now + rtt;
}

describe('Reno (RFC 5681)', () => {
  it('slow start grows cwnd by the bytes acknowledged, at most 2 MSS per ACK (RFC 3465 L = 2)', () => {
    const cc: CongestionOps = new Reno();
    const s = state(10);
    cc.congAvoid(s, MSS, 0, 0);
    expect(s.cwnd).toBe(11 * MSS);
    cc.congAvoid(s, 500, 0, 0);
    expect(s.cwnd).toBe(11 * MSS + 500);
    cc.congAvoid(s, 5 * MSS, 0, 0); // a stretch ACK
    expect(s.cwnd).toBe(13 * MSS + 500);
  });

  it('slow start doubles the window each round trip', () => {
    const cc: CongestionOps = new Reno();
    const s = state(10);
    oneRtt(cc, s, 0, 100);
    expect(s.cwnd).toBe(20 * MSS);
    oneRtt(cc, s, 100, 100);
    expect(s.cwnd).toBe(40 * MSS);
  });

  it('slow start stops at ssthresh; the rest of the ACK counts toward congestion avoidance', () => {
    const cc: CongestionOps = new Reno();
    const s = state(9, 10);
    cc.congAvoid(s, 2 * MSS, 0, 0);
    expect(s.cwnd).toBe(10 * MSS);
    for (let i = 0; i < 8; i++) cc.congAvoid(s, MSS, 0, 0);
    expect(s.cwnd).toBe(10 * MSS); // 1 + 8 = 9 MSS acknowledged: not yet a window's worth
    cc.congAvoid(s, MSS, 0, 0);
    expect(s.cwnd).toBe(11 * MSS);
  });

  it('congestion avoidance adds one MSS per window of acknowledged data (eq. 3)', () => {
    const cc: CongestionOps = new Reno();
    const s = state(10, 5);
    for (let i = 0; i < 9; i++) cc.congAvoid(s, MSS, 0, 0);
    expect(s.cwnd).toBe(10 * MSS);
    cc.congAvoid(s, MSS, 0, 0);
    expect(s.cwnd).toBe(11 * MSS);
    let now = 0;
    for (let r = 0; r < 10; r++) now = oneRtt(cc, s, now, 100);
    expect(s.cwnd).toBe(21 * MSS);
  });

  it('ssthresh after a loss is max(FlightSize / 2, 2 MSS) (eq. 4)', () => {
    const cc: CongestionOps = new Reno();
    expect(cc.ssthresh(state(40), 20 * MSS, 0)).toBe(10 * MSS);
    expect(cc.ssthresh(state(40), 3 * MSS, 0)).toBe(2 * MSS);
    expect(cc.ssthresh(state(40), 5 * MSS + 1, 0)).toBe(Math.floor((5 * MSS + 1) / 2));
  });

  it('a reduction or a timeout forgets partly counted bytes', () => {
    const cc: CongestionOps = new Reno();
    const s = state(10, 5);
    for (let i = 0; i < 9; i++) cc.congAvoid(s, MSS, 0, 0);
    cc.onTimeout(s);
    cc.congAvoid(s, MSS, 0, 0);
    expect(s.cwnd).toBe(10 * MSS);
  });

  it('createCongestionOps picks by name', () => {
    expect(createCongestionOps('reno').name).toBe('reno');
    expect(createCongestionOps('cubic').name).toBe('cubic');
  });
});

describe('CUBIC (RFC 9438)', () => {
  const C = 0.4;
  const wCubic = (t: number, k: number, wMax: number) => C * (t - k) ** 3 + wMax;

  it('multiplicative decrease by beta_cubic = 0.7 (§4.6), never below 2 MSS', () => {
    const cc: CongestionOps = new Cubic();
    expect(cc.ssthresh(state(100), 0, 0)).toBe(70 * MSS);
    expect((new Cubic() as CongestionOps).ssthresh(state(2), 0, 0)).toBe(2 * MSS);
  });

  /** A window of 100 segments reduced to 70, then RTTs of full-window ACKs; cwnd (segments) at each RTT. */
  function afterLoss(cc: CongestionOps, wMaxSeg: number, rtt: number, rtts: number): number[] {
    const s = state(wMaxSeg);
    s.ssthresh = cc.ssthresh(s, 0, 0);
    s.cwnd = s.ssthresh;
    const out: number[] = [];
    let now = 10_000;
    for (let i = 0; i < rtts; i++) {
      now = oneRtt(cc, s, now, rtt);
      out.push(s.cwnd / MSS);
    }
    return out;
  }

  it('after a reduction the window climbs back to W_max along W_cubic(t) = C(t − K)^3 + W_max, K = cbrt(W_max(1 − β)/C)', () => {
    const rtt = 100;
    const w = afterLoss(new Cubic(), 100, rtt, 80);
    const k = Math.cbrt((100 * 0.3) / C);
    expect(k).toBeCloseTo(4.2172, 3);
    // During RTT i (from i·RTT into the epoch) cwnd aims at the curve one RTT ahead (§4.2):
    // at its end cwnd is W_cubic((i + 1)·RTT), to within the whole segments it moves by —
    // a little more in the convex region, where the ACKs counted on the plateau carry
    // over (as Linux's snd_cwnd_cnt does).
    for (const i of [0, 9, 19, 29, 41, 49, 59, 69, 79]) {
      const t = (i + 1) * (rtt / 1000);
      expect(Math.abs(w[i]! - wCubic(t, k, 100))).toBeLessThanOrEqual(i < 50 ? 1.5 : 0.03 * w[i]!);
    }
    // Concave below W_max, flat around it, convex above.
    const growth = (a: number, b: number) => w[b]! - w[a]!;
    expect(growth(0, 10)).toBeGreaterThan(growth(20, 30));
    expect(growth(30, 40)).toBeLessThanOrEqual(2);
    expect(growth(70, 79)).toBeGreaterThan(growth(50, 59));
  });

  it('in the Reno-friendly region the window follows W_est, growing alpha_cubic = 3(1 − β)/(1 + β) per RTT (§4.3)', () => {
    const rtt = 10;
    const w = afterLoss(new Cubic(), 10, rtt, 100); // short RTT, small window: Reno-friendly
    const alpha = (3 * 0.3) / 1.7;
    const west = 7 + alpha * 100;
    expect(w[99]!).toBeGreaterThan(wCubic(1 + rtt / 1000, Math.cbrt(3 / C), 10));
    expect(Math.abs(w[99]! - west)).toBeLessThanOrEqual(3);
  });

  it('never grows by more than half the window in one RTT (§4.4–4.5)', () => {
    const w = afterLoss(new Cubic(), 20, 100, 120);
    for (let i = 1; i < w.length; i++) expect(w[i]!).toBeLessThanOrEqual(Math.ceil(w[i - 1]! * 1.5) + 1);
  });

  it('fast convergence (§4.7): a loss below the last W_max remembers a lower W_max', () => {
    const cc: CongestionOps = new Cubic();
    const s = state(1000);
    s.ssthresh = cc.ssthresh(s, 0, 0); // W_max 1000
    expect(s.ssthresh).toBe(700 * MSS);
    s.cwnd = 800 * MSS; // lost again before getting back to 1000
    s.ssthresh = cc.ssthresh(s, 0, 0);
    expect(s.ssthresh).toBe(560 * MSS);
    // W_max is now 800 × (1 + 0.7) / 2 = 680: the plateau is there, not at 800.
    s.cwnd = s.ssthresh;
    const k = Math.cbrt((680 - 560) / C);
    const rtt = 100;
    let now = 0;
    const rtts = Math.round((k * 1000) / rtt) - 1;
    for (let i = 0; i < rtts; i++) now = oneRtt(cc, s, now, rtt);
    expect(Math.abs(s.cwnd / MSS - 680)).toBeLessThanOrEqual(3);
    // Without fast convergence (a loss at a new maximum) W_max is the window itself.
    const plain: CongestionOps = new Cubic();
    const t = state(800);
    t.ssthresh = plain.ssthresh(t, 0, 0);
    t.cwnd = t.ssthresh;
    now = 0;
    for (let i = 0; i < rtts; i++) now = oneRtt(plain, t, now, rtt);
    expect(t.cwnd / MSS).toBeLessThan(800);
    expect(t.cwnd / MSS).toBeGreaterThan(700);
  });

  it('slow start below ssthresh as Reno', () => {
    const cc: CongestionOps = new Cubic();
    const s = state(10);
    oneRtt(cc, s, 0, 100);
    expect(s.cwnd).toBe(20 * MSS);
  });
});

describe('application-limited flows (Linux tcp_is_cwnd_limited, RFC 9438 §5.8)', () => {
  for (const name of ['reno', 'cubic'] as const) {
    it(`${name}: no growth on ACKs while the sender was not cwnd-limited, in slow start or congestion avoidance`, () => {
      const cc = createCongestionOps(name);
      const ss = state(10, Infinity, () => false);
      for (let i = 0; i < 100; i++) cc.congAvoid(ss, MSS, i * 10, 10);
      expect(ss.cwnd).toBe(10 * MSS);
      const ca = state(20, 10, () => false);
      for (let i = 0; i < 1000; i++) cc.congAvoid(ca, MSS, i * 10, 10);
      expect(ca.cwnd).toBe(20 * MSS);
      // The same ACKs from a cwnd-limited sender do grow it.
      ca.isCwndLimited = () => true;
      for (let i = 0; i < 1000; i++) cc.congAvoid(ca, MSS, 10_000 + i * 10, 10);
      expect(ca.cwnd).toBeGreaterThan(20 * MSS);
    });
  }
});

describe('CUBIC after idle (RFC 9438 §5.8, Linux cubictcp_cwnd_event CA_EVENT_TX_START)', () => {
  /** CUBIC after a loss at 100 segments, 2 s into its epoch; then `idle` ms without sending, then one RTT of ACKs. */
  function resume(idle: number): { cc: Cubic; grew: number; epochBefore: number } {
    const cc = new Cubic();
    const s = state(100);
    s.ssthresh = cc.ssthresh(s);
    s.cwnd = s.ssthresh;
    let now = 0;
    for (let i = 0; i < 20; i++) now = oneRtt(cc, s, now, 100);
    const epochBefore = cc.epoch;
    const before = s.cwnd;
    cc.onTxStart(s, idle, now + idle);
    oneRtt(cc, s, now + idle, 100);
    return { cc, grew: (s.cwnd - before) / MSS, epochBefore };
  }

  it('the epoch moves by the idle time, so the curve continues where the flow paused', () => {
    const paused = resume(30_000);
    expect(paused.cc.epoch).toBe(paused.epochBefore + 30_000);
    const steady = resume(0);
    // 30 s further along W_cubic the target is far above W_max and cwnd would jump by the
    // 1.5× cap in one RTT; with the shift it grows as it would have without the pause.
    expect(paused.grew).toBe(steady.grew);
    expect(paused.grew).toBeLessThan(5);
  });

  it('the epoch never starts in the future, and no epoch (slow start, after a loss) stays none', () => {
    const cc = new Cubic();
    const s = state(100);
    s.ssthresh = cc.ssthresh(s);
    s.cwnd = s.ssthresh;
    cc.onTxStart(s, 5000, 5000);
    expect(cc.epoch).toBe(-1);
    cc.congAvoid(s, MSS, 6000, 100); // the epoch starts at 6000
    cc.onTxStart(s, 10_000, 7000);
    expect(cc.epoch).toBe(7000);
  });
});

describe('restart window (Linux tcp_cwnd_restart, RFC 5681 §4.1)', () => {
  it('halves cwnd for every RTO of idleness beyond the first, down to min(IW, cwnd)', () => {
    const iw = 10 * MSS;
    expect(restartCwnd(80 * MSS, iw, 250, 200)).toBe(40 * MSS); // (RTO, 2 RTO]: once
    expect(restartCwnd(80 * MSS, iw, 400, 200)).toBe(40 * MSS);
    expect(restartCwnd(80 * MSS, iw, 401, 200)).toBe(20 * MSS); // twice
    expect(restartCwnd(80 * MSS, iw, 60_000, 200)).toBe(iw);
    expect(restartCwnd(4 * MSS, iw, 60_000, 200)).toBe(4 * MSS); // already below IW: kept
  });
});

describe('cwnd use (Linux tcp_cwnd_validate)', () => {
  it('a window in which cwnd held a send back counts as cwnd-limited until SND.UNA passes its end', () => {
    const u = new CwndUse();
    u.validate(true, 1000, 11_000);
    expect(u.isCwndLimited(10 * MSS, 20 * MSS)).toBe(true);
    u.validate(false, 5000, 12_000); // still inside that window: the flag stays
    expect(u.isCwndLimited(10 * MSS, 5 * MSS)).toBe(true);
    u.validate(false, 11_000, 12_000); // a new window, application-limited
    expect(u.isCwndLimited(10 * MSS, 5 * MSS)).toBe(false);
    // In slow start cwnd may still grow to twice the most that was in flight.
    expect(u.isCwndLimited(1 * MSS, 20 * MSS)).toBe(true);
    expect(u.isCwndLimited(2 * MSS, 20 * MSS)).toBe(false);
  });
});
