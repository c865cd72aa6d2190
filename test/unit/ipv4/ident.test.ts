// The IPv4 Identification of what we send (RFC 6864, RFC 7739; Linux ip_idents):
// rising per destination, not one global counter that every peer can watch.
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../src/core/runtime.js';
import { IpIdents } from '../../../src/ipv4/ident.js';
import { parseIpv4 } from '../../../src/wire/address.js';
import { IPPROTO_ICMP, IPPROTO_UDP } from '../../../src/wire/ipv4.js';
import { makePair } from '../../helpers/pair.js';
import { sniff } from '../../helpers/frames.js';

const ME = parseIpv4('10.0.0.2')!;
const B = parseIpv4('10.0.0.1')!;
const C = parseIpv4('192.168.1.9')!;

describe('IpIdents', () => {
  it('gives one destination consecutive IDs, wrapping at 65536', () => {
    const ids = new IpIdents(new SeededRandom(1));
    const first = ids.next(B, ME, IPPROTO_UDP);
    const seq = Array.from({ length: 70_000 }, () => ids.next(B, ME, IPPROTO_UDP));
    expect(seq[0]).toBe((first + 1) & 0xffff);
    for (let i = 1; i < seq.length; i++) expect(seq[i]).toBe((seq[i - 1]! + 1) & 0xffff);
  });

  it('traffic to one host does not move the counter another host sees (different buckets)', () => {
    const ids = new IpIdents(new SeededRandom(2));
    const c0 = ids.next(C, ME, IPPROTO_UDP);
    for (let i = 0; i < 1000; i++) ids.next(B, ME, IPPROTO_UDP);
    expect(ids.next(C, ME, IPPROTO_UDP)).toBe((c0 + 1) & 0xffff);
  });

  it('spreads destinations over the buckets and starts them from unpredictable values', () => {
    const a = new IpIdents(new SeededRandom(3));
    const b = new IpIdents(new SeededRandom(4));
    // 256 hosts of one /24: their first IDs are (nearly) all different, and differ between two stacks.
    const firstA = new Set(Array.from({ length: 256 }, (_, i) => a.next((B & ~0xff) | i, ME, IPPROTO_ICMP)));
    expect(firstA.size).toBeGreaterThan(240);
    expect(a.next(C, ME, IPPROTO_ICMP)).not.toBe(b.next(C, ME, IPPROTO_ICMP));
  });
});

describe('on the wire', () => {
  it('two pings to one peer carry consecutive IDs', () => {
    const p = makePair();
    const out = sniff(p.a);
    const sock = p.a.createPingSocket();
    sock.send(parseIpv4('10.0.0.2')!, 1, new Uint8Array(8));
    sock.send(parseIpv4('10.0.0.2')!, 2, new Uint8Array(8));
    p.rt.advance(10);
    const ids = out.filter((f) => f.icmp?.type === 8).map((f) => f.ip!.ident);
    expect(ids).toHaveLength(2);
    expect(ids[1]).toBe((ids[0]! + 1) & 0xffff);
  });
});
