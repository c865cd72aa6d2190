// A failed ARP resolution is reported to the local sender as ICMP host
// unreachable (Linux ipv4_link_failure): connect() to a silent on-link host
// fails with EHOSTUNREACH, as Linux's does, instead of waiting 127 s. (UDP
// sockets hear nothing of it: host unreachable is a soft error Linux reports
// only with IP_RECVERR.)
import { describe, expect, it } from 'vitest';
import { makePair, runUntil } from '../helpers/pair.js';

describe('neighbour failure', () => {
  it('fails a connect to an on-link host that never answers ARP with EHOSTUNREACH', async () => {
    const { rt, a } = makePair();
    const c = a.connect(80, '10.0.0.77');
    let code = '';
    c.on('error', (e: NodeJS.ErrnoException) => (code = e.code ?? ''));
    await runUntil(rt, () => code !== '', 10_000, 10);
    expect(code).toBe('EHOSTUNREACH');
    // One ICMP per queued packet (the SYN and its retransmissions), sent to itself over lo.
    const failed = a.drops().find(([r]) => r === 'neigh-failed')?.[1] ?? 0;
    expect(failed).toBeGreaterThanOrEqual(1);
    expect(a.net.snmp.IcmpOutDestUnreachs).toBe(failed);
    expect(a.net.snmp.IcmpInDestUnreachs).toBe(failed);
    expect(a.lo.stats.tx_packets).toBe(failed);
  });
});
