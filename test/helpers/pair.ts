// Two stacks joined by a memory link on one virtual runtime: the fixture of
// every stack-to-stack test.
import { VirtualRuntime } from '../../src/core/runtime.js';
import type { FaultConfig } from '../../src/nic/faults.js';
import { MemoryLink, type MemoryPortOptions } from '../../src/nic/memoryLink.js';
import { Stack } from '../../src/stack.js';
import { parseIpv4 } from '../../src/wire/address.js';
import type { NetDevice } from '../../src/nic/device.js';

export const A_IP = parseIpv4('10.0.0.1')!;
export const B_IP = parseIpv4('10.0.0.2')!;

export interface Pair {
  rt: VirtualRuntime;
  link: MemoryLink;
  a: Stack;
  b: Stack;
  devA: NetDevice;
  devB: NetDevice;
}

export function makePair(
  opts: { seed?: number; faults?: FaultConfig; mtu?: number; portA?: MemoryPortOptions; portB?: MemoryPortOptions } = {},
): Pair {
  const rt = new VirtualRuntime({ seed: opts.seed ?? 1 });
  const link = new MemoryLink(rt, opts.faults ?? {});
  const a = new Stack({ runtime: rt });
  const b = new Stack({ runtime: rt });
  const devA = a.addInterface({ name: 'eth0', mac: '02:00:00:00:00:01', mtu: opts.mtu, addresses: ['10.0.0.1/24'], driver: link.port(0, opts.portA) });
  const devB = b.addInterface({ name: 'eth0', mac: '02:00:00:00:00:02', mtu: opts.mtu, addresses: ['10.0.0.2/24'], driver: link.port(1, opts.portB) });
  rt.run();
  return { rt, link, a, b, devA, devB };
}
