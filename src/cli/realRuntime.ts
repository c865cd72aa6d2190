// realRuntime: the Runtime of a live stack — the only place below which the
// wall clock and the OS's randomness are read. One OS timer drives the whole
// timer wheel: it is re-armed when the wheel announces a sooner deadline and
// after every run, at the wheel's next expiry.

import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Clock, Random, Runtime } from '../core/runtime.js';
import { TimerWheel } from '../core/timers.js';

class CryptoRandom implements Random {
  private pool = new Uint32Array(1024);
  private i = this.pool.length;
  u32(): number {
    if (this.i >= this.pool.length) {
      randomFillSync(this.pool);
      this.i = 0;
    }
    return this.pool[this.i++]!;
  }
  fill(out: Uint8Array): void {
    randomFillSync(out);
  }
}

const realClock: Clock = { now: () => performance.timeOrigin + performance.now() };

export class RealRuntime implements Runtime {
  readonly clock = realClock;
  readonly random: Random = new CryptoRandom();
  readonly timers: TimerWheel;
  private handle: NodeJS.Timeout | null = null;
  private armedFor = Infinity;

  constructor() {
    this.timers = new TimerWheel(this.clock.now());
    this.timers.onSooner = (expires) => this.armOs(expires);
  }

  defer(cb: () => void): void {
    setImmediate(cb);
  }

  soon(cb: () => void): void {
    queueMicrotask(cb);
  }

  private armOs(expires: number): void {
    if (expires >= this.armedFor) return;
    if (this.handle) clearTimeout(this.handle);
    this.armedFor = expires;
    this.handle = setTimeout(this.fire, Math.max(0, Math.ceil(expires - this.clock.now())));
    // Timers alone never keep the process alive: devices and sockets do.
    this.handle.unref();
  }

  private readonly fire = (): void => {
    this.handle = null;
    this.armedFor = Infinity;
    this.timers.run(this.clock.now());
    const next = this.timers.nextExpiry();
    if (next !== null) this.armOs(next);
  };

  /** Stops the OS timer (shutdown). */
  stop(): void {
    if (this.handle) clearTimeout(this.handle);
    this.handle = null;
    this.armedFor = Infinity;
  }
}
