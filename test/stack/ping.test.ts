import { describe, expect, it } from 'vitest';
import { pingPayload } from '../../src/ipv4/ping.js';
import { makePair, B_IP } from '../helpers/pair.js';

describe('ping between two stacks over the memory link', () => {
  it('resolves ARP and gets an echo reply with the same data', () => {
    const { rt, a, b } = makePair();
    const sock = a.createPingSocket();
    const replies: Array<{ seq: number; data: Uint8Array }> = [];
    sock.onReply((r) => replies.push(r));
    const data = pingPayload(56, 1);
    sock.send(B_IP, 1, data);
    rt.advance(10);
    expect(replies).toHaveLength(1);
    expect(replies[0]!.seq).toBe(1);
    expect(replies[0]!.data).toEqual(data);
    expect(a.net.snmp.ArpOutRequests).toBeGreaterThanOrEqual(1);
    expect(b.net.snmp.IcmpInEchos).toBe(1);
    expect(b.net.snmp.IcmpOutEchoReps).toBe(1);
  });
});
