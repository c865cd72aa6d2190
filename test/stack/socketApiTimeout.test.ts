// TcpSocket.setTimeout against Node's semantics (lib/net.js
// Socket.prototype.setTimeout → setStreamTimeout, and _unrefTimer on
// activity): setTimeout(ms) restarts the idle timer with the new duration
// from now, whether it is shorter or longer than the old one; setTimeout(0)
// disables it (and removes the callback given with it); data in, a write, the
// connect and the peer's FIN restart it; 'timeout' is emitted once per idle
// period and the socket stays open. All on the virtual clock.

import { describe, expect, it } from 'vitest';
import { makePair, runUntil, type Pair } from '../helpers/pair.js';
import type { TcpSocket } from '../../src/socket/tcpSocket.js';

interface Conn extends Pair {
  c: TcpSocket;
  s: TcpSocket;
  /** Virtual times at which the client emitted 'timeout'. */
  timeouts: number[];
}

/** A connected pair, client c on A and accepted s on B, both idle; c's 'timeout's recorded. */
async function connected(): Promise<Conn> {
  const p = makePair();
  let s: TcpSocket | null = null;
  p.b.createServer((sock: TcpSocket) => (s = sock)).listen(7000);
  p.rt.run();
  const c = p.a.connect(7000, '10.0.0.2');
  expect(await runUntil(p.rt, () => s !== null && !c.connecting, 1000)).toBe(true);
  const timeouts: number[] = [];
  c.on('timeout', () => timeouts.push(p.rt.clock.now()));
  return { ...p, c, s: s!, timeouts };
}

/** Runs the virtual clock `ms` further, yielding to Node every millisecond. */
async function idle(p: Pair, ms: number): Promise<void> {
  await runUntil(p.rt, () => false, ms);
}

describe('TcpSocket.setTimeout (Node semantics)', () => {
  it('shortening the timeout re-arms the pending timer: it fires at the new, earlier deadline', async () => {
    const p = await connected();
    const t0 = p.rt.clock.now();
    p.c.setTimeout(10_000);
    await idle(p, 1000);
    p.c.setTimeout(2000); // from now: due at t0 + 3000, not t0 + 10 000
    await idle(p, 12_000);
    expect(p.timeouts).toEqual([t0 + 3000]);
  });

  it('lengthening the timeout restarts it from now with the new duration', async () => {
    const p = await connected();
    const t0 = p.rt.clock.now();
    p.c.setTimeout(2000);
    await idle(p, 1000);
    p.c.setTimeout(10_000);
    await idle(p, 12_000);
    expect(p.timeouts).toEqual([t0 + 11_000]);
  });

  it('setting the same timeout again restarts it from now', async () => {
    const p = await connected();
    const t0 = p.rt.clock.now();
    p.c.setTimeout(2000);
    await idle(p, 1500);
    p.c.setTimeout(2000);
    await idle(p, 5000);
    expect(p.timeouts).toEqual([t0 + 3500]);
  });

  it('setTimeout(0) disables a pending timer, and removes the callback passed with it', async () => {
    const p = await connected();
    let called = 0;
    const cb = (): void => void called++;
    p.c.setTimeout(1000, cb);
    expect(p.c.listenerCount('timeout')).toBe(2);
    await idle(p, 500);
    p.c.setTimeout(0, cb);
    expect(p.c.listenerCount('timeout')).toBe(1);
    expect(p.c.timeout).toBe(0);
    await idle(p, 5000);
    expect(p.timeouts).toEqual([]);
    expect(called).toBe(0);
  });

  it('data received restarts the idle timer', async () => {
    const p = await connected();
    const t0 = p.rt.clock.now();
    let gotAt = -1;
    p.c.on('data', () => (gotAt = p.rt.clock.now()));
    p.c.setTimeout(1000);
    await idle(p, 600);
    p.s.write('ping');
    expect(await runUntil(p.rt, () => gotAt >= 0, 100)).toBe(true);
    expect(gotAt).toBeGreaterThanOrEqual(t0 + 600);
    await idle(p, 3000);
    expect(p.timeouts).toEqual([gotAt + 1000]);
  });

  it('a write restarts the idle timer', async () => {
    const p = await connected();
    const t0 = p.rt.clock.now();
    p.c.setTimeout(1000);
    await idle(p, 600);
    p.c.write('pong');
    await idle(p, 3000);
    expect(p.timeouts).toEqual([t0 + 1600]);
  });

  it("emits 'timeout' once per idle period, leaves the socket open, and counts again after activity", async () => {
    const p = await connected();
    let cbCalls = 0;
    p.c.setTimeout(500, () => void cbCalls++);
    expect(p.c.timeout).toBe(500);
    await idle(p, 5000);
    expect(p.timeouts).toHaveLength(1);
    expect(cbCalls).toBe(1); // a once listener
    expect(p.c.destroyed).toBe(false);
    expect(p.c.readyState).toBe('open');

    // Still a working connection; the write starts a new idle period.
    const got: Buffer[] = [];
    p.s.on('data', (d: Buffer) => got.push(d));
    const wroteAt = p.rt.clock.now();
    p.c.write('still here');
    await idle(p, 5000);
    expect(Buffer.concat(got).toString()).toBe('still here');
    expect(p.timeouts).toHaveLength(2);
    expect(p.timeouts[1]).toBeGreaterThanOrEqual(wroteAt + 500);
    expect(cbCalls).toBe(1);
  });

  it('validates its arguments as Node does, and is a no-op once destroyed', async () => {
    const p = await connected();
    expect(p.c.timeout).toBeUndefined();
    const code = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return (e as NodeJS.ErrnoException).code;
      }
      return 'no throw';
    };
    expect(code(() => p.c.setTimeout(-1))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => p.c.setTimeout(Number.NaN))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => p.c.setTimeout('10' as unknown as number))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => p.c.setTimeout(10, 'cb' as unknown as () => void))).toBe('ERR_INVALID_ARG_TYPE');

    p.c.setTimeout(1000);
    p.c.destroy();
    p.c.setTimeout(200);
    await idle(p, 3000);
    expect(p.timeouts).toEqual([]);
  });
});
