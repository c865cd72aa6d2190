// ARP between two stacks and against hand-built requests injected into B's
// RX ring from a third host X on the same link.
import { describe, expect, it } from 'vitest';
import { pingPayload } from '../../src/ipv4/ping.js';
import { MemoryLink } from '../../src/nic/memoryLink.js';
import { Stack } from '../../src/stack.js';
import { VirtualRuntime } from '../../src/core/runtime.js';
import { MAC_BROADCAST, parseIpv4, parseMac } from '../../src/wire/address.js';
import { ARP_OP_REPLY, ARP_OP_REQUEST, ArpPacket } from '../../src/wire/arp.js';
import { ETH_HLEN } from '../../src/wire/ethernet.js';
import { arpFrame, sniff } from '../helpers/frames.js';
import { A_IP, A_MAC, B_IP, B_MAC, drops, expectNoLeaks, makePair } from '../helpers/pair.js';

const X_IP = parseIpv4('10.0.0.9')!;
const X_MAC = parseMac('02:00:00:00:00:09')!;

function requestFromX(targetIp: number) {
  return arpFrame(MAC_BROADCAST, { op: ARP_OP_REQUEST, senderMac: X_MAC, senderIp: X_IP, targetMac: 0, targetIp });
}

describe('ARP resolution', () => {
  it('a first ping broadcasts one request, the reply resolves it, and the ping goes through', () => {
    const { rt, a, b, devA } = makePair();
    const outA = sniff(a);
    const outB = sniff(b);
    const sock = a.createPingSocket();
    let replies = 0;
    sock.onReply(() => replies++);
    sock.send(B_IP, 1, pingPayload(56, 1));
    rt.advance(10);
    expect(replies).toBe(1);
    expect(outA[0]!.arp).toEqual({ op: ARP_OP_REQUEST, senderMac: A_MAC, senderIp: A_IP, targetMac: 0, targetIp: B_IP });
    expect(outA[0]!.ethDst).toBe(MAC_BROADCAST);
    expect(outB[0]!.arp).toEqual({ op: ARP_OP_REPLY, senderMac: B_MAC, senderIp: B_IP, targetMac: A_MAC, targetIp: A_IP });
    expect(outB[0]!.ethDst).toBe(A_MAC); // a reply is unicast
    expect(outA.filter((f) => f.arp)).toHaveLength(1);
    expect(a.neigh.lookup(B_IP, devA)?.mac).toBe(B_MAC);
    expect(a.neigh.show()).toEqual([{ ip: '10.0.0.2', dev: 'eth0', mac: '02:00:00:00:00:02', state: 'REACHABLE' }]);
    // B learned A from the request (not confirmed: STALE), then used it for the reply: DELAY.
    expect(b.neigh.show()).toEqual([{ ip: '10.0.0.1', dev: 'eth0', mac: '02:00:00:00:00:01', state: 'DELAY' }]);
    // The second ping needs no ARP.
    sock.send(B_IP, 2, pingPayload(56, 2));
    rt.advance(10);
    expect(replies).toBe(2);
    expect(outA.filter((f) => f.arp)).toHaveLength(1);
    expectNoLeaks(a, b);
  });
});

describe('ARP replies only for our own addresses', () => {
  it('a request for another address gets no reply, is counted as arp-not-for-us, and creates no entry', () => {
    const { rt, link, b } = makePair();
    const out = sniff(b);
    const before = drops(b, 'arp-not-for-us');
    link.inject(1, requestFromX(parseIpv4('10.0.0.3')!));
    rt.run();
    expect(out).toHaveLength(0);
    expect(drops(b, 'arp-not-for-us')).toBe(before + 1);
    expect(b.neigh.size).toBe(0);
    expectNoLeaks(b);
  });

  it('a request for our address is answered to the asker, who is learned', () => {
    const { rt, link, b, devB } = makePair();
    const out = sniff(b);
    link.inject(1, requestFromX(B_IP));
    rt.run();
    expect(out).toHaveLength(1);
    expect(out[0]!.ethDst).toBe(X_MAC);
    expect(out[0]!.arp).toEqual({ op: ARP_OP_REPLY, senderMac: B_MAC, senderIp: B_IP, targetMac: X_MAC, targetIp: X_IP });
    expect(b.net.snmp.ArpOutReplies).toBe(1);
    expect(b.neigh.lookup(X_IP, devB)?.mac).toBe(X_MAC);
  });

  it('does not answer for its loopback address on the wire', () => {
    const { rt, link, b } = makePair();
    const out = sniff(b);
    link.inject(1, requestFromX(parseIpv4('127.0.0.1')!));
    rt.run();
    expect(out).toHaveLength(0);
  });
});

