import { describe, expect, it } from 'vitest';
import { VirtualRuntime } from '../../../src/core/runtime.js';
import { FaultInjector, validateFaults, type FaultConfig } from '../../../src/nic/faults.js';

function wire(cfg: FaultConfig, seed = 7) {
  const rt = new VirtualRuntime({ seed });
  const got: Array<{ id: number; at: number; frame: Uint8Array }> = [];
  const t0 = rt.clock.now();
  const w = new FaultInjector(rt, cfg, (f) => got.push({ id: f[0]!, at: rt.clock.now() - t0, frame: f }));
  const send = (n: number) => {
    for (let i = 0; i < n; i++) w.send(new Uint8Array(64).fill(i & 0xff));
  };
  return { rt, w, got, send };
}

describe('FaultInjector', () => {
  it('with no faults delivers every frame at once, in order', () => {
    const { w, got, send } = wire({});
    send(10);
    expect(got.map((g) => g.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(w.active).toBe(false);
  });

  it('loses about the configured share of frames, and counts each loss', () => {
    const { rt, w, got, send } = wire({ loss: 0.1 });
    send(2000);
    rt.advance(10);
    expect(w.stats.frames).toBe(2000);
    expect(got.length + w.stats.lost).toBe(2000);
    expect(w.stats.lost).toBeGreaterThan(140);
    expect(w.stats.lost).toBeLessThan(260);
  });

  it('loss 1 loses everything, loss 0 nothing', () => {
    const all = wire({ loss: 1 });
    all.send(50);
    all.rt.advance(10);
    expect(all.got).toHaveLength(0);
    const none = wire({ loss: 0 });
    none.send(50);
    expect(none.got).toHaveLength(50);
  });

  it('duplicate 1 delivers every frame twice, as separate copies', () => {
    const { rt, w, got, send } = wire({ duplicate: 1 });
    send(5);
    rt.advance(1);
    expect(got.map((g) => g.id)).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    expect(got[0]!.frame).not.toBe(got[1]!.frame);
    expect(w.stats.duplicated).toBe(5);
  });

  it('reordering holds some frames back so that later ones pass them', () => {
    const { rt, w, got, send } = wire({ reorder: 0.3, reorderMs: 2 });
    send(50);
    rt.advance(10);
    const ids = got.map((g) => g.id);
    expect([...ids].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i)); // none lost
    expect(ids).not.toEqual([...ids].sort((x, y) => x - y));
    expect(w.stats.reordered).toBeGreaterThan(0);
    expect(got.filter((g) => g.at === 2)).toHaveLength(w.stats.reordered);
  });

  it('delays every frame by delayMs, keeping order', () => {
    const { rt, got, send } = wire({ delayMs: 25 });
    send(3);
    rt.advance(24);
    expect(got).toHaveLength(0);
    rt.advance(1);
    expect(got.map((g) => [g.id, g.at])).toEqual([
      [0, 25],
      [1, 25],
      [2, 25],
    ]);
  });

  it('corruption flips exactly one bit of the frame', () => {
    const { w, got } = wire({ corrupt: 1 });
    const orig = new Uint8Array(100).map((_, i) => i);
    w.send(orig.slice());
    const f = got[0]!.frame;
    let bits = 0;
    for (let i = 0; i < f.length; i++) for (let x = f[i]! ^ orig[i]!; x; x &= x - 1) bits++;
    expect(bits).toBe(1);
    expect(w.stats.corrupted).toBe(1);
  });

  it('is the same every run for the same seed', () => {
    const run = () => {
      const { rt, got, send } = wire({ loss: 0.2, reorder: 0.2, duplicate: 0.1 }, 42);
      send(200);
      rt.advance(10);
      return got.map((g) => g.id);
    };
    expect(run()).toEqual(run());
  });

  it('clear drops what is still on the wire', () => {
    const { rt, w, got, send } = wire({ delayMs: 5 });
    send(3);
    w.clear();
    rt.advance(10);
    expect(got).toHaveLength(0);
  });

  it('validateFaults rejects probabilities outside 0..1 and bad delays', () => {
    expect(validateFaults({ loss: 0.1, reorder: 1, delayMs: 0 })).toBeNull();
    expect(validateFaults({ loss: 1.5 })).toMatch(/loss/);
    expect(validateFaults({ duplicate: -0.1 })).toMatch(/duplicate/);
    expect(validateFaults({ corrupt: Number.NaN })).toMatch(/corrupt/);
    expect(validateFaults({ delayMs: 70_000 })).toMatch(/delayMs/);
    expect(validateFaults({ reorderMs: -1 })).toMatch(/reorderMs/);
  });
});
