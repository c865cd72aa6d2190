// The ustack library: build a stack, give it devices, talk through it.
export { Stack, type StackOptions, type InterfaceOptions } from './stack.js';
export { VirtualRuntime, SeededRandom, ManualClock, type Runtime, type Clock, type Random } from './core/runtime.js';
export { MemoryLink } from './nic/memoryLink.js';
export { tapDriver, type TapNicOptions } from './nic/tapNic.js';
export type { FaultConfig } from './nic/faults.js';
export { PingSocket, pingPayload } from './ipv4/ping.js';
export { createCaptureWriter } from './capture/writer.js';
export { RealRuntime } from './cli/realRuntime.js';
export * from './wire/address.js';
