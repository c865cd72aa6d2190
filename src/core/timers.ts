// timers: a hashed timing wheel (Varghese & Lauck; Linux kernel/time/timer.c)
// of intrusive timers. Arming, re-arming and cancelling are O(1) and
// allocate nothing, which matters because TCP re-arms its retransmit timer on
// almost every ACK. Each slot holds a doubly linked list of the timers whose
// tick hashes to it; a timer more than one revolution away stays in its slot
// until its round comes.
//
//   tick = floor(expires / TICK_MS)        slot = tick & (SLOTS - 1)
//
// The wheel keeps `nextTick`, the first tick not yet wholly processed: the
// tick of the last run, which stays open because deadlines are fractional. A
// timer armed for a tick already processed goes into nextTick's slot, so it
// fires on the next run and is never lost.

export const TICK_MS = 1;
const SLOTS = 4096;
const MASK = SLOTS - 1;

export class Timer {
  /** Absolute deadline in ms on the runtime clock; valid while pending. */
  expires = 0;
  /** @internal */ next: Timer | null = null;
  /** @internal */ prev: Timer | null = null;
  /** @internal */ slot = -1;

  constructor(readonly callback: (now: number) => void) {}

  get pending(): boolean {
    return this.slot >= 0;
  }
}

export class TimerWheel {
  private heads: Array<Timer | null> = new Array<Timer | null>(SLOTS).fill(null);
  private nextTick: number;
  private count = 0;
  /**
   * Told when a timer is armed earlier than any deadline announced since the
   * last run: the real runtime re-arms its one OS timer then (and only then),
   * so arming costs no scan of the wheel.
   */
  onSooner: ((expires: number) => void) | null = null;
  private announced = Infinity;

  constructor(now: number) {
    this.nextTick = Math.floor(now / TICK_MS);
  }

  get size(): number {
    return this.count;
  }

  /** mod_timer: (re)arms `t` to fire at `expires` (absolute ms). */
  arm(t: Timer, expires: number): void {
    if (t.slot >= 0) this.unlink(t);
    t.expires = expires;
    const tick = Math.max(Math.floor(expires / TICK_MS), this.nextTick);
    const slot = tick & MASK;
    const head = this.heads[slot]!;
    t.prev = null;
    t.next = head;
    if (head) head.prev = t;
    this.heads[slot] = t;
    t.slot = slot;
    this.count++;
    if (expires < this.announced) {
      this.announced = expires;
      this.onSooner?.(expires);
    }
  }

  /** del_timer: a no-op if `t` is not pending. */
  cancel(t: Timer): void {
    if (t.slot >= 0) this.unlink(t);
  }

  private unlink(t: Timer): void {
    if (t.prev) t.prev.next = t.next;
    else this.heads[t.slot] = t.next;
    if (t.next) t.next.prev = t.prev;
    t.next = t.prev = null;
    t.slot = -1;
    this.count--;
  }

  /** Fires every timer whose deadline is ≤ now, in deadline order within one revolution. */
  run(now: number): void {
    const lastTick = Math.floor(now / TICK_MS);
    if (lastTick < this.nextTick) return; // the clock went backwards
    // Beyond one revolution every slot is visited once; each is scanned for due timers.
    const span = Math.min(lastTick - this.nextTick + 1, SLOTS);
    const first = this.nextTick;
    // The current tick stays open: deadlines are fractional, so a timer later
    // in this tick (or armed for it, or for the past, from now on — those go
    // to nextTick's slot) is still to fire, and the next run scans it again.
    // Closing it here left such a timer a whole revolution late, and made
    // VirtualRuntime.advance spin on a nextExpiry() that run() never fired.
    this.nextTick = lastTick;
    this.announced = Infinity;
    for (let i = 0; i < span && this.count > 0; i++) {
      this.fireDue((first + i) & MASK, now);
    }
  }

  /**
   * Fires the due timers of one slot, one at a time and rescanning: a
   * callback may cancel or re-arm any timer, including the ones beside it.
   */
  private fireDue(slot: number, now: number): void {
    for (let t = this.firstDue(slot, now); t; t = this.firstDue(slot, now)) {
      this.unlink(t);
      t.callback(now);
    }
  }

  /**
   * The due timer of `slot` with the earliest deadline; of equal deadlines
   * the one armed first (the list is newest first, hence `<=`), so timers
   * sharing a tick fire in deadline order, then in the order they were armed.
   */
  private firstDue(slot: number, now: number): Timer | null {
    let best: Timer | null = null;
    for (let t = this.heads[slot] ?? null; t; t = t.next) {
      if (t.expires <= now && (best === null || t.expires <= best.expires)) best = t;
    }
    return best;
  }

  /** The earliest deadline of any pending timer, or null. Exact, O(slots) at worst. */
  nextExpiry(): number | null {
    if (this.count === 0) return null;
    // Within one revolution the first non-empty slot holding a timer of this round wins.
    for (let i = 0; i < SLOTS; i++) {
      const tick = this.nextTick + i;
      let best = Infinity;
      for (let t = this.heads[tick & MASK] ?? null; t; t = t.next) {
        if (Math.max(Math.floor(t.expires / TICK_MS), this.nextTick) === tick && t.expires < best) best = t.expires;
      }
      if (best !== Infinity) return best;
    }
    let best = Infinity;
    for (const head of this.heads) for (let t = head; t; t = t.next) if (t.expires < best) best = t.expires;
    return best;
  }
}
