// Two stacks joined by a memory link on one virtual runtime: the fixture of
// every stack-to-stack test.
import { expect } from 'vitest';
import { VirtualRuntime } from '../../src/core/runtime.js';
import type { SoftnetOptions } from '../../src/core/softnet.js';
import type { NeighParams } from '../../src/link/neighbour.js';
import type { FaultConfig } from '../../src/nic/faults.js';
import { MemoryLink, type MemoryPortOptions } from '../../src/nic/memoryLink.js';
import { Stack } from '../../src/stack.js';
import { parseIpv4, parseMac } from '../../src/wire/address.js';
import type { NetDevice } from '../../src/nic/device.js';

export const A_IP = parseIpv4('10.0.0.1')!;
export const B_IP = parseIpv4('10.0.0.2')!;
export const A_MAC = parseMac('02:00:00:00:00:01')!;
export const B_MAC = parseMac('02:00:00:00:00:02')!;

export interface Pair {
  rt: VirtualRuntime;
  link: MemoryLink;
  a: Stack;
  b: Stack;
  devA: NetDevice;
  devB: NetDevice;
}

export interface PairOptions {
  seed?: number;
  /** Impairments A→B (and B→A unless faultsBack is given). */
  faults?: FaultConfig;
  faultsBack?: FaultConfig;
  mtu?: number;
  portA?: MemoryPortOptions;
  portB?: MemoryPortOptions;
  neigh?: Partial<NeighParams>;
  softnet?: SoftnetOptions;
  txQueueLen?: number;
}

export function makePair(opts: PairOptions = {}): Pair {
  const rt = new VirtualRuntime({ seed: opts.seed ?? 1 });
  const link = new MemoryLink(rt, opts.faults ?? {}, opts.faultsBack ?? opts.faults ?? {});
  const a = new Stack({ runtime: rt, neigh: opts.neigh, softnet: opts.softnet });
  const b = new Stack({ runtime: rt, neigh: opts.neigh, softnet: opts.softnet });
  const common = { mtu: opts.mtu, txQueueLen: opts.txQueueLen };
  const devA = a.addInterface({ name: 'eth0', mac: A_MAC, addresses: ['10.0.0.1/24'], driver: link.port(0, opts.portA), ...common });
  const devB = b.addInterface({ name: 'eth0', mac: B_MAC, addresses: ['10.0.0.2/24'], driver: link.port(1, opts.portB), ...common });
  rt.run();
  return { rt, link, a, b, devA, devB };
}

/** How many times `reason` was dropped on `stack` so far. */
export function drops(stack: Stack, reason: string): number {
  return stack.drops().find(([r]) => r === reason)?.[1] ?? 0;
}

/**
 * Asserts that no PacketBuffer is held anywhere in either stack: every buffer
 * taken from a pool went back to it (no leak on any path the test drove).
 */
export function expectNoLeaks(...stacks: Stack[]): void {
  for (const s of stacks) expect(s.net.pool.stats.inUse).toBe(0);
}

/** Lets Node run its nextTick/microtask/immediate queues (stream events are emitted there). */
export function yieldToNode(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * Advances virtual time in `stepMs` steps, yielding to Node between steps so
 * stream events fire, until `done()` holds or `limitMs` of virtual time pass.
 */
export async function runUntil(rt: VirtualRuntime, done: () => boolean, limitMs: number, stepMs = 1): Promise<boolean> {
  const end = rt.clock.now() + limitMs;
  rt.run();
  await yieldToNode();
  while (!done() && rt.clock.now() < end) {
    rt.advance(Math.min(stepMs, end - rt.clock.now()));
    await yieldToNode();
    rt.run();
  }
  return done();
}
