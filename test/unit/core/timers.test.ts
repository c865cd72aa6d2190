import { describe, expect, it } from 'vitest';
import { VirtualRuntime } from '../../../src/core/runtime.js';
import { Timer, TimerWheel } from '../../../src/core/timers.js';

const T0 = 1_000_000;

/** A wheel driven by hand, and a log of (name, now) for every firing. */
function wheel() {
  const w = new TimerWheel(T0);
  const log: Array<[string, number]> = [];
  const timer = (name: string, cb?: (now: number) => void) =>
    new Timer((now) => {
      log.push([name, now]);
      cb?.(now);
    });
  return { w, log, timer };
}

describe('TimerWheel ordering', () => {
  it('fires timers in deadline order when one run covers them all', () => {
    const { w, log, timer } = wheel();
    const deadlines = [T0 + 900, T0 + 3, T0 + 250.5, T0 + 250.25, T0 + 4000, T0 + 1];
    deadlines.forEach((d, i) => w.arm(timer(`t${i}`), d));
    w.run(T0 + 4095);
    expect(log.map(([n]) => n)).toEqual(['t5', 't1', 't3', 't2', 't0', 't4']);
    expect(w.size).toBe(0);
  });

  it('fires timers with the same deadline in the order they were armed', () => {
    const { w, log, timer } = wheel();
    for (const n of ['a', 'b', 'c']) w.arm(timer(n), T0 + 10);
    w.run(T0 + 10);
    expect(log.map(([n]) => n)).toEqual(['a', 'b', 'c']);
  });

  it('does not fire a timer before its deadline, even within its tick', () => {
    const { w, log, timer } = wheel();
    w.arm(timer('x'), T0 + 5.75);
    w.run(T0 + 5.5);
    expect(log).toEqual([]);
    w.run(T0 + 5.75);
    expect(log).toEqual([['x', T0 + 5.75]]);
  });

  it('fires a timer armed for a tick already processed on the next run, even at the same time', () => {
    const { w, log, timer } = wheel();
    w.run(T0 + 10);
    w.arm(timer('late'), T0 + 10); // this tick was processed a moment ago
    w.arm(timer('past'), T0 + 2);
    expect(w.nextExpiry()).toBe(T0 + 2);
    w.run(T0 + 10);
    expect(log.map(([n]) => n)).toEqual(['past', 'late']);
    expect(w.nextExpiry()).toBeNull();
  });
});

describe('TimerWheel cancel and re-arm', () => {
  it('a callback can cancel a timer due in the same run, in the same slot or a later one', () => {
    const { w, log, timer } = wheel();
    const sameSlot = timer('sameSlot');
    const later = timer('later');
    w.arm(
      timer('first', () => {
        w.cancel(sameSlot);
        w.cancel(later);
      }),
      T0 + 5,
    );
    w.arm(sameSlot, T0 + 5.5);
    w.arm(later, T0 + 8);
    w.arm(timer('kept'), T0 + 9);
    w.run(T0 + 20);
    expect(log.map(([n]) => n)).toEqual(['first', 'kept']);
    expect(sameSlot.pending).toBe(false);
    expect(w.size).toBe(0);
  });

  it('cancel is a no-op on a timer that is not pending, and size stays right', () => {
    const { w, timer } = wheel();
    const t = timer('t');
    w.cancel(t);
    w.arm(t, T0 + 1);
    w.cancel(t);
    w.cancel(t);
    expect(w.size).toBe(0);
    expect(w.nextExpiry()).toBeNull();
  });

  it('re-arming a pending timer moves it: it fires once, at the new deadline', () => {
    const { w, log, timer } = wheel();
    const t = timer('t');
    w.arm(t, T0 + 100);
    w.arm(t, T0 + 30);
    w.arm(t, T0 + 60);
    expect(w.size).toBe(1);
    expect(w.nextExpiry()).toBe(T0 + 60);
    w.run(T0 + 200);
    expect(log).toEqual([['t', T0 + 200]]);
  });

  it('a timer re-armed from its own callback runs periodically', () => {
    const rt = new VirtualRuntime({ start: T0 });
    const at: number[] = [];
    const t: Timer = new Timer((now) => {
      at.push(now - T0);
      if (at.length < 5) rt.timers.arm(t, now + 7);
    });
    rt.timers.arm(t, T0 + 7);
    rt.advance(1000);
    expect(at).toEqual([7, 14, 21, 28, 35]);
  });
});

