// neighbour: the neighbour table (Linux net/core/neighbour.c, the ARP cache
// of `ip neigh`). It maps a next-hop IPv4 address on a device to a MAC and
// runs the Neighbour Unreachability Detection state machine:
//
//   (none) ─output─▶ INCOMPLETE ─reply─▶ REACHABLE ─reachable_time─▶ STALE
//              │ retrans_time × mcast_solicit probes, no reply ─▶ FAILED
//   STALE ─output─▶ DELAY ─delay_first_probe_time─▶ confirmed? REACHABLE : PROBE
//   PROBE ─ucast_solicit unicast probes, no reply─▶ FAILED ─▶ removed
//
// Packets for an unresolved neighbour wait in a queue bounded in bytes
// (unres_qlen_bytes); the oldest is dropped when it overflows. The table is
// bounded too (gc_thresh3): when full, entries that are not in use are
// evicted, and if none can be, the packet is dropped.

import type { Net } from '../core/net.js';
import { truesize, type PacketBuffer } from '../core/packetBuffer.js';
import { Timer } from '../core/timers.js';
import type { NetDevice } from '../nic/device.js';
import { ipv4ToString, macToString, type Ipv4Addr, type MacAddr } from '../wire/address.js';

export const enum Nud {
  None = 0,
  Incomplete = 0x01,
  Reachable = 0x02,
  Stale = 0x04,
  Delay = 0x08,
  Probe = 0x10,
  Failed = 0x20,
  Permanent = 0x80,
}

export const NUD_NAMES: Record<number, string> = {
  [Nud.None]: 'NONE',
  [Nud.Incomplete]: 'INCOMPLETE',
  [Nud.Reachable]: 'REACHABLE',
  [Nud.Stale]: 'STALE',
  [Nud.Delay]: 'DELAY',
  [Nud.Probe]: 'PROBE',
  [Nud.Failed]: 'FAILED',
  [Nud.Permanent]: 'PERMANENT',
};

/** Linux's defaults for ARP (net.ipv4.neigh.default.*). */
export interface NeighParams {
  baseReachableMs: number; // base_reachable_time_ms
  retransMs: number; // retrans_time_ms
  delayFirstProbeMs: number; // delay_first_probe_time
  mcastSolicit: number;
  ucastSolicit: number;
  /** unres_qlen_bytes, counted in truesize: 212992 holds 92 of our 2 KB buffers (Linux: 101 of its). */
  unresQlenBytes: number;
  gcStaleMs: number; // gc_stale_time
  gcThresh3: number;
}

export const DEFAULT_NEIGH_PARAMS: NeighParams = {
  baseReachableMs: 30_000,
  retransMs: 1_000,
  delayFirstProbeMs: 5_000,
  mcastSolicit: 3,
  ucastSolicit: 3,
  unresQlenBytes: 212_992,
  gcStaleMs: 60_000,
  gcThresh3: 1024,
};

export class Neighbour {
  mac: MacAddr = 0;
  state: Nud = Nud.None;
  probes = 0;
  /** When reachability was last confirmed, and when the entry was last used. */
  confirmed = 0;
  used = 0;
  queue: PacketBuffer[] = [];
  /** The truesize of `queue`. */
  queueBytes = 0;
  readonly timer: Timer;

  constructor(
    readonly ip: Ipv4Addr,
    readonly dev: NetDevice,
    onTimer: (n: Neighbour) => void,
  ) {
    this.timer = new Timer(() => onTimer(this));
  }
}

/** What the table needs from the protocol that resolves addresses (ARP). */
export interface NeighOps {
  /** Sends a request for `n`: broadcast, or unicast to `n.mac` when probing. */
  solicit(n: Neighbour, unicast: boolean): void;
  /** Sends a frame to a resolved neighbour. */
  output(pb: PacketBuffer, dev: NetDevice, mac: MacAddr): void;
}

export class NeighbourTable {
  /** Keyed by ifindex × 2^32 + address: a number, so a lookup allocates nothing. */
  private entries = new Map<number, Neighbour>();
  ops: NeighOps | null = null;
  /**
   * Told of each packet dropped because its neighbour failed to resolve, before
   * it is freed: the IP layer answers the local sender with ICMP host
   * unreachable (Linux arp_error_report → ipv4_link_failure).
   */
  onFailure: ((pb: PacketBuffer) => void) | null = null;
  private readonly gcTimer: Timer;

