// Output routing between stacks built by hand: a default gateway is the next
// hop (ARP asks for it, not the destination), and a host that does not
// forward drops what is not for it.
import { describe, expect, it } from 'vitest';
import { VirtualRuntime } from '../../src/core/runtime.js';
import { pingPayload } from '../../src/ipv4/ping.js';
import { MemoryLink } from '../../src/nic/memoryLink.js';
import { Stack } from '../../src/stack.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { sniff } from '../helpers/frames.js';
import { A_MAC, B_MAC, drops, expectNoLeaks } from '../helpers/pair.js';

const ip = (s: string) => parseIpv4(s)!;

describe('routing', () => {
  it('traffic off the subnet goes to the gateway’s MAC with the far destination in IP', () => {
    const rt = new VirtualRuntime();
    const link = new MemoryLink(rt);
    const a = new Stack({ runtime: rt });
    const b = new Stack({ runtime: rt });
    a.addInterface({ name: 'eth0', mac: A_MAC, addresses: ['10.0.0.1/24'], gateway: '10.0.0.2', driver: link.port(0) });
    b.addInterface({ name: 'eth0', mac: B_MAC, addresses: ['10.0.0.2/24'], driver: link.port(1) });
    rt.run();
    const out = sniff(a);
    a.createPingSocket().send(ip('192.0.2.7'), 1, pingPayload(56, 1));
    rt.advance(10);
    expect(out[0]!.arp!.targetIp).toBe(ip('10.0.0.2'));
    const echo = out.find((f) => f.ip)!;
    expect(echo.ethDst).toBe(B_MAC);
    expect(echo.ip!.dst).toBe(ip('192.0.2.7'));
    expect(echo.ip!.src).toBe(ip('10.0.0.1'));
    // B does not forward: not for us.
    expect(b.net.snmp.IpInAddrErrors).toBe(1);
    expect(drops(b, 'ip-not-for-us')).toBe(1);
    expectNoLeaks(a, b);
  });

  it('addInterface validates its arguments with Node-style error codes', () => {
    const rt = new VirtualRuntime();
    const link = new MemoryLink(rt);
    const s = new Stack({ runtime: rt });
    const base = { name: 'eth0', mac: A_MAC, driver: link.port(0) };
    expect(() => s.addInterface({ ...base, mac: 'zz:00:00:00:00:01' })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => s.addInterface({ ...base, mtu: 67 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => s.addInterface({ ...base, mtu: 1500.5 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => s.addInterface({ ...base, addresses: ['10.0.0.1'] })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => s.addInterface({ ...base, gateway: '10.0.0' })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    s.addInterface(base);
    expect(() => s.addInterface(base)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => s.addInterface({ ...base, name: 'lo' })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });

  it('close stops the devices and frees what was queued', () => {
    const rt = new VirtualRuntime();
    const link = new MemoryLink(rt);
    const a = new Stack({ runtime: rt });
    a.addInterface({ name: 'eth0', mac: A_MAC, addresses: ['10.0.0.1/24'], driver: link.port(0) });
    rt.run();
    a.createPingSocket().send(ip('10.0.0.9'), 1, pingPayload(56, 1)); // waits for ARP
    rt.run();
    a.close();
    expect(a.neigh.size).toBe(0);
    expectNoLeaks(a);
    expect(() => a.createPingSocket().send(ip('10.0.0.9'), 2, pingPayload(8, 2))).not.toThrow();
    rt.advance(5000);
    expectNoLeaks(a);
  });
});
