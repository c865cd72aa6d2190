// softnet: the NET_RX softirq — NAPI polling of devices with work, in
// budgets — and the backlog queue for devices without NAPI (Linux
// net/core/dev.c: softnet_data, napi_schedule, net_rx_action,
// process_backlog, netif_rx).
//
//   hard IRQ ──▶ napiSchedule(napi) ──▶ poll list ──▶ raiseSoftirq()
//                                                        │ runtime.defer (ksoftirqd)
//   netRxAction: while the poll list has work and budget (300 frames, 2 ms)
//                remain: napi.poll(min(weight 64, budget left)) — a poll that
//                used its whole weight goes back to the tail of the list; one
//                that finished early has called napiComplete and unmasked its IRQ.
//                Out of budget with work left: count time_squeeze and raise the
//                softirq again, after the event loop has had its turn.

import type { Runtime } from './runtime.js';
import { SoftnetStats } from './counters.js';
import type { PacketBuffer } from './packetBuffer.js';
import { Fifo } from './fifo.js';

/** netdev_budget, netdev_budget_usecs, dev_weight, netdev_max_backlog. */
export const NETDEV_BUDGET = 300;
export const NETDEV_BUDGET_MS = 2;
export const NAPI_POLL_WEIGHT = 64;
export const NETDEV_MAX_BACKLOG = 1000;

export class NapiStruct {
  /** NAPI_STATE_SCHED: on the poll list or being polled. */
  scheduled = false;
  polls = 0;
  constructor(
    readonly name: string,
    /** Processes up to `budget` frames and returns how many it did. Calls napiComplete when it ran out of work. */
    readonly poll: (budget: number) => number,
    readonly weight = NAPI_POLL_WEIGHT,
  ) {}
}

export interface SoftnetOptions {
  budget?: number;
  /** dev_weight: the poll weight given to each device's NAPI. */
  weight?: number;
  budgetMs?: number;
  maxBacklog?: number;
}

export class Softnet {
  readonly stats = new SoftnetStats();
  readonly budget: number;
  readonly budgetMs: number;
  readonly weight: number;
  maxBacklog: number;
  private pollList: NapiStruct[] = [];
  /** An empty list swapped in as pollList while a round runs (no allocation per round). */
  private spareList: NapiStruct[] = [];
  private softirqPending = false;

  // The backlog: a queue of frames handed over by netifRx, polled like a device.
  private backlog = new Fifo<PacketBuffer>();
  private readonly backlogNapi: NapiStruct;
  private backlogDeliver: ((pb: PacketBuffer) => void) | null = null;
  /** Disposes of a frame the full backlog refused (Net counts it as 'backlog-drop'). */
  onBacklogDrop: (pb: PacketBuffer) => void = (pb) => pb.free();

  constructor(
    private readonly rt: Runtime,
    opts: SoftnetOptions = {},
  ) {
    this.budget = opts.budget ?? NETDEV_BUDGET;
    this.budgetMs = opts.budgetMs ?? NETDEV_BUDGET_MS;
    this.weight = opts.weight ?? NAPI_POLL_WEIGHT;
    this.maxBacklog = opts.maxBacklog ?? NETDEV_MAX_BACKLOG;
    this.backlogNapi = new NapiStruct('backlog', (budget) => this.processBacklog(budget), this.weight);
  }

  /** napi_schedule: called from a hard IRQ; idempotent while scheduled. */
  napiSchedule(napi: NapiStruct): void {
    if (napi.scheduled) return;
    napi.scheduled = true;
    this.pollList.push(napi);
    this.raiseSoftirq();
  }

  /** napi_complete_done: the poll ran out of work before its budget; the driver then unmasks its IRQ. */
  napiComplete(napi: NapiStruct): void {
    napi.scheduled = false;
  }

  raiseSoftirq(): void {
    if (this.softirqPending) return;
    this.softirqPending = true;
    this.rt.defer(this.netRxAction);
  }


  readonly netRxAction = (): void => {
    this.softirqPending = false;
    this.stats.rounds++;
    const deadline = this.rt.clock.now() + this.budgetMs;
    let budget = this.budget;
    // Only the NAPIs on the list when the round starts are polled in it; one that
    // is re-scheduled during the round (IRQ raised meanwhile) lands on the fresh
    // pollList and waits for the next. (Counting entries instead let a round
    // end early, budget left, once two devices had re-queued each other.)
    const list = this.pollList;
    this.pollList = this.spareList;
    while (list.length > 0) {
      const napi = list.shift()!;
      const weight = Math.min(napi.weight, budget);
      const work = napi.poll(weight);
      napi.polls++;
      budget -= work;
      this.stats.processed += work;
      // Used its whole share: there is more, back to the tail of this round.
      if (napi.scheduled && work >= weight) list.push(napi);
      if (budget <= 0 || this.rt.clock.now() >= deadline) break;
    }
    // What this round left goes first, then what was scheduled during it.
    for (const napi of this.pollList) list.push(napi);
    this.pollList.length = 0;
    this.spareList = this.pollList;
    this.pollList = list;
    if (this.pollList.length > 0) {
      if (budget <= 0 || this.rt.clock.now() >= deadline) this.stats.timeSqueeze++;
      this.raiseSoftirq();
    }
  };

  /** Sets where backlog frames go (netif_receive_skb of the link layer). */
  setBacklogReceiver(deliver: (pb: PacketBuffer) => void): void {
    this.backlogDeliver = deliver;
  }

  /**
   * netif_rx: queues a frame for the receive path from a device without NAPI
   * (the loopback device). Over netdev_max_backlog the frame is dropped and
   * counted — the "dropped" column of /proc/net/softnet_stat.
   */
  netifRx(pb: PacketBuffer): boolean {
    if (this.backlog.length >= this.maxBacklog) {
      this.stats.dropped++;
      this.onBacklogDrop(pb);
      return false;
    }
    this.backlog.push(pb);
    this.napiSchedule(this.backlogNapi);
    return true;
  }

  get backlogLength(): number {
    return this.backlog.length;
  }

  private processBacklog(budget: number): number {
    let work = 0;
    while (work < budget && this.backlog.length > 0) {
      const pb = this.backlog.shift()!;
      work++;
      if (this.backlogDeliver) this.backlogDeliver(pb);
      else pb.free();
    }
    if (this.backlog.length === 0) this.napiComplete(this.backlogNapi);
    return work;
  }
}
