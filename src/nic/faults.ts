// faults: the impairments of a bad cable — loss, duplication, reordering,
// corruption and delay — drawn from the runtime's seeded random source, so a
// lossy test is the same every run. The memory link applies them on its
// wire; the TAP driver applies them to both directions of a real device
// (this machine's kernel has no netem, so the impairment lives in the NIC
// model).

import type { Runtime } from '../core/runtime.js';
import { Timer } from '../core/timers.js';

export interface FaultConfig {
  /** Probability (0..1) that a frame is lost. */
  loss?: number;
  /** Probability that a frame is delivered twice. */
  duplicate?: number;
  /** Probability that a frame is held back by `reorderMs`, letting later frames pass it. */
  reorder?: number;
  /** Probability that one byte of a frame is flipped. */
  corrupt?: number;
  /** Fixed one-way delay in ms. */
  delayMs?: number;
  /** Extra delay of a reordered frame, ms (default 1). */
  reorderMs?: number;
}

export class FaultStats {
  frames = 0;
  lost = 0;
  duplicated = 0;
  reordered = 0;
  corrupted = 0;
}

const PROBABILITIES = ['loss', 'duplicate', 'reorder', 'corrupt'] as const;

/** Checks a fault configuration; returns what is wrong, or null. */
export function validateFaults(cfg: FaultConfig): string | null {
  for (const k of PROBABILITIES) {
    const v = cfg[k];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v <= 1)) return `${k} must be a probability between 0 and 1, got ${v}`;
  }
  for (const k of ['delayMs', 'reorderMs'] as const) {
    const v = cfg[k];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v <= 60_000)) return `${k} must be between 0 and 60000 ms, got ${v}`;
  }
  return null;
}

interface Pending {
  at: number;
  seq: number;
  frame: Uint8Array;
}

/**
 * FaultInjector: one direction of a wire. `send(frame)` takes a frame the
 * caller will not touch again and hands 0, 1 or 2 copies to `deliver`, now or
 * after a delay, in time order.
 */
export class FaultInjector {
  readonly stats = new FaultStats();
  private pending: Pending[] = [];
  private seq = 0;
  private readonly timer: Timer;

  constructor(
    private readonly rt: Runtime,
    public config: FaultConfig,
    private readonly deliver: (frame: Uint8Array) => void,
  ) {
    this.timer = new Timer((now) => this.release(now));
  }

  get active(): boolean {
    const c = this.config;
    return !!(c.loss || c.duplicate || c.reorder || c.corrupt || c.delayMs);
  }

  private chance(p: number | undefined): boolean {
    return !!p && this.rt.random.u32() / 0x1_0000_0000 < p;
  }

  send(frame: Uint8Array): void {
    const c = this.config;
    this.stats.frames++;
    if (this.chance(c.loss)) {
      this.stats.lost++;
      return;
    }
    if (this.chance(c.corrupt) && frame.length > 0) {
      const i = this.rt.random.u32() % frame.length;
      frame[i] = frame[i]! ^ (1 << (this.rt.random.u32() & 7));
      this.stats.corrupted++;
    }
    let delay = c.delayMs ?? 0;
    if (this.chance(c.reorder)) {
      delay += c.reorderMs ?? 1;
      this.stats.reordered++;
    }
    this.schedule(frame, delay);
    if (this.chance(c.duplicate)) {
      this.stats.duplicated++;
      this.schedule(frame.slice(), delay);
    }
  }

  private schedule(frame: Uint8Array, delay: number): void {
    if (delay <= 0 && this.pending.length === 0) {
      this.deliver(frame);
      return;
    }
    const at = this.rt.clock.now() + delay;
    const p: Pending = { at, seq: this.seq++, frame };
    // Keep time order; frames with equal times keep their sending order.
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]!.at > at) i--;
    this.pending.splice(i, 0, p);
    this.rt.timers.arm(this.timer, this.pending[0]!.at);
  }

  private release(now: number): void {
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.at <= now) n++;
    const due = this.pending.splice(0, n);
    for (const p of due) this.deliver(p.frame);
    if (this.pending.length > 0) {
      this.rt.timers.arm(this.timer, this.pending[0]!.at);
    }
  }

  /** Drops everything still on the wire (link going down). */
  clear(): void {
    this.pending.length = 0;
    this.rt.timers.cancel(this.timer);
  }
}
