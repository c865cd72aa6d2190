// The stack as a client, as `ustack ping` and `ustack fetch` drive it through
// the control socket: the requests must travel through the stack (never the
// host kernel), and traffic to the stack's own address must stay on lo.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { fetchCommand, pingCommand } from '../../src/cli/commands.js';
import { startHttp } from '../../src/services/tcpServices.js';
import { makePair, runUntil } from '../helpers/pair.js';

describe('client commands of a running stack', () => {
  it('fetch runs Node http over the stack TCP and hashes the body', async () => {
    const { rt, a, b } = makePair();
    startHttp(b, 80, () => 'page');
    let out = '';
    void fetchCommand(a, ['http://10.0.0.2/bytes/5000']).then((s) => (out = s));
    await runUntil(rt, () => out !== '', 10_000);
    const body = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7 + 3) & 0xff));
    expect(out).toBe(`status 200 bytes 5000 sha256 ${createHash('sha256').update(body).digest('hex')}\n`);
    expect(a.net.tcp.TcpActiveOpens).toBe(1); // the request went through the stack, not the kernel
    expect(b.net.tcp.TcpPassiveOpens).toBe(1);
  });

  it('fetch of a closed port reports ECONNREFUSED', async () => {
    const { rt, a } = makePair();
    let out = '';
    void fetchCommand(a, ['http://10.0.0.2:81/']).then((s) => (out = s));
    await runUntil(rt, () => out !== '', 10_000);
    expect(out).toMatch(/^error: ECONNREFUSED/);
  });

  it('a ping of its own address goes through lo and leaves the NIC untouched', async () => {
    const { rt, a, devA } = makePair();
    const before = { tx: devA.stats.tx_packets, rx: devA.stats.rx_packets };
    // pingCommand paces itself with real timers (it runs in the CLI); the virtual runtime is pumped meanwhile.
    let out = '';
    void pingCommand(a, ['10.0.0.1', '2', '100']).then((s) => (out = s));
    while (out === '') {
      rt.run();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(out).toContain('2 packets transmitted, 2 received');
    expect(a.lo.stats.tx_packets).toBe(4); // two requests and two replies
    expect(devA.stats.tx_packets).toBe(before.tx);
    expect(devA.stats.rx_packets).toBe(before.rx);
  });
});

describe('127/8 is local', () => {
  it('a UDP socket binds 127.0.0.2 and receives a datagram sent to it over lo', async () => {
    const { rt, a } = makePair();
    const server = a.createSocket('udp4');
    const got: string[] = [];
    server.on('message', (m: Buffer) => got.push(m.toString()));
    server.bind(5353, '127.0.0.2');
    const client = a.createSocket('udp4');
    client.send(Buffer.from('hi'), 5353, '127.0.0.2');
    await runUntil(rt, () => got.length > 0, 1000);
    expect(got).toEqual(['hi']);
    expect(a.lo.stats.rx_packets).toBeGreaterThan(0);
  });
});