  constructor(
    private readonly net: Net,
    readonly params: NeighParams = { ...DEFAULT_NEIGH_PARAMS },
  ) {
    this.gcTimer = new Timer(() => this.periodicGc());
  }

  private static key(ip: Ipv4Addr, dev: NetDevice): number {
    return dev.ifindex * 0x1_0000_0000 + ip;
  }

  get size(): number {
    return this.entries.size;
  }

  lookup(ip: Ipv4Addr, dev: NetDevice): Neighbour | undefined {
    return this.entries.get(NeighbourTable.key(ip, dev));
  }

  /** neigh_resolve_output: sends `pb` to the neighbour `ip` on `dev`, resolving it first if needed. */
  output(pb: PacketBuffer, dev: NetDevice, ip: Ipv4Addr): void {
    const now = this.net.now();
    let n = this.lookup(ip, dev);
    if (!n) {
      const created = this.create(ip, dev);
      if (!created) {
        this.net.snmp.ArpTableFulls++;
        this.net.drop(pb, 'neigh-tablefull');
        return;
      }
      n = created;
    }
    n.used = now;
    switch (n.state) {
      case Nud.Reachable:
      case Nud.Permanent:
      case Nud.Delay:
      case Nud.Probe:
        this.ops!.output(pb, dev, n.mac);
        return;
      case Nud.Stale:
        // Use the old address now, and check it soon (RFC 4861 §7.3.3, Linux for ARP too).
        this.setState(n, Nud.Delay, now + this.params.delayFirstProbeMs);
        this.ops!.output(pb, dev, n.mac);
        return;
      case Nud.None:
      case Nud.Failed:
        n.probes = 0;
        this.setState(n, Nud.Incomplete, now + this.params.retransMs);
        this.enqueue(n, pb);
        n.probes++;
        this.ops!.solicit(n, false);
        return;
      case Nud.Incomplete:
        this.enqueue(n, pb);
        return;
    }
  }

  private enqueue(n: Neighbour, pb: PacketBuffer): void {
    n.queue.push(pb);
    n.queueBytes += truesize(pb);
    // Over unres_qlen_bytes (of truesize) the oldest packets go (Linux __neigh_event_send).
    while (n.queueBytes > this.params.unresQlenBytes && n.queue.length > 1) {
      const old = n.queue.shift()!;
      n.queueBytes -= truesize(old);
      this.net.snmp.ArpUnresolvedDiscards++;
      this.net.drop(old, 'neigh-queuefull');
    }
  }

  /**
   * neigh_update: the resolving protocol learned `mac` for `ip`. `solicited`
   * (a reply to our request) confirms reachability; otherwise an existing
   * entry is refreshed (STALE when its address changed), and a new one is made
   * only when `create` is set (a request addressed to us: the sender will
   * surely be talked to next).
   */
  update(ip: Ipv4Addr, dev: NetDevice, mac: MacAddr, solicited: boolean, create: boolean): void {
    let n = this.lookup(ip, dev);
    if (!n) {
      if (!create) return;
      const created = this.create(ip, dev);
      if (!created) {
        this.net.snmp.ArpTableFulls++;
        return;
      }
      n = created;
    }
    if (n.state === Nud.Permanent) return;
    const now = this.net.now();
    const changed = n.mac !== mac || n.state === Nud.None || n.state === Nud.Incomplete || n.state === Nud.Failed;
    n.mac = mac;
    if (solicited) {
      n.confirmed = now;
      this.setState(n, Nud.Reachable, now + this.reachableTime());
    } else if (changed) {
      n.confirmed = now;
      this.setState(n, Nud.Stale, 0);
    }
    this.flush(n);
  }

  /** Adds a permanent entry (`ip neigh add ... nud permanent`). */
  addPermanent(ip: Ipv4Addr, dev: NetDevice, mac: MacAddr): void {
    const n = this.lookup(ip, dev) ?? this.create(ip, dev);
    if (!n) throw Object.assign(new Error('neighbour table full'), { code: 'ENOBUFS' });
    n.mac = mac;
    this.setState(n, Nud.Permanent, 0);
    this.flush(n);
  }

  private flush(n: Neighbour): void {
    if (n.queue.length === 0) return;
    const q = n.queue;
    n.queue = [];
    n.queueBytes = 0;
    for (const pb of q) this.ops!.output(pb, n.dev, n.mac);
  }

