// The two token buckets in front of every ICMP error (Linux
// icmpv4_global_allow and icmpv4_xrlim_allow), driven through Icmp.send on a
// stack whose wire leads nowhere.
import { describe, expect, it } from 'vitest';
import { VirtualRuntime } from '../../../src/core/runtime.js';
import { MemoryLink } from '../../../src/nic/memoryLink.js';
import { Stack } from '../../../src/stack.js';
import { parseIpv4 } from '../../../src/wire/address.js';
import { ipPacket } from '../../helpers/frames.js';

function setup() {
  const rt = new VirtualRuntime();
  const s = new Stack({ runtime: rt });
  const dev = s.addInterface({ name: 'eth0', mac: '02:00:00:00:00:01', addresses: ['10.0.0.1/24'], driver: new MemoryLink(rt).port(0) });
  rt.run();
  /** Asks for a port unreachable about a datagram that came from `src`; returns how many errors went out in total. */
  const error = (src: string): number => {
    const bytes = ipPacket({ src: parseIpv4(src)!, dst: parseIpv4('10.0.0.1')!, protocol: 17 }, new Uint8Array(8));
    const pb = s.net.pool.alloc(bytes.length);
    pb.buf.set(bytes, pb.put(bytes.length));
    pb.networkHeader = pb.head;
    pb.ifindex = dev.ifindex;
    s.icmp.send(pb, 3, 3, 0);
    pb.free();
    return s.net.snmp.IcmpOutDestUnreachs;
  };
  return { rt, s, error };
}

describe('ICMP error rate limits', () => {
  it('global bucket: a burst of 50, refilled at 1000 per second, never above the burst', () => {
    const { rt, s, error } = setup();
    for (let i = 0; i < 60; i++) error(`10.0.0.${100 + i}`);
    expect(s.net.snmp.IcmpOutDestUnreachs).toBe(50);
    expect(s.net.snmp.IcmpOutRateLimitGlobal).toBe(10);
    rt.advance(10); // 10 tokens
    for (let i = 0; i < 20; i++) error(`10.0.1.${i}`);
    expect(s.net.snmp.IcmpOutDestUnreachs).toBe(60);
    rt.advance(60_000); // refills to the burst only
    for (let i = 0; i < 60; i++) error(`10.0.2.${i}`);
    expect(s.net.snmp.IcmpOutDestUnreachs).toBe(110);
  });

  it('per-host bucket: 6 at once, then one per second, each host on its own', () => {
    const { rt, s, error } = setup();
    for (let i = 0; i < 10; i++) error('10.0.0.7');
    expect(s.net.snmp.IcmpOutDestUnreachs).toBe(6);
    expect(s.net.snmp.IcmpOutRateLimitHost).toBe(4);
    expect(error('10.0.0.8')).toBe(7); // another host is not limited by the first
    rt.advance(999);
    expect(error('10.0.0.7')).toBe(7);
    rt.advance(1);
    expect(error('10.0.0.7')).toBe(8);
    expect(error('10.0.0.7')).toBe(8);
    rt.advance(3_000);
    for (let i = 0; i < 5; i++) error('10.0.0.7');
    expect(s.net.snmp.IcmpOutDestUnreachs).toBe(11); // 3 s bought 3 more
  });

  it('the limits are tunable (icmp_ratelimit 0 turns the per-host limit off)', () => {
    const { s, error } = setup();
    s.icmp.rate.ratelimitMs = 0;
    for (let i = 0; i < 30; i++) error('10.0.0.7');
    expect(s.net.snmp.IcmpOutDestUnreachs).toBe(30);
    expect(s.net.snmp.IcmpOutRateLimitHost).toBe(0);
  });
});
