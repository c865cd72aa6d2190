// A datagram that never completes: B holds its fragments for ipfrag_time
// (30 s), then frees them and tells the sender with ICMP time exceeded,
// "fragment reassembly time exceeded" (RFC 792, RFC 1122 §3.3.2).
import { describe, expect, it } from 'vitest';
import { POOL_BUFFER_SIZE } from '../../src/core/packetBuffer.js';
import { ETHERTYPE_IPV4 } from '../../src/wire/ethernet.js';
import { echoRequest, ethFrame, fragments, sniff } from '../helpers/frames.js';
import { A_IP, A_MAC, B_IP, B_MAC, drops, expectNoLeaks, makePair } from '../helpers/pair.js';

describe('reassembly timeout', () => {
  it('frees the held fragments after 30 s and sends time exceeded (code 1) quoting the first fragment', () => {
    const p = makePair();
    const out = sniff(p.b);
    const frags = fragments({ src: A_IP, dst: B_IP, ident: 0x4242 }, echoRequest(9, 1, new Uint8Array(4000)), 1480);
    expect(frags).toHaveLength(3);
    for (const f of [frags[0]!, frags[2]!]) p.link.inject(1, ethFrame(B_MAC, A_MAC, ETHERTYPE_IPV4, f));
    p.rt.run();
    const reasm = p.b.ip.reasm;
    expect([reasm.queueCount, reasm.mem, p.b.net.pool.stats.inUse]).toEqual([1, 2 * POOL_BUFFER_SIZE, 2]);

    p.rt.advance(29_999);
    expect(reasm.queueCount).toBe(1);
    expect(p.b.net.snmp.IpReasmTimeout).toBe(0);

    p.rt.advance(1);
    expect(p.b.net.snmp.IpReasmTimeout).toBe(1);
    expect(p.b.net.snmp.IpReasmFails).toBe(1);
    expect(drops(p.b, 'ip-frag-timeout')).toBe(2);
    expect([reasm.queueCount, reasm.mem]).toEqual([0, 0]);

    p.rt.advance(10); // B resolves A, sends the error
    const err = out.find((f) => f.icmp)!;
    expect([err.icmp!.type, err.icmp!.code]).toEqual([11, 1]);
    expect(err.ip).toMatchObject({ src: B_IP, dst: A_IP });
    // As much of the fragment as fits in 576 bytes (RFC 1812 §4.3.2.3): 548 = 576 − 20 − 8.
    expect(err.icmp!.data).toEqual(frags[0]!.subarray(0, 548));
    expect(p.b.net.snmp.IcmpOutTimeExcds).toBe(1);
    expect(p.a.net.snmp.IcmpInTimeExcds).toBe(1);
    expectNoLeaks(p.a, p.b);
  });

  it('a datagram completed before the timeout cancels it: nothing expires later', () => {
    const p = makePair();
    const frags = fragments({ src: A_IP, dst: B_IP, ident: 0x4243 }, echoRequest(9, 1, new Uint8Array(4000)), 1480);
    p.link.inject(1, ethFrame(B_MAC, A_MAC, ETHERTYPE_IPV4, frags[2]!));
    p.rt.advance(20_000);
    p.link.inject(1, ethFrame(B_MAC, A_MAC, ETHERTYPE_IPV4, frags[0]!));
    p.link.inject(1, ethFrame(B_MAC, A_MAC, ETHERTYPE_IPV4, frags[1]!));
    p.rt.advance(20_000);
    expect(p.b.net.snmp.IpReasmOKs).toBe(1);
    expect(p.b.net.snmp.IcmpInEchos).toBe(1);
    expect(p.b.net.snmp.IpReasmTimeout).toBe(0);
    expectNoLeaks(p.a, p.b);
  });
});
