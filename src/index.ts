// The ustack library: build a stack, give it devices, talk through it.
export { Stack, type StackOptions, type InterfaceOptions } from './stack.js';
export { VirtualRuntime, SeededRandom, ManualClock, type Runtime, type Clock, type Random } from './core/runtime.js';
export { MemoryLink } from './nic/memoryLink.js';
export { tapDriver, type TapNicOptions } from './nic/tapNic.js';
export type { FaultConfig } from './nic/faults.js';
export { PingSocket, pingPayload } from './ipv4/ping.js';
export { UdpSocket, type UdpSocketOptions, type AddressInfo, type RemoteInfo, type BindOptions, type SendCallback } from './udp/socket.js';
export { startUdpEcho, UdpEchoService, UDP_ECHO_PORT } from './services/udpEcho.js';
export { Netfilter, NfChain, NfRule, type NfPolicy } from './ipv4/netfilter.js';
export { parseRule, parseRulesJson, ruleFromObject, formatRule, type NfRuleSpec, type NfChainName, type NfTarget, type NfRejectWith } from './ipv4/netfilterRules.js';
export { createCaptureWriter } from './capture/writer.js';
export { RealRuntime } from './cli/realRuntime.js';
export * from './wire/address.js';
