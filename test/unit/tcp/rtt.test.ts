// The RTO estimator of RFC 6298 with Linux's bounds.
import { describe, expect, it } from 'vitest';
import { RttEstimator, TCP_RTO_MAX, TCP_RTO_MIN, TCP_TIMEOUT_INIT } from '../../../src/tcp/rtt.js';

describe('RFC 6298 RTO', () => {
  it('starts at 1 s before any sample (§2.1)', () => {
    expect(new RttEstimator().rto).toBe(TCP_TIMEOUT_INIT);
    expect(TCP_TIMEOUT_INIT).toBe(1000);
  });

  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4·RTTVAR) (§2.2)', () => {
    const e = new RttEstimator(0);
    e.sample(100);
    expect(e.srtt).toBe(100);
    expect(e.rttvar).toBe(50);
    expect(e.rto).toBe(300);
  });

  it('later samples: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT − R′|, then SRTT = 7/8 SRTT + 1/8 R′ (§2.3)', () => {
    const e = new RttEstimator(0);
    e.sample(100);
    e.sample(200);
    expect(e.rttvar).toBe(62.5); // uses the SRTT from before this sample
    expect(e.srtt).toBe(112.5);
    expect(e.rto).toBe(362.5);
    e.sample(100);
    expect(e.rttvar).toBeCloseTo(0.75 * 62.5 + 0.25 * 12.5, 10);
    expect(e.srtt).toBeCloseTo(0.875 * 112.5 + 12.5, 10);
    expect(e.samples).toBe(3);
    expect(e.latest).toBe(100);
  });

  it('RFC 6298 rounds up to 1 s (§2.4); Linux uses TCP_RTO_MIN = 200 ms', () => {
    const rfc = new RttEstimator(1000);
    rfc.sample(100);
    expect(rfc.rto).toBe(1000);
    const linux = new RttEstimator();
    expect(linux.rtoMin).toBe(TCP_RTO_MIN);
    linux.sample(10);
    expect(linux.rto).toBe(200);
  });

  it('the variance term is at least the clock granularity G = 1 ms', () => {
    const e = new RttEstimator(0);
    for (let i = 0; i < 200; i++) e.sample(50);
    expect(e.rttvar).toBeLessThan(0.001);
    expect(e.rto).toBeCloseTo(51, 6);
  });

  it('never above 120 s (TCP_RTO_MAX; §2.5 allows a maximum of at least 60 s)', () => {
    const e = new RttEstimator();
    e.sample(100_000);
    expect(e.rto).toBe(TCP_RTO_MAX);
  });

  it('ignores a negative or NaN measurement', () => {
    const e = new RttEstimator();
    e.sample(-5);
    e.sample(Number.NaN);
    expect(e.samples).toBe(0);
    expect(e.rto).toBe(1000);
  });
});
