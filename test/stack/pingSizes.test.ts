// Ping of 56, 1472, 4000 and 65000 bytes between two stacks: the request and
// the reply are fragmented by the sender and reassembled by the receiver
// whenever they exceed the 1500-byte MTU; every reply must carry exactly the
// data of its request, on a clean link and on a lossy, reordering one.
import { describe, expect, it } from 'vitest';
import { pingPayload, type EchoReply } from '../../src/ipv4/ping.js';
import { sniff } from '../helpers/frames.js';
import { B_IP, drops, expectNoLeaks, makePair, type Pair } from '../helpers/pair.js';

/** IP datagram of an echo of `size` bytes: 20 + 8 + size; fragments carry 1480 bytes each. */
function fragmentCount(size: number): number {
  const payload = 8 + size;
  return payload + 20 <= 1500 ? 1 : Math.ceil(payload / 1480);
}

/**
 * Sends echo requests of `size` bytes, one a second, until one is answered or
 * `attempts` run out. Returns every reply that came back.
 */
function pingUntilAnswered(p: Pair, size: number, attempts: number): EchoReply[] {
  const sock = p.a.createPingSocket();
  const replies: EchoReply[] = [];
  sock.onReply((r) => replies.push(r));
  for (let seq = 1; seq <= attempts && replies.length === 0; seq++) {
    sock.send(B_IP, seq, pingPayload(size, seq));
    p.rt.advance(1000);
  }
  sock.close();
  return replies;
}

function expectIntact(replies: EchoReply[], size: number): void {
  for (const r of replies) {
    expect(r.from).toBe(B_IP);
    expect(r.data).toEqual(pingPayload(size, r.seq));
  }
}

/** After the 30 s reassembly timeout nothing is held anywhere: no queue, no memory, no buffer. */
function expectAllFreed(p: Pair): void {
  p.rt.advance(31_000);
  for (const s of [p.a, p.b]) {
    expect(s.ip.reasm.queueCount).toBe(0);
    expect(s.ip.reasm.mem).toBe(0);
  }
  expectNoLeaks(p.a, p.b);
}

describe('ping sizes on a clean link', () => {
  it.each([56, 1472, 4000, 65000])('%i bytes: the reply carries the same data; fragments are counted on both sides', (size) => {
    const p = makePair();
    const replies = pingUntilAnswered(p, size, 1);
    expect(replies).toHaveLength(1);
    expectIntact(replies, size);
    const n = fragmentCount(size);
    for (const s of [p.a, p.b]) {
      expect(s.net.snmp.IpFragOKs).toBe(n > 1 ? 1 : 0);
      expect(s.net.snmp.IpFragCreates).toBe(n > 1 ? n : 0);
      expect(s.net.snmp.IpReasmReqds).toBe(n > 1 ? n : 0);
      expect(s.net.snmp.IpReasmOKs).toBe(n > 1 ? 1 : 0);
      expect(s.net.snmp.IpReasmFails).toBe(0);
    }
    expectAllFreed(p);
  });
});

describe('ping sizes under 10% loss and 10% reordering', () => {
  it.each([56, 1472, 4000])('%i bytes: 30 pings, some lost, every reply intact, nothing left behind', (size) => {
    const p = makePair({ seed: size, faults: { loss: 0.1, reorder: 0.1 } });
    const sock = p.a.createPingSocket();
    const replies: EchoReply[] = [];
    sock.onReply((r) => replies.push(r));
    for (let seq = 1; seq <= 30; seq++) {
      sock.send(B_IP, seq, pingPayload(size, seq));
      p.rt.advance(1000);
    }
    // Each round trip needs 2 × fragmentCount frames to survive a 10% loss.
    expect(replies.length).toBeGreaterThan(5);
    expect(replies.length).toBeLessThan(30);
    expectIntact(replies, size);
    expect(p.link.wires[0].stats.reordered + p.link.wires[1].stats.reordered).toBeGreaterThan(0);
    expectAllFreed(p);
  });

  it('65000 bytes: 44 fragments each way; incomplete datagrams time out and free their memory', () => {
    // A round trip needs all 88 frames: at 10% loss both ways one in ~10^4 would
    // succeed. So the requests cross the lossy, reordering direction and the
    // replies a reordering, duplicating one: B reassembles through loss (the
    // incomplete requests expire), A through duplicates.
    const p = makePair({ seed: 65, faults: { loss: 0.1, reorder: 0.1 }, faultsBack: { reorder: 0.1, duplicate: 0.1 } });
    const replies = pingUntilAnswered(p, 65000, 1000);
    expect(replies).toHaveLength(1);
    expectIntact(replies, 65000);
    expect(replies[0]!.seq).toBeGreaterThan(1); // the loss did bite
    expectAllFreed(p);
    // B: one datagram whole, the requests that lost a fragment expired (and nothing else failed).
    expect(p.b.net.snmp.IpReasmOKs).toBe(1);
    expect(p.b.net.snmp.IpReasmTimeout).toBeGreaterThan(0);
    expect(p.b.net.snmp.IpReasmFails).toBe(p.b.net.snmp.IpReasmTimeout);
    // A: the reply whole despite duplicated fragments, which were dropped alone.
    expect(p.a.net.snmp.IpReasmOKs).toBe(1);
    expect(p.a.net.snmp.IpReasmFails).toBe(0);
    expect(drops(p.a, 'ip-frag-dup')).toBeGreaterThan(0);
  });
});

describe('ping sizes under heavy reordering', () => {
  it('4000 bytes: fragments overtaken by later ones are still reassembled in order', () => {
    // Every frame reordered with probability 0.5: the first fragment often arrives last.
    const p = makePair({ seed: 3, faults: { reorder: 0.5, reorderMs: 2 } });
    const arrived = sniff(p.b, 'in');
    const sock = p.a.createPingSocket();
    const replies: EchoReply[] = [];
    sock.onReply((r) => replies.push(r));
    for (let seq = 1; seq <= 20; seq++) {
      sock.send(B_IP, seq, pingPayload(4000, seq));
      p.rt.advance(100);
    }
    expect(replies.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expectIntact(replies, 4000);
    // Proof that B saw fragments out of order: a datagram's first fragment came after a later one.
    const firstSeen = new Map<number, number>();
    for (const f of arrived) if (f.ip && !firstSeen.has(f.ip.ident)) firstSeen.set(f.ip.ident, f.ip.fragOffset);
    expect([...firstSeen.values()].filter((off) => off !== 0).length).toBeGreaterThan(3);
    expectAllFreed(p);
  });
});
