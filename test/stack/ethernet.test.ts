// Ethernet receive on a real device: frames are produced into the RX ring of
// B's end of the memory link and go through the driver's NAPI poll.
import { describe, expect, it } from 'vitest';
import { ETHERTYPE_IPV4 } from '../../src/wire/ethernet.js';
import { parseMac } from '../../src/wire/address.js';
import { echoRequest, ethFrame, ipFrame, ipPacket } from '../helpers/frames.js';
import { A_IP, A_MAC, B_IP, B_MAC, drops, expectNoLeaks, makePair } from '../helpers/pair.js';

const OTHER_MAC = parseMac('02:00:00:00:00:77')!;
const MCAST_MAC = parseMac('01:00:5e:00:00:01')!;

function echoTo(dstMac: number): Uint8Array {
  return ipFrame(dstMac, A_MAC, { src: A_IP, dst: B_IP }, echoRequest(1, 1, new Uint8Array(8)));
}

describe('Ethernet receive', () => {
  it('a frame for our MAC is delivered (the control case of the drops below)', () => {
    const { rt, link, b } = makePair();
    link.inject(1, echoTo(B_MAC));
    rt.run();
    expect(b.net.snmp.IcmpInEchos).toBe(1);
  });

  it('drops a frame addressed to another MAC as otherhost, before IP sees it', () => {
    const { rt, link, b } = makePair();
    link.inject(1, echoTo(OTHER_MAC));
    rt.run();
    expect(drops(b, 'otherhost')).toBe(1);
    expect(b.net.snmp.IpInReceives).toBe(0);
    expectNoLeaks(b);
  });

  it('drops multicast frames (no group joined) and counts them', () => {
    const { rt, link, b, devB } = makePair();
    link.inject(1, echoTo(MCAST_MAC));
    rt.run();
    expect(drops(b, 'mac-multicast')).toBe(1);
    expect(devB.stats.multicast).toBe(1);
    expect(b.net.snmp.IpInReceives).toBe(0);
    expectNoLeaks(b);
  });

  it('counts a frame shorter than an Ethernet header as a length error', () => {
    const { rt, link, b, devB } = makePair();
    link.inject(1, new Uint8Array(10).fill(0xff));
    rt.run();
    expect(devB.stats.rx_packets).toBe(2); // A's gratuitous ARP and this one
    expect(devB.stats.rx_length_errors).toBe(1);
    expect(devB.stats.rx_errors).toBe(1);
    expect(drops(b, 'pkt-too-small')).toBe(1);
    // A later poll must not wipe the count (it used to copy the ring's own counter over it).
    link.inject(1, echoTo(B_MAC));
    rt.run();
    expect(devB.stats.rx_length_errors).toBe(1);
    expectNoLeaks(b);
  });

  it('counts a frame longer than an RX slot as a length error of the NIC, never reaching the stack', () => {
    const { rt, link, devB } = makePair();
    link.inject(1, ethFrame(B_MAC, A_MAC, ETHERTYPE_IPV4, new Uint8Array(1600)));
    rt.run();
    expect(devB.stats.rx_length_errors).toBe(1);
    expect(devB.stats.rx_packets).toBe(1); // only A's gratuitous ARP
  });

  it('counts an unknown ethertype as rx_nohandler', () => {
    const { rt, link, b, devB } = makePair();
    link.inject(1, ethFrame(B_MAC, A_MAC, 0x86dd, new Uint8Array(46)));
    link.inject(1, ethFrame(B_MAC, A_MAC, 0x88cc, new Uint8Array(46)));
    rt.run();
    expect(devB.stats.rx_nohandler).toBe(2);
    expect(drops(b, 'unhandled-protocol')).toBe(2);
    expectNoLeaks(b);
  });

  it('accepts a broadcast frame', () => {
    const { rt, link, b } = makePair();
    link.inject(1, ethFrame(0xffff_ffff_ffff, A_MAC, ETHERTYPE_IPV4, ipPacket({ src: A_IP, dst: B_IP, protocol: 253 }, new Uint8Array(4))));
    rt.run();
    expect(b.net.snmp.IpInReceives).toBe(1);
    expect(b.net.snmp.IpInUnknownProtos).toBe(1);
    expectNoLeaks(b);
  });

  it('pads frames shorter than the Ethernet minimum to 60 bytes when sending', () => {
    const { rt, b } = makePair();
    const sent: number[] = [];
    b.addTap((_d, _b, _o, len, dir) => dir === 'out' && sent.push(len));
    b.icmp.sendEcho(A_IP, 1, 1, new Uint8Array(0));
    rt.run();
    // The ARP request and the empty echo request: 42 bytes each before padding.
    expect(sent).toEqual([60, 60]);
  });
});
