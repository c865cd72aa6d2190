// UdpSocket, the dgram-shaped API: argument handling and errors compared
// with Node's own dgram (for the calls that throw before any I/O, so no real
// socket is ever bound or sends), asynchronous events, buffer sizes and
// close. One stack, loopback only, on a virtual clock.
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { VirtualRuntime } from '../../../src/core/runtime.js';
import { Stack } from '../../../src/stack.js';
import type { RemoteInfo, UdpSocket } from '../../../src/udp/socket.js';

function setup(): { rt: VirtualRuntime; s: Stack } {
  const rt = new VirtualRuntime();
  return { rt, s: new Stack({ runtime: rt }) };
}

function thrown(f: () => unknown): { name: string; code: unknown; message: string } | null {
  try {
    f();
  } catch (e) {
    const err = e as Error & { code?: unknown };
    return { name: err.name, code: err.code, message: err.message };
  }
  return null;
}

/** Either socket, called with whatever arguments a case wants to try. */
type Loose = Record<'send' | 'connect' | 'remoteAddress' | 'disconnect' | 'setRecvBufferSize' | 'getSendBufferSize' | 'close' | 'bind', (...args: unknown[]) => unknown>;
const loose = (s: dgram.Socket | UdpSocket): Loose => s as unknown as Loose;

describe('UdpSocket argument errors match dgram', () => {
  // Each case runs on a fresh unbound socket of either kind and must throw the same error.
  const cases: Array<[string, (s: Loose) => unknown]> = [
    ['send without a port', (s) => s.send('x')],
    ['send to port 0', (s) => s.send('x', 0)],
    ['send to port 65536', (s) => s.send('x', 65536, '127.0.0.1')],
    ['send to port "abc"', (s) => s.send('x', 'abc', '127.0.0.1')],
    ['send a number', (s) => s.send(5, 1234)],
    ['send a list with a number in it', (s) => s.send(['a', 5], 1234)],
    ['send with an offset past the end', (s) => s.send(Buffer.alloc(4), 5, 0, 1234, '127.0.0.1')],
    ['send with a length past the end', (s) => s.send(Buffer.alloc(4), 3, 4, 1234, '127.0.0.1')],
    ['send with a non-string address', (s) => s.send('x', 1234, 42)],
    ['connect to port 0', (s) => s.connect(0)],
    ['connect to a non-string address', (s) => s.connect(53, 42)],
    ['remoteAddress unconnected', (s) => s.remoteAddress()],
    ['disconnect unconnected', (s) => s.disconnect()],
    ['setRecvBufferSize(-1)', (s) => s.setRecvBufferSize(-1)],
    ['setRecvBufferSize unbound', (s) => s.setRecvBufferSize(4096)],
    ['getSendBufferSize unbound', (s) => s.getSendBufferSize()],
  ];

  for (const [what, call] of cases) {
    it(what, () => {
      const { s } = setup();
      const node = dgram.createSocket('udp4');
      const ours = s.createSocket('udp4');
      try {
        const want = thrown(() => call(loose(node)));
        expect(want, 'dgram throws').not.toBeNull();
        expect(thrown(() => call(loose(ours)))).toEqual(want);
      } finally {
        node.close();
      }
    });
  }

  it('after close: ERR_SOCKET_DGRAM_NOT_RUNNING, as dgram', () => {
    const { s } = setup();
    const node = dgram.createSocket('udp4');
    const ours = s.createSocket('udp4');
    node.close();
    ours.close();
    for (const call of [(x: Loose) => x.close(), (x: Loose) => x.send('x', 9, '127.0.0.1'), (x: Loose) => x.bind(0)]) {
      const want = thrown(() => call(loose(node)));
      expect(want?.code).toBe('ERR_SOCKET_DGRAM_NOT_RUNNING');
      expect(thrown(() => call(loose(ours)))).toEqual(want);
    }
  });

  it('rejects socket types other than udp4', () => {
    const { s } = setup();
    expect(thrown(() => s.createSocket('udp6' as 'udp4'))).toMatchObject({ name: 'TypeError', code: 'ERR_SOCKET_BAD_TYPE' });
    expect(thrown(() => s.createSocket({ type: 'udp4', recvBufferSize: -5 }))).toMatchObject({ code: 'ERR_SOCKET_BAD_BUFFER_SIZE' });
  });

  it('address() before bind is getsockname EBADF', () => {
    const { s } = setup();
    expect(thrown(() => s.createSocket('udp4').address())).toEqual({ name: 'Error', code: 'EBADF', message: 'getsockname EBADF' });
  });

  it('refuses a port out of range in bind (dgram would wrap it around)', () => {
    const { s } = setup();
    expect(thrown(() => s.createSocket('udp4').bind(70000))).toMatchObject({ name: 'RangeError', code: 'ERR_SOCKET_BAD_PORT' });
    expect(thrown(() => s.createSocket('udp4').bind(-1))).toMatchObject({ code: 'ERR_SOCKET_BAD_PORT' });
  });
});

