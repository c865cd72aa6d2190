// TcpServer against Node's net.Server (https://nodejs.org/api/net.html#class-netserver,
// lib/net.js): address() before and after listen, listen(0), the 'listening'
// event and the listen callback, EADDRINUSE as an 'error', a second listen,
// close() when not running, and getConnections.

import { describe, expect, it } from 'vitest';
import { makePair, runUntil } from '../helpers/pair.js';
import { VirtualRuntime } from '../../src/core/runtime.js';
import { Stack } from '../../src/stack.js';
import type { TcpSocket } from '../../src/socket/tcpSocket.js';
import type { TcpServer } from '../../src/socket/tcpServer.js';

/** Events of a server, in order, with the argument shapes that matter. */
function record(server: TcpServer): string[] {
  const log: string[] = [];
  server.on('listening', () => log.push('listening'));
  server.on('close', () => log.push('close'));
  server.on('error', (e: NodeJS.ErrnoException) => log.push(`error ${e.code}`));
  server.on('connection', () => log.push('connection'));
  return log;
}

function thrown(f: () => unknown): { code?: string; message: string } | null {
  try {
    f();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { code: err.code, message: err.message };
  }
  return null;
}

describe('TcpServer: address() and listen', () => {
  it('address() is null before listen, the bound address and port after it, null again after close', () => {
    const { rt, b } = makePair();
    const any = b.createServer();
    const one = b.createServer();
    expect(any.address()).toBeNull();
    expect(any.listening).toBe(false);
    any.listen(7000);
    one.listen(7001, '10.0.0.2');
    // As Node: bound (and listening) at once; the event comes on the next turn.
    expect(any.listening).toBe(true);
    expect(any.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 7000 });
    expect(one.address()).toEqual({ address: '10.0.0.2', family: 'IPv4', port: 7001 });
    rt.run();
    any.close();
    expect(any.listening).toBe(false);
    expect(any.address()).toBeNull();
  });

  it("emits 'listening' on the next turn, and calls the listen callback once, with it", () => {
    const { rt, b } = makePair();
    const server = b.createServer();
    const log = record(server);
    let calls = 0;
    server.listen(7000, () => {
      calls++;
      log.push('cb');
    });
    expect(log).toEqual([]); // not synchronously
    rt.run();
    expect(log).toEqual(['listening', 'cb']);
    expect(calls).toBe(1);

    // The options form and the callback after host and backlog.
    const other = b.createServer();
    let otherCb = 0;
    other.listen({ port: 7001, host: '10.0.0.2', backlog: 8 }, () => otherCb++);
    const third = b.createServer();
    let thirdCb = 0;
    third.listen(7002, '10.0.0.2', 16, () => thirdCb++);
    rt.run();
    expect([otherCb, thirdCb]).toEqual([1, 1]);
    expect(b.tcp.listenerTable().map((l) => [l.port, l.backlog])).toEqual(
      expect.arrayContaining([
        [7000, 511],
        [7001, 8],
        [7002, 16],
      ]),
    );
  });

  it('listen(0) and listen() pick an ephemeral port that address() reports and that accepts connections', async () => {
    const { rt, a, b } = makePair();
    const zero = b.createServer((s: TcpSocket) => s.end('zero'));
    zero.listen(0);
    const none = b.createServer((s: TcpSocket) => s.end('none'));
    none.listen();
    const p0 = zero.address()!.port;
    const p1 = none.address()!.port;
    for (const p of [p0, p1]) {
      expect(p).toBeGreaterThanOrEqual(32768);
      expect(p).toBeLessThanOrEqual(60999);
    }
    expect(p0).not.toBe(p1);
    expect(zero.address()!.address).toBe('0.0.0.0');
    rt.run();

    const got: string[] = [];
    for (const p of [p0, p1]) {
      const c = a.connect(p, '10.0.0.2');
      let text = '';
      c.on('data', (d: Buffer) => (text += d.toString()));
      c.on('end', () => got.push(text));
    }
    expect(await runUntil(rt, () => got.length === 2, 5000)).toBe(true);
    expect(got.sort()).toEqual(['none', 'zero']);
  });

  it("a port in use is an 'error' EADDRINUSE on the next turn, shaped as Node's; the server is not listening and can listen elsewhere", () => {
    const { rt, b } = makePair();
    b.createServer().listen(7000);
    rt.run();
    for (const host of [undefined, '10.0.0.2']) {
      const server = b.createServer();
      const log = record(server);
      let errObj: NodeJS.ErrnoException | null = null;
      server.on('error', (e: NodeJS.ErrnoException) => (errObj = e));
      let cb = 0;
      if (host) server.listen(7000, host, () => cb++);
      else server.listen(7000, () => cb++);
      expect(log).toEqual([]); // never thrown, never synchronous
      expect(server.listening).toBe(false);
      expect(server.address()).toBeNull();
      rt.run();
      expect(log).toEqual(['error EADDRINUSE']);
      expect(cb).toBe(0);
      const err = errObj!;
      expect(err).toBeInstanceOf(Error);
      expect(err.syscall).toBe('listen');
      expect(err.message).toBe(`listen EADDRINUSE: address already in use ${host ?? '0.0.0.0'}:7000`);
      expect(err).toMatchObject({ address: host ?? '0.0.0.0', port: 7000 });

      // Not listening: it may listen again, on a free port.
      server.listen(host ? 7100 : 7101);
      rt.run();
      expect(server.listening).toBe(true);
      expect(log.at(-1)).toBe('listening');
    }
  });

  it('listen(0) never picks a port a connection already uses locally (bind(0) checks the port, not the 4-tuple)', async () => {
    const { rt, a, b } = makePair();
    b.createServer(() => {}).listen(80);
    rt.run();
    const c = b.connect(80, '10.0.0.1'); // B's own connection takes the next ephemeral port…
    c.on('error', () => {});
    const used = c.localPort!;
    // …and the next listen(0) must not reuse it, even though it is not a listener.
    (b.tcp as unknown as { nextPort: number }).nextPort = used;
    const server = b.createServer(() => {}).listen(0);
    expect(server.address()!.port).not.toBe(used);
    void a;
  });

  it('listen(0) with every ephemeral port taken is EADDRINUSE, as bind(0) on Linux', () => {
    const rt = new VirtualRuntime({ seed: 1 });
    const stack = new Stack({ runtime: rt, tcp: { portLow: 40000, portHigh: 40001 } });
    const ports = [stack.createServer().listen(0), stack.createServer().listen(0)].map((s) => s.address()!.port);
    expect(ports.sort()).toEqual([40000, 40001]);
    const third = stack.createServer();
    let err: NodeJS.ErrnoException | null = null;
    third.on('error', (e: NodeJS.ErrnoException) => (err = e));
    third.listen(0);
    rt.run();
    expect(err!.code).toBe('EADDRINUSE');
    expect(err!.message).toBe('listen EADDRINUSE: address already in use 0.0.0.0:0');
    expect(third.listening).toBe(false);
  });

  it('a second listen throws ERR_SERVER_ALREADY_LISTEN and leaves its callback unregistered; bad arguments throw', () => {
    const { rt, b } = makePair();
    const server = b.createServer();
    server.listen(7000);
    rt.run();
    const before = server.listenerCount('listening');
    expect(thrown(() => server.listen(7001, () => {}))).toMatchObject({ code: 'ERR_SERVER_ALREADY_LISTEN' });
    expect(server.listenerCount('listening')).toBe(before);
    expect(server.address()!.port).toBe(7000);

    const fresh = b.createServer();
    expect(thrown(() => fresh.listen(70000, () => {}))).toMatchObject({ code: 'ERR_SOCKET_BAD_PORT' });
    expect(thrown(() => fresh.listen(-1))).toMatchObject({ code: 'ERR_SOCKET_BAD_PORT' });
    expect(thrown(() => fresh.listen(7002, 'localhost'))).toMatchObject({ code: 'EINVAL' });
    expect(fresh.listenerCount('listening')).toBe(0);
    expect(fresh.listening).toBe(false);
  });
});

