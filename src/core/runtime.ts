// runtime: everything the stack takes from the outside world — time,
// randomness and a way to run work later. The stack never reads a global
// clock or calls Math.random(): a test passes a VirtualRuntime and advances
// time by hand (TIME_WAIT, reassembly timeouts and RTO back-off run in
// microseconds, the same every run); the CLI passes the real one.

import { TimerWheel } from './timers.js';

export interface Clock {
  /** Milliseconds (fractional) on a monotonic clock whose origin is the Unix epoch. */
  now(): number;
}

export interface Random {
  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number;
  /** Fills `out` with random bytes (secret material such as ISN keys). */
  fill(out: Uint8Array): void;
}

export interface Runtime {
  readonly clock: Clock;
  readonly random: Random;
  readonly timers: TimerWheel;
  /**
   * Runs `cb` after the current event-loop turn, letting I/O in between: the
   * stack's "raise softirq". Real runtime: setImmediate.
   */
  defer(cb: () => void): void;
  /**
   * Runs `cb` as soon as the current call stack unwinds, before any I/O: used
   * to ring a TX doorbell once per batch (xmit_more). Real runtime: a microtask.
   */
  soon(cb: () => void): void;
}

/** mulberry32: a small, fast, seeded generator — deterministic tests, not secrets. */
export class SeededRandom implements Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  u32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  fill(out: Uint8Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.u32() & 0xff;
  }
}

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  constructor(private t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    if (t < this.t) throw new Error('ManualClock cannot go backwards');
    this.t = t;
  }
}

/**
 * VirtualRuntime: a manual clock, a seeded generator and a FIFO of deferred
 * work. Nothing runs until the test calls `run()` or `advance(ms)`, which
 * drains deferred work and fires timers in deadline order.
 */
export class VirtualRuntime implements Runtime {
  readonly clock: ManualClock;
  readonly random: Random;
  readonly timers: TimerWheel;
  private queue: Array<() => void> = [];
  private qHead = 0;

  constructor(opts: { seed?: number; start?: number } = {}) {
    this.clock = new ManualClock(opts.start);
    this.random = new SeededRandom(opts.seed ?? 1);
    this.timers = new TimerWheel(this.clock.now());
  }

  defer(cb: () => void): void {
    this.queue.push(cb);
  }
  soon(cb: () => void): void {
    this.queue.push(cb);
  }

  /** Drains deferred work at the current time. Bounded so a livelock fails loudly. */
  run(maxSteps = 10_000_000): void {
    let steps = 0;
    while (this.qHead < this.queue.length) {
      const cb = this.queue[this.qHead++]!;
      cb();
      if (++steps > maxSteps) throw new Error('VirtualRuntime.run: deferred work did not settle');
    }
    this.queue.length = 0;
    this.qHead = 0;
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  advance(ms: number): void {
    const target = this.clock.now() + ms;
    this.run();
    for (;;) {
      const next = this.timers.nextExpiry();
      if (next === null || next > target) break;
      if (next > this.clock.now()) this.clock.set(next);
      this.timers.run(this.clock.now());
      this.run();
    }
    this.clock.set(target);
    this.timers.run(target);
    this.run();
  }

  /** Advances in steps until `done()` holds or `limitMs` passes; returns done(). */
  advanceUntil(done: () => boolean, limitMs: number, stepMs = 1): boolean {
    const end = this.clock.now() + limitMs;
    this.run();
    while (!done() && this.clock.now() < end) this.advance(Math.min(stepMs, end - this.clock.now()));
    return done();
  }
}