describe('UdpSocket behaviour', () => {
  it('emits listening, connect and close asynchronously, in order', () => {
    const { rt, s } = setup();
    const sock = s.createSocket('udp4');
    const events: string[] = [];
    for (const e of ['listening', 'connect', 'close']) sock.on(e, () => events.push(e));
    sock.connect(9, '127.0.0.1', () => events.push('connect callback'));
    expect(events).toEqual([]);
    expect(sock.address().address).toBe('127.0.0.1');
    rt.run();
    expect(events).toEqual(['listening', 'connect', 'connect callback']);
    sock.close(() => events.push('close callback'));
    expect(events).toHaveLength(3);
    rt.run();
    expect(events.slice(3)).toEqual(['close', 'close callback']);
  });

  it('bind accepts (port, address, cb), ({port, address}, cb), (cb) and a numeric string', () => {
    const { rt, s } = setup();
    const a = s.createSocket('udp4');
    const b = s.createSocket('udp4');
    const c = s.createSocket('udp4');
    const d = s.createSocket('udp4');
    const done: string[] = [];
    a.bind(4000, '127.0.0.1', () => done.push('a'));
    b.bind({ port: 4001, address: '127.0.0.1' }, () => done.push('b'));
    c.bind(() => done.push('c'));
    d.bind('4002' as unknown as number);
    rt.run();
    expect(done).toEqual(['a', 'b', 'c']);
    expect(a.address()).toEqual({ address: '127.0.0.1', family: 'IPv4', port: 4000 });
    expect(b.address().port).toBe(4001);
    expect(c.address()).toMatchObject({ address: '0.0.0.0' });
    expect(d.address().port).toBe(4002);
    expect(thrown(() => a.bind(4005))).toMatchObject({ code: 'ERR_SOCKET_ALREADY_BOUND', message: 'Socket is already bound' });
  });

  it('bind to an address that is not ours is EADDRNOTAVAIL; a name it cannot resolve is ENOTFOUND', () => {
    const { rt, s } = setup();
    const a = s.createSocket('udp4');
    const b = s.createSocket('udp4');
    const errs: Error[] = [];
    let listening = 0;
    a.on('error', (e) => errs.push(e));
    b.on('error', (e) => errs.push(e));
    a.bind(5000, '10.99.99.99', () => listening++);
    b.bind(5000, 'example.invalid', () => listening++);
    rt.run();
    expect(errs.map((e) => e.message)).toEqual(['bind EADDRNOTAVAIL 10.99.99.99:5000', 'getaddrinfo ENOTFOUND example.invalid']);
    expect(errs[1]).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'example.invalid' });
    expect(listening).toBe(0);
    // The bind callback was only for that attempt: a later successful bind does not run it.
    a.bind(5000, 'localhost');
    rt.run();
    expect(listening).toBe(0);
    expect(a.address().address).toBe('127.0.0.1');
  });

  it('sends strings, views, lists and slices, binds implicitly and reports bytes sent', () => {
    const { rt, s } = setup();
    const rx = s.createSocket('udp4');
    const got: Array<[string, RemoteInfo]> = [];
    rx.on('message', (m: Buffer, r: RemoteInfo) => got.push([m.toString(), r]));
    rx.bind(7000);
    const tx = s.createSocket('udp4');
    const events: string[] = [];
    tx.on('listening', () => events.push('listening'));
    const sent: Array<[Error | null, number | undefined]> = [];
    const cb = (e: Error | null, n?: number) => sent.push([e, n]);
    tx.send('plain', 7000, '127.0.0.1', cb);
    tx.send(new Uint16Array([0x6968]), 7000, cb); // "hi" on little-endian, to localhost by default
    tx.send(['li', Buffer.from('st')], 7000, 'localhost', cb);
    tx.send(Buffer.from('xxsliceyy'), 2, 5, 7000, '127.0.0.1', cb);
    const vb = Buffer.from('view');
    tx.send(new DataView(vb.buffer, vb.byteOffset, 4), 7000, '127.0.0.1');
    tx.send([], 7000, '127.0.0.1', cb);
    rt.run();
    expect(events).toEqual(['listening']);
    expect(sent).toEqual([[null, 5], [null, 2], [null, 4], [null, 5], [null, 0]]);
    expect(got.map(([m]) => m)).toEqual(['plain', 'hi', 'list', 'slice', 'view', '']);
    expect(got[0]![1]).toEqual({ address: '127.0.0.1', family: 'IPv4', port: tx.address().port, size: 5 });
  });

  it('on a connected socket: send(msg) goes to the peer, a port after offset/length is ERR_SOCKET_DGRAM_IS_CONNECTED', () => {
    const { rt, s } = setup();
    const rx = s.createSocket('udp4');
    const got: string[] = [];
    rx.on('message', (m: Buffer) => got.push(m.toString()));
    rx.bind(7001);
    const tx = s.createSocket('udp4');
    tx.connect(7001);
    expect(thrown(() => tx.connect(7001))).toMatchObject({ code: 'ERR_SOCKET_DGRAM_IS_CONNECTED', message: 'Already connected' });
    expect(thrown(() => tx.send('x', 0, 1, 7001))).toMatchObject({ code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
    const sent: Array<number | undefined> = [];
    tx.send('one', (_e, n) => sent.push(n));
    // dgram's quirk, kept: (msg, port[, address]) on a connected socket reads the port as a
    // non-function callback and sends to the peer (Node 20 does exactly this).
    tx.send('one', 9999 as unknown as () => void);
    tx.send(Buffer.from('xtwox'), 1, 3, (_e, n) => sent.push(n));
    rt.run();
    expect(got).toEqual(['one', 'one', 'two']);
    expect(sent).toEqual([3, 3]);
    expect(tx.remoteAddress()).toEqual({ address: '127.0.0.1', family: 'IPv4', port: 7001 });
    tx.disconnect();
    expect(thrown(() => tx.remoteAddress())).toMatchObject({ code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
    // Unconnected again, it can reach any port.
    tx.send('three', 7001, '127.0.0.1');
    rt.run();
    expect(got).toEqual(['one', 'one', 'two', 'three']);
  });

  it('a send error with no callback is dropped, as dgram does; a lookup failure is an error event', () => {
    const { rt, s } = setup();
    const tx = s.createSocket('udp4');
    const errs: Error[] = [];
    tx.on('error', (e) => errs.push(e));
    tx.send(Buffer.alloc(70000), 9, '127.0.0.1');
    tx.send('x', 9, 'no.such.host');
    rt.run();
    expect(errs.map((e) => (e as Error & { code: string }).code)).toEqual(['ENOTFOUND']);
  });

  it('stores SO_RCVBUF and SO_SNDBUF the way Linux does (doubled, clamped)', () => {
    const { s } = setup();
    const sock = s.createSocket({ type: 'udp4', recvBufferSize: 100000 });
    sock.bind(0);
    expect(sock.getRecvBufferSize()).toBe(200000);
    expect(sock.getSendBufferSize()).toBe(212992);
    sock.setRecvBufferSize(1000);
    expect(sock.getRecvBufferSize()).toBe(2304); // SOCK_MIN_RCVBUF
    sock.setRecvBufferSize(10_000_000);
    expect(sock.getRecvBufferSize()).toBe(2 * 212992); // rmem_max
    sock.setSendBufferSize(1);
    expect(sock.getSendBufferSize()).toBe(4608); // SOCK_MIN_SNDBUF
    expect(thrown(() => sock.setRecvBufferSize(1.5))).toMatchObject({ code: 'ERR_SOCKET_BAD_BUFFER_SIZE' });
  });

  it('setTTL, setBroadcast, ref and unref', () => {
    const { s } = setup();
    const sock = s.createSocket('udp4');
    expect(sock.ref()).toBe(sock);
    expect(sock.unref()).toBe(sock);
    expect(sock.setTTL(3)).toBe(3);
    expect(thrown(() => sock.setTTL(0))).toMatchObject({ code: 'EINVAL', message: 'setTTL EINVAL' });
    expect(thrown(() => sock.setTTL('1' as unknown as number))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    sock.setBroadcast(true);
    expect(sock.getSendQueueSize()).toBe(0);
    expect(sock.getSendQueueCount()).toBe(0);
  });

  it('close discards what is queued, frees the port, and emits no more messages', () => {
    const { rt, s } = setup();
    const rx = s.createSocket('udp4');
    let messages = 0;
    rx.on('message', () => {
      messages++;
      if (messages === 1) rx.close(); // from inside the first delivery
    });
    rx.bind(7002);
    const tx = s.createSocket('udp4');
    for (let i = 0; i < 10; i++) tx.send('m', 7002, '127.0.0.1');
    rt.run();
    expect(messages).toBe(1);
    expect(s.net.snmp.UdpInDatagrams).toBe(1);
    const again = s.createSocket('udp4');
    again.bind(7002);
    expect(again.address().port).toBe(7002);
    tx.close();
    again.close();
    rt.run();
    expect(s.net.pool.stats.inUse).toBe(0);
  });

  it('reads at most 32 datagrams per turn, then yields', () => {
    const { rt, s } = setup();
    const rx = s.createSocket('udp4');
    const turns: number[] = [];
    let turn = 0;
    rx.on('message', () => turns.push(turn));
    rx.bind(7003);
    const tx = s.createSocket('udp4');
    for (let i = 0; i < 70; i++) tx.send('m', 7003, '127.0.0.1');
    // Count event-loop turns: a marker re-deferred each turn.
    const tick = () => {
      turn++;
      if (turn < 20) rt.defer(tick);
    };
    rt.defer(tick);
    rt.run();
    expect(turns).toHaveLength(70);
    const perTurn = new Map<number, number>();
    for (const t of turns) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(32);
  });
});