  /** A random reachable time in [0.5, 1.5) × base (RFC 4861 §6.3.2). */
  private reachableTime(): number {
    const base = this.params.baseReachableMs;
    return base / 2 + ((this.net.rt.random.u32() / 0x1_0000_0000) * base);
  }

  private setState(n: Neighbour, state: Nud, timerAt: number): void {
    n.state = state;
    const timers = this.net.rt.timers;
    if (timerAt > 0) timers.arm(n.timer, timerAt);
    else timers.cancel(n.timer);
  }

  private create(ip: Ipv4Addr, dev: NetDevice): Neighbour | null {
    if (this.entries.size >= this.params.gcThresh3 && !this.forcedGc()) return null;
    const n = new Neighbour(ip, dev, (x) => this.timerFired(x));
    n.used = this.net.now();
    this.entries.set(NeighbourTable.key(ip, dev), n);
    if (!this.gcTimer.pending) {
      this.net.rt.timers.arm(this.gcTimer, this.net.now() + this.params.gcStaleMs / 2);
    }
    return n;
  }

  private timerFired(n: Neighbour): void {
    const now = this.net.now();
    const p = this.params;
    switch (n.state) {
      case Nud.Reachable:
        this.setState(n, Nud.Stale, 0);
        return;
      case Nud.Delay:
        if (now - n.confirmed < p.delayFirstProbeMs) {
          this.setState(n, Nud.Reachable, n.confirmed + this.reachableTime());
          return;
        }
        n.probes = 0;
        this.setState(n, Nud.Probe, now + p.retransMs);
        n.probes++;
        this.ops!.solicit(n, true);
        return;
      case Nud.Incomplete:
      case Nud.Probe: {
        const max = n.state === Nud.Incomplete ? p.mcastSolicit : p.ucastSolicit;
        if (n.probes >= max) {
          this.fail(n);
          return;
        }
        this.setState(n, n.state, now + p.retransMs);
        n.probes++;
        this.ops!.solicit(n, n.state === Nud.Probe);
        return;
      }
    }
  }

  /** No answer: drop what waited and mark the entry FAILED (removed by the next gc). */
  private fail(n: Neighbour): void {
    this.setState(n, Nud.Failed, 0);
    const q = n.queue;
    n.queue = [];
    n.queueBytes = 0;
    for (const pb of q) {
      this.onFailure?.(pb);
      this.net.drop(pb, 'neigh-failed');
    }
  }

  private remove(n: Neighbour): void {
    this.net.rt.timers.cancel(n.timer);
    for (const pb of n.queue) this.net.drop(pb, 'neigh-failed');
    n.queue = [];
    this.entries.delete(NeighbourTable.key(n.ip, n.dev));
  }

  /** neigh_forced_gc: evicts FAILED and STALE entries, oldest use first. True if room was made. */
  private forcedGc(): boolean {
    const victims = [...this.entries.values()]
      .filter((n) => n.state === Nud.Failed || n.state === Nud.Stale)
      .sort((a, b) => a.used - b.used);
    const want = Math.max(1, this.entries.size - Math.floor(this.params.gcThresh3 * 0.9));
    for (const n of victims.slice(0, want)) this.remove(n);
    return this.entries.size < this.params.gcThresh3;
  }

  /** neigh_periodic_work: removes FAILED entries and STALE ones unused for gc_stale_time. */
  private periodicGc(): void {
    const now = this.net.now();
    for (const n of [...this.entries.values()]) {
      if (n.state === Nud.Failed || (n.state === Nud.Stale && now - n.used > this.params.gcStaleMs)) this.remove(n);
    }
    if (this.entries.size > 0) {
      this.net.rt.timers.arm(this.gcTimer, now + this.params.gcStaleMs / 2);
    }
  }

  /** The table as `ip neigh show` prints it. */
  show(): Array<{ ip: string; dev: string; mac: string; state: string }> {
    return [...this.entries.values()].map((n) => ({
      ip: ipv4ToString(n.ip),
      dev: n.dev.name,
      mac: n.state === Nud.Incomplete || n.state === Nud.Failed ? '' : macToString(n.mac),
      state: NUD_NAMES[n.state] ?? String(n.state),
    }));
  }

  /** Drops every entry (stack shutdown). */
  clear(): void {
    for (const n of [...this.entries.values()]) this.remove(n);
    this.net.rt.timers.cancel(this.gcTimer);
  }
}