describe('TimerWheel far-future timers', () => {
  it('a timer several revolutions away fires at its deadline, not a revolution early', () => {
    const { w, log, timer } = wheel();
    const far = T0 + 3 * 4096 + 7; // same slot as T0 + 7
    w.arm(timer('far'), far);
    w.arm(timer('near'), T0 + 7);
    w.run(T0 + 7);
    expect(log.map(([n]) => n)).toEqual(['near']);
    w.run(T0 + 4096 + 7);
    w.run(T0 + 2 * 4096 + 7);
    expect(log.map(([n]) => n)).toEqual(['near']);
    w.run(far);
    expect(log.map(([n]) => n)).toEqual(['near', 'far']);
  });

  it('on the virtual runtime, every far timer fires with the clock at its deadline', () => {
    const rt = new VirtualRuntime({ start: T0 });
    const fired: Array<[number, number]> = [];
    for (const d of [60_000, 4096, 4097, 12_288.5, 30_000, 8191]) {
      rt.timers.arm(new Timer((now) => fired.push([d, now - T0])), T0 + d);
    }
    rt.advance(120_000);
    expect(fired).toEqual([
      [4096, 4096],
      [4097, 4097],
      [8191, 8191],
      [12_288.5, 12_288.5],
      [30_000, 30_000],
      [60_000, 60_000],
    ]);
  });
});

describe('TimerWheel.nextExpiry', () => {
  it('is exact: fractional deadlines, beyond one revolution, after cancel', () => {
    const { w, timer } = wheel();
    expect(w.nextExpiry()).toBeNull();
    const far = timer('far');
    w.arm(far, T0 + 50_000.25);
    expect(w.nextExpiry()).toBe(T0 + 50_000.25);
    const mid = timer('mid');
    w.arm(mid, T0 + 17.6);
    w.arm(timer('mid2'), T0 + 17.3);
    expect(w.nextExpiry()).toBe(T0 + 17.3);
    w.run(T0 + 17.3);
    expect(w.nextExpiry()).toBe(T0 + 17.6);
    w.cancel(mid);
    expect(w.nextExpiry()).toBe(T0 + 50_000.25);
    // A nearer timer in a later slot of this revolution beats the far one sharing an earlier slot.
    w.arm(timer('x'), T0 + 4000);
    expect(w.nextExpiry()).toBe(T0 + 4000);
  });
});

describe('VirtualRuntime', () => {
  it('a timer armed for "now" by deferred work after its tick ran fires (no spin)', () => {
    const rt = new VirtualRuntime({ start: T0 });
    const fired: number[] = [];
    const second = new Timer((now) => fired.push(now - T0));
    rt.timers.arm(new Timer((now) => rt.defer(() => rt.timers.arm(second, now))), T0 + 5);
    rt.advance(10);
    expect(fired).toEqual([5]);
  });

  it('two timers inside one millisecond both fire at their own deadlines', () => {
    // Regression: the wheel closed a tick on the first run inside it, leaving
    // the later timer of that tick a revolution behind, and advance() spun.
    const rt = new VirtualRuntime({ start: T0 });
    const fired: number[] = [];
    rt.timers.arm(new Timer((now) => fired.push(now - T0)), T0 + 100.3);
    rt.timers.arm(new Timer((now) => fired.push(now - T0)), T0 + 100.7);
    rt.advance(1000);
    expect(fired.map((x) => Math.round(x * 10) / 10)).toEqual([100.3, 100.7]);
  });

  it('runs deferred work only when asked, in FIFO order', () => {
    const rt = new VirtualRuntime();
    const log: string[] = [];
    rt.defer(() => {
      log.push('a');
      rt.soon(() => log.push('c'));
    });
    rt.defer(() => log.push('b'));
    expect(log).toEqual([]);
    rt.run();
    expect(log).toEqual(['a', 'b', 'c']);
  });

  it('advanceUntil stops as soon as the condition holds', () => {
    const rt = new VirtualRuntime({ start: T0 });
    let hit = false;
    rt.timers.arm(new Timer(() => (hit = true)), T0 + 1234);
    expect(rt.advanceUntil(() => hit, 10_000)).toBe(true);
    expect(rt.clock.now()).toBe(T0 + 1234);
    expect(rt.advanceUntil(() => false, 50, 10)).toBe(false);
    expect(rt.clock.now()).toBe(T0 + 1284);
  });
});
