// rtt: the retransmission timeout estimator of RFC 6298, with Linux's
// bounds: RTO never below 200 ms (TCP_RTO_MIN) nor above 120 s (TCP_RTO_MAX);
// 1 s before the first sample (RFC 6298 §2.1).

export const TCP_RTO_MIN = 200;
export const TCP_RTO_MAX = 120_000;
export const TCP_TIMEOUT_INIT = 1_000;

export class RttEstimator {
  /** Smoothed RTT and its variation, ms; srtt 0 = no sample yet. */
  srtt = 0;
  rttvar = 0;
  /** The current RTO before back-off, ms. */
  rto = TCP_TIMEOUT_INIT;
  /** The last sample, ms (ss's "rtt"). */
  latest = 0;
  samples = 0;

  constructor(public rtoMin = TCP_RTO_MIN) {}

  /** RFC 6298 §2.2–2.3: feed one measurement R (ms). */
  sample(r: number): void {
    if (!(r >= 0)) return;
    if (r === 0) r = 0.001;
    this.latest = r;
    this.samples++;
    if (this.srtt === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      // alpha = 1/8, beta = 1/4
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    // G (clock granularity) is 1 ms here.
    this.rto = Math.min(TCP_RTO_MAX, Math.max(this.rtoMin, this.srtt + Math.max(1, 4 * this.rttvar)));
  }
}