describe('TcpServer: close() and getConnections()', () => {
  it("close() when not listening: 'close' is emitted, and the callback gets ERR_SERVER_NOT_RUNNING with it (Node)", () => {
    const { rt, b } = makePair();
    const never = b.createServer();
    const log = record(never);
    let err: NodeJS.ErrnoException | undefined | null = null;
    never.close((e) => {
      err = e;
      log.push('cb');
    });
    expect(log).toEqual([]);
    rt.run();
    expect(log).toEqual(['close', 'cb']);
    expect(err).toBeInstanceOf(Error);
    expect(err!.code).toBe('ERR_SERVER_NOT_RUNNING');
    expect(err!.message).toBe('Server is not running.');

    // Closed once, closed again: the second close() is "not running" too.
    const once = b.createServer();
    once.listen(7000);
    rt.run();
    const results: Array<string | undefined> = [];
    once.close((e) => results.push(e ? (e as NodeJS.ErrnoException).code : 'ok'));
    rt.run();
    once.close((e) => results.push(e ? (e as NodeJS.ErrnoException).code : 'ok'));
    rt.run();
    expect(results).toEqual(['ok', 'ERR_SERVER_NOT_RUNNING']);
  });

  it('getConnections counts accepted sockets until they close, asynchronously; close() waits for them', async () => {
    const { rt, a, b } = makePair();
    const accepted: TcpSocket[] = [];
    const server = b.createServer((s: TcpSocket) => accepted.push(s));
    const log = record(server);
    server.listen(7000);
    rt.run();

    const count = async (): Promise<number> => {
      let n = -1;
      let sync = true;
      server.getConnections((err, c) => {
        expect(err).toBeNull();
        expect(sync).toBe(false); // never synchronous
        n = c;
      });
      sync = false;
      await runUntil(rt, () => n >= 0, 10);
      return n;
    };
    expect(await count()).toBe(0);

    const clients = [a.connect(7000, '10.0.0.2'), a.connect(7000, '10.0.0.2')];
    for (const c of clients) c.on('error', () => {});
    expect(await runUntil(rt, () => accepted.length === 2, 2000)).toBe(true);
    expect(await count()).toBe(2);

    // close(): no new connections, but 'close' (and the callback, without an error) waits for both.
    let closeErr: Error | undefined | null = null;
    server.close((e) => (closeErr = e));
    expect(server.listening).toBe(false);
    expect(server.address()).toBeNull();
    await runUntil(rt, () => false, 100);
    expect(log).not.toContain('close');
    expect(await count()).toBe(2);

    let closed = 0;
    for (const s of accepted) s.on('close', () => closed++);
    accepted[0]!.destroy();
    expect(await runUntil(rt, () => closed === 1, 2000)).toBe(true);
    expect(await count()).toBe(1);
    expect(log).not.toContain('close');

    accepted[1]!.destroy();
    expect(await runUntil(rt, () => log.includes('close'), 2000)).toBe(true);
    expect(closeErr).toBeUndefined();
    expect(await count()).toBe(0);
    expect(log.filter((e) => e === 'close')).toHaveLength(1);
  });

  it('listening again after close() while old connections drain does not emit a stray close', async () => {
    const { rt, a, b } = makePair();
    const accepted: TcpSocket[] = [];
    const server = b.createServer((s: TcpSocket) => accepted.push(s));
    const log = record(server);
    server.listen(7000);
    const c = a.connect(7000, '10.0.0.2');
    c.on('error', () => {});
    expect(await runUntil(rt, () => accepted.length === 1, 2000)).toBe(true);
    server.close();
    server.listen(7001);
    rt.run();
    expect(server.listening).toBe(true);
    accepted[0]!.destroy();
    await runUntil(rt, () => false, 500);
    // Node's _emitCloseIfDrained: no 'close' while it has a handle again.
    expect(log.filter((e) => e === 'close')).toEqual([]);
  });
});
