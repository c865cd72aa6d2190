import { describe, expect, it } from 'vitest';
import { Fib } from '../../../src/ipv4/route.js';
import { NetDevice } from '../../../src/nic/device.js';
import { parseIpv4 } from '../../../src/wire/address.js';

const ip = (s: string) => parseIpv4(s)!;
const eth0 = new NetDevice('eth0', 2, 1500, 1);
const eth1 = new NetDevice('eth1', 3, 1500, 2);

describe('Fib', () => {
  it('an address brings its local, broadcast and on-link prefix routes', () => {
    const fib = new Fib();
    fib.addAddress(eth0, ip('10.0.0.2'), 24);
    expect(fib.show()).toEqual([
      'local 10.0.0.2 dev eth0 src 10.0.0.2',
      'broadcast 10.0.0.255 dev eth0 src 10.0.0.2',
      '10.0.0.0/24 dev eth0 src 10.0.0.2',
    ]);
    expect(fib.lookup(ip('10.0.0.2'))!.type).toBe('local');
    expect(fib.lookup(ip('10.0.0.255'))!.type).toBe('broadcast');
    expect(fib.lookup(ip('10.0.0.77'))).toMatchObject({ type: 'unicast', dev: eth0, gateway: 0 });
    expect(fib.lookup(ip('10.0.1.1'))).toBeNull();
    expect(fib.isBroadcastOn(eth0, ip('10.0.0.255'))).toBe(true);
    expect(fib.isBroadcastOn(eth1, ip('10.0.0.255'))).toBe(false);
  });

  it('/31 and /32 addresses have no broadcast address', () => {
    const fib = new Fib();
    expect(fib.addAddress(eth0, ip('10.9.9.0'), 31).broadcast).toBe(0);
    expect(fib.addAddress(eth1, ip('10.8.8.8'), 32).broadcast).toBe(0);
    expect(fib.table.filter((r) => r.type === 'broadcast')).toHaveLength(0);
    expect(fib.lookup(ip('10.9.9.1'))!.dev).toBe(eth0);
  });

  it('the longest prefix wins, then the lowest metric, and the default route catches the rest', () => {
    const fib = new Fib();
    fib.addAddress(eth0, ip('10.0.0.2'), 24);
    fib.addRoute({ dst: 0, prefixLen: 0, dev: eth0, gateway: ip('10.0.0.1'), type: 'unicast', prefsrc: 0, metric: 0 });
    fib.addRoute({ dst: ip('10.0.0.128'), prefixLen: 25, dev: eth1, gateway: 0, type: 'unicast', prefsrc: 0, metric: 0 });
    fib.addRoute({ dst: ip('172.16.0.0'), prefixLen: 12, dev: eth1, gateway: ip('10.0.0.9'), type: 'unicast', prefsrc: 0, metric: 20 });
    fib.addRoute({ dst: ip('172.16.5.0'), prefixLen: 12, dev: eth0, gateway: ip('10.0.0.8'), type: 'unicast', prefsrc: 0, metric: 10 });
    expect(fib.lookup(ip('10.0.0.200'))!.dev).toBe(eth1);
    expect(fib.lookup(ip('10.0.0.100'))!.dev).toBe(eth0);
    expect(fib.lookup(ip('172.20.1.1'))!.gateway).toBe(ip('10.0.0.8')); // dst masked to 172.16/12; metric 10 wins
    expect(fib.lookup(ip('8.8.8.8'))!.gateway).toBe(ip('10.0.0.1'));
    expect(fib.show()).toContain('default via 10.0.0.1 dev eth0');
    expect(fib.show()).toContain('172.16.0.0/12 via 10.0.0.8 dev eth0 metric 10');
  });

  it('selects a source on the device in the destination’s subnet, else the device’s first address', () => {
    const fib = new Fib();
    fib.addAddress(eth0, ip('10.0.0.2'), 24);
    fib.addAddress(eth0, ip('192.168.1.2'), 24);
    fib.addAddress(eth1, ip('172.16.0.2'), 16);
    expect(fib.selectSource(eth0, ip('192.168.1.50'))).toBe(ip('192.168.1.2'));
    expect(fib.selectSource(eth0, ip('8.8.8.8'))).toBe(ip('10.0.0.2'));
    expect(fib.selectSource(eth1, ip('8.8.8.8'))).toBe(ip('172.16.0.2'));
    expect(fib.isLocal(ip('172.16.0.2'))).toBe(true);
    expect(fib.addressOn(eth0, ip('172.16.0.2'))).toBeNull();
  });

  it('removing a device removes its addresses and routes', () => {
    const fib = new Fib();
    fib.addAddress(eth0, ip('10.0.0.2'), 24);
    fib.addAddress(eth1, ip('10.1.0.2'), 24);
    fib.removeDevice(eth0);
    expect(fib.isLocal(ip('10.0.0.2'))).toBe(false);
    expect(fib.lookup(ip('10.0.0.5'))).toBeNull();
    expect(fib.lookup(ip('10.1.0.5'))!.dev).toBe(eth1);
  });
});