describe('gratuitous ARP', () => {
  it('addInterface announces every address with a broadcast request (sender = target)', () => {
    const rt = new VirtualRuntime();
    const link = new MemoryLink(rt);
    const s = new Stack({ runtime: rt });
    const out = sniff(s);
    s.addInterface({ name: 'eth0', mac: A_MAC, addresses: ['10.0.0.5/24', '192.168.7.1/24'], driver: link.port(0) });
    expect(out.map((f) => [f.ethDst, f.arp])).toEqual([
      [MAC_BROADCAST, { op: ARP_OP_REQUEST, senderMac: A_MAC, senderIp: parseIpv4('10.0.0.5'), targetMac: 0, targetIp: parseIpv4('10.0.0.5') }],
      [MAC_BROADCAST, { op: ARP_OP_REQUEST, senderMac: A_MAC, senderIp: parseIpv4('192.168.7.1'), targetMac: 0, targetIp: parseIpv4('192.168.7.1') }],
    ]);
    expect(s.net.snmp.ArpOutRequests).toBe(2);
  });

  it('updates an existing entry to the announced MAC (STALE), but creates none for a stranger', () => {
    const { rt, link, a, b, devB } = makePair();
    a.icmp.sendEcho(B_IP, 1, 1, new Uint8Array(8)); // B learns A
    rt.advance(10);
    expect(b.neigh.lookup(A_IP, devB)?.mac).toBe(A_MAC);
    const moved = parseMac('02:00:00:00:00:aa')!;
    link.inject(1, arpFrame(MAC_BROADCAST, { op: ARP_OP_REQUEST, senderMac: moved, senderIp: A_IP, targetMac: 0, targetIp: A_IP }));
    link.inject(1, arpFrame(MAC_BROADCAST, { op: ARP_OP_REQUEST, senderMac: X_MAC, senderIp: X_IP, targetMac: 0, targetIp: X_IP }));
    rt.run();
    expect(b.neigh.lookup(A_IP, devB)?.mac).toBe(moved);
    expect(b.neigh.show().find((n) => n.ip === '10.0.0.1')?.state).toBe('STALE');
    expect(b.neigh.lookup(X_IP, devB)).toBeUndefined();
    // Announcements are consumed, not dropped as not for us (Linux arp_process).
    expect(drops(b, 'arp-not-for-us')).toBe(0);
    expectNoLeaks(b);
  });
});

describe('malformed ARP', () => {
  /** A request from X for B, then `mangle` applied to its ARP bytes. */
  function mangled(mangle: (p: ArpPacket) => void, cut = 0): Uint8Array {
    const f = requestFromX(B_IP);
    mangle(new ArpPacket().wrap(f, ETH_HLEN));
    return cut ? f.subarray(0, f.length - cut) : f;
  }

  it.each([
    ['truncated to 20 bytes', mangled(() => {}, 8)],
    ['hardware type not Ethernet', mangled((p) => (p.htype = 6))],
    ['protocol type not IPv4', mangled((p) => (p.ptype = 0x86dd))],
    ['bad address lengths', mangled((p) => (p.plen = 16))],
    ['unknown operation', mangled((p) => (p.op = 3))],
    ['sender MAC broadcast', mangled((p) => (p.senderMac = MAC_BROADCAST))],
    ['sender MAC multicast', mangled((p) => (p.senderMac = parseMac('01:00:5e:00:00:01')!))],
    ['sender MAC is ours', mangled((p) => (p.senderMac = B_MAC))],
  ])('%s: counted in ArpInErrors, dropped, not answered', (_name, frame) => {
    const { rt, link, b } = makePair();
    const out = sniff(b);
    link.inject(1, frame);
    rt.run();
    expect(b.net.snmp.ArpInErrors).toBe(1);
    expect(drops(b, 'arp-invalid')).toBe(1);
    expect(out).toHaveLength(0);
    expect(b.neigh.size).toBe(0);
    expectNoLeaks(b);
  });
});
