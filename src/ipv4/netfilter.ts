// netfilter: the packet filter hooks of the IPv4 layer (Linux
// net/netfilter/core.c, net/ipv4/netfilter/ip_tables.c, ipt_REJECT.c,
// nf_reject_ipv4.c). One chain per hook — an ordered list of rules and a
// policy — in a single table, where Linux spreads them over raw, mangle, nat
// and filter:
//
//   receive:  ipRcv ─ PREROUTING ─ route ─ defrag ─ INPUT ─ protocol handler
//   send:     route ─ header ─ OUTPUT ─ POSTROUTING ─ fragment ─ neighbour
//   (lo: OUTPUT ─ POSTROUTING ─ lo ─ PREROUTING ─ INPUT, as in Linux)
//
// A packet walks its hook's chain until a rule with a target matches:
// ACCEPT ends the walk (the packet goes on), DROP frees it with the drop
// reason 'netfilter-drop' (Linux counts no SNMP counter for it, only the
// rule's), REJECT first answers the sender — an ICMP destination
// unreachable, or a TCP RST — and then drops. A rule without a target only
// counts. A packet that falls off the end of the chain gets the chain's
// policy, counted in the policy counters.
//
// Cost: a chain with no rules and policy ACCEPT is not on the hook at all
// (like a hook nftables has no base chain for): ip.ts checks `chain.active`
// before calling in, so an empty chain costs one property load per packet,
// and its policy counters stay at zero. A walk allocates nothing: the IPv4
// and transport headers are read through views kept on this object, the
// transport header only once per walk and only if a rule asks for it.
//
// Header matches follow the kernel's xt_tcpudp and xt_icmp: a port, ICMP
// type or TCP flags match never matches a non-first fragment, and a first
// fragment (or packet) too short to hold the header it needs is "hotdropped"
// — dropped at once, no rule counted — as is a TCP fragment at offset 8
// ("Dropping evil TCP offset=1 frag": it could overwrite the flags).

import type { Net } from '../core/net.js';
import { PktType, type PacketBuffer } from '../core/packetBuffer.js';
import type { NetDevice } from '../nic/device.js';
import { ipv4ToString, prefixMask, type Ipv4Addr } from '../wire/address.js';
import { ICMP_DEST_UNREACH, ICMP_HEADER_LEN, IcmpPacket } from '../wire/icmp.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, Ipv4Packet, isLimitedBroadcast, isMulticastIpv4 } from '../wire/ipv4.js';
import { TCP_ACK, TCP_HLEN, TCP_RST, TcpSegment } from '../wire/tcp.js';
import { UDP_HLEN, UdpDatagram } from '../wire/udp.js';
import type { IpSendError, IpSendOptions } from './ip.js';
import {
  checkRule,
  formatRule,
  formatRuleExtras,
  formatRuleOptions,
  NF_CHAIN_NAMES,
  parseRule,
  protocolName,
  REJECT_ICMP_CODE,
  type NfChainName,
  type NfRuleSpec,
} from './netfilterRules.js';

/** Hook numbers: the index of each chain (Linux: NF_INET_PRE_ROUTING, LOCAL_IN, LOCAL_OUT, POST_ROUTING). */
export const NF_PREROUTING = 0;
export const NF_INPUT = 1;
export const NF_OUTPUT = 2;
export const NF_POSTROUTING = 3;

export type NfPolicy = 'ACCEPT' | 'DROP';

const T_NONE = 0;
const T_ACCEPT = 1;
const T_DROP = 2;
const T_REJECT = 3;

/** REJECT --reject-with tcp-reset, in NfRule.rejectCode (the others are ICMP codes). */
const REJECT_TCP_RESET = -1;

/** The transport header a rule must read: 0 none, else the bytes it needs. */
const L4_NONE = 0;

/** One rule, compiled for the walk, with its counters. */
export class NfRule {
  /** Packets and bytes (IP header included, as iptables) that matched. */
  packets = 0;
  bytes = 0;
  /** The rule as text, without its chain: `-p icmp --icmp-type echo-request -j DROP`. */
  readonly text: string;
  /** @internal compiled matches */
  readonly protocol: number;
  readonly src: number;
  readonly srcMask: number;
  readonly dst: number;
  readonly dstMask: number;
  readonly sportMin: number;
  readonly sportMax: number;
  readonly dportMin: number;
  readonly dportMax: number;
  readonly icmpType: number; // -1: any
  readonly icmpCodeMin: number;
  readonly icmpCodeMax: number;
  readonly tcpMask: number;
  readonly tcpComp: number;
  readonly inName: string | null;
  readonly inWild: boolean;
  readonly outName: string | null;
  readonly outWild: boolean;
  /** Bytes of transport header the matches read (0: none). */
  readonly l4: number;
  readonly target: number;
  readonly rejectCode: number;

  constructor(readonly spec: NfRuleSpec) {
    const r = spec;
    this.text = formatRuleOptions(r);
    this.protocol = r.protocol;
    this.srcMask = prefixMask(r.srcPrefix) | 0;
    this.src = r.src & this.srcMask;
    this.dstMask = prefixMask(r.dstPrefix) | 0;
    this.dst = r.dst & this.dstMask;
    this.sportMin = r.sport?.min ?? 0;
    this.sportMax = r.sport?.max ?? 0xffff;
    this.dportMin = r.dport?.min ?? 0;
    this.dportMax = r.dport?.max ?? 0xffff;
    this.icmpType = r.icmp?.type ?? -1;
    this.icmpCodeMin = r.icmp?.codeMin ?? 0;
    this.icmpCodeMax = r.icmp?.codeMax ?? 255;
    this.tcpMask = r.tcpFlags?.mask ?? 0;
    this.tcpComp = r.tcpFlags?.comp ?? 0;
    const wild = (s: string | null) => s !== null && s.endsWith('+');
    this.inWild = wild(r.in);
    this.inName = this.inWild ? r.in!.slice(0, -1) : r.in;
    this.outWild = wild(r.out);
    this.outName = this.outWild ? r.out!.slice(0, -1) : r.out;
    const needsL4 = r.sport !== null || r.dport !== null || r.icmp !== null || r.tcpFlags !== null;
    // xt_tcpudp reads a whole struct tcphdr (20) or udphdr (8); xt_icmp a struct icmphdr (8).
    this.l4 = !needsL4 ? L4_NONE : r.protocol === IPPROTO_TCP ? TCP_HLEN : r.protocol === IPPROTO_UDP ? UDP_HLEN : ICMP_HEADER_LEN;
    this.target = r.target === 'ACCEPT' ? T_ACCEPT : r.target === 'DROP' ? T_DROP : r.target === 'REJECT' ? T_REJECT : T_NONE;
    this.rejectCode =
      r.rejectWith === null ? 0 : r.rejectWith === 'tcp-reset' ? REJECT_TCP_RESET : REJECT_ICMP_CODE[r.rejectWith];
  }
}

/** One hook's chain: rules in order, the policy and its counters. */
export class NfChain {
  readonly rules: NfRule[] = [];
  policy: NfPolicy = 'ACCEPT';
  /** Packets and bytes that reached the end of the chain (only while the chain is active). */
  policyPackets = 0;
  policyBytes = 0;
  /** True when the hook must run: the chain has rules or a policy other than ACCEPT. */
  active = false;

  constructor(
    readonly hook: number,
    readonly name: NfChainName,
  ) {}

  /** @internal */
  update(): void {
    this.active = this.rules.length !== 0 || this.policy !== 'ACCEPT';
  }
}

/** What the hooks need of the IPv4 layer: send, and send an ICMP error. */
export interface NfIpLayer {
  output(pb: PacketBuffer, o: IpSendOptions): IpSendError;
  icmpError: (pb: PacketBuffer, type: number, code: number, info?: number) => void;
  allocPayload(len: number): PacketBuffer;
}

function invalid(msg: string): Error {
  return Object.assign(new Error(msg), { code: 'EINVAL' });
}

function ifMatch(name: string, want: string, wild: boolean): boolean {
  return wild ? name.startsWith(want) : name === want;
}

export class Netfilter {
  /** The chains, indexed by hook number (NF_PREROUTING ... NF_POSTROUTING). */
  readonly chains: readonly NfChain[] = NF_CHAIN_NAMES.map((n, i) => new NfChain(i, n));
  /** REJECT replies sent: ICMP errors and TCP resets. */
  readonly stats = { rejectIcmp: 0, rejectReset: 0, hotdrops: 0 };

  /**
   * The last packet this filter dropped: its hook, the rule that dropped it
   * (null: the policy, or a hotdrop). A drop watcher (the pcapng capture)
   * reads it to say why a frame died; see describeLastDrop.
   */
  lastDropHook = -1;
  lastDropRule: NfRule | null = null;
  lastDropHot = false;
  /**
   * Told when a rule ACCEPTs a packet (a policy ACCEPT is no verdict worth
   * telling): the pcapng capture writes it as the frame's comment.
   */
  onAccept: ((hook: number, rule: NfRule) => void) | null = null;

  private readonly ip4 = new Ipv4Packet();
  private readonly tcp = new TcpSegment();
  private readonly udp = new UdpDatagram();
  private readonly icmp = new IcmpPacket();

  constructor(
    private readonly net: Net,
    private readonly ip: NfIpLayer,
  ) {}

  chain(name: NfChainName | number): NfChain {
    const c = typeof name === 'number' ? this.chains[name] : this.chains.find((x) => x.name === name);
    if (!c) throw invalid(`unknown chain '${name}'; one of ${NF_CHAIN_NAMES.join(', ')}`);
    return c;
  }

  /**
   * iptables -A: appends a rule, given as text (`INPUT -p icmp -j DROP`) or
   * as a parsed spec. Throws an Error with code EINVAL if it is not valid.
   */
  append(rule: string | NfRuleSpec): NfRule {
    return this.insert(rule, -1);
  }

  /** iptables -I: inserts at `index` (0: first; -1: last). */
  insert(rule: string | NfRuleSpec, index = 0): NfRule {
    let spec: NfRuleSpec;
    if (typeof rule === 'string') {
      const r = parseRule(rule);
      if (!r.ok) throw invalid(`invalid rule '${rule}': ${r.error}`);
      spec = r.rule;
    } else {
      const bad = checkRule(rule);
      if (bad) throw invalid(`invalid rule '${formatRule(rule)}': ${bad}`);
      spec = rule;
    }
    const c = this.chain(spec.chain);
    const compiled = new NfRule(spec);
    if (index < 0 || index >= c.rules.length) c.rules.push(compiled);
    else c.rules.splice(index, 0, compiled);
    c.update();
    return compiled;
  }

  /** iptables -D CHAIN N (index from 0). Returns false if there is no such rule. */
  delete(chain: NfChainName, index: number): boolean {
    const c = this.chain(chain);
    if (!(index >= 0 && index < c.rules.length)) return false;
    c.rules.splice(index, 1);
    c.update();
    return true;
  }

  /** iptables -F [CHAIN]. */
  flush(chain?: NfChainName): void {
    for (const c of chain ? [this.chain(chain)] : this.chains) {
      c.rules.length = 0;
      c.update();
    }
  }

  /** iptables -P CHAIN ACCEPT|DROP. */
  setPolicy(chain: NfChainName, policy: NfPolicy): void {
    if (policy !== 'ACCEPT' && policy !== 'DROP') throw invalid(`a policy is ACCEPT or DROP, not '${String(policy)}'`);
    const c = this.chain(chain);
    c.policy = policy;
    c.update();
  }

  /** iptables -Z: zeroes every rule and policy counter. */
  zero(): void {
    for (const c of this.chains) {
      c.policyPackets = c.policyBytes = 0;
      for (const r of c.rules) r.packets = r.bytes = 0;
    }
  }

  /**
   * nf_hook_slow: walks the chain of `hook` for `pb` (pb.head at its IPv4
   * header, checked). Returns true if the packet may go on; false if it was
   * dropped (and freed). Call only when `chains[hook].active`.
   */
  hook(hook: number, pb: PacketBuffer, inDev: NetDevice | null, outDev: NetDevice | null): boolean {
    const chain = this.chains[hook]!;
    const rules = chain.rules;
    const buf = pb.buf;
    const len = pb.len;
    const ip = this.ip4.wrap(buf, pb.head, len);
    const proto = ip.protocol;
    const src = ip.src | 0;
    const dst = ip.dst | 0;
    const ihl = ip.headerLen;
    const fragOff = ip.fragOffset; // bytes
    const l4off = pb.head + ihl;
    const l4len = Math.min(len, ip.totalLength) - ihl;
    // The transport fields, read at most once per walk: -1 not yet, 0 too short, 1 read.
    let l4state = -1;
    let sport = 0;
    let dport = 0;
    let icmpType = 0;
    let icmpCode = 0;
    let tcpFlags = 0;

    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if (r.protocol !== 0 && r.protocol !== proto) continue;
      if (((src ^ r.src) & r.srcMask) !== 0) continue;
      if (((dst ^ r.dst) & r.dstMask) !== 0) continue;
      if (r.inName !== null && (inDev === null || !ifMatch(inDev.name, r.inName, r.inWild))) continue;
      if (r.outName !== null && (outDev === null || !ifMatch(outDev.name, r.outName, r.outWild))) continue;
      if (r.l4 !== L4_NONE) {
        if (fragOff !== 0) {
          if (proto === IPPROTO_TCP && fragOff === 8) return this.hotdrop(hook, pb);
          continue;
        }
        if (l4state < 0) {
          l4state = 0;
          if (proto === IPPROTO_TCP) {
            const t = this.tcp.wrap(buf, l4off, l4len);
            if (l4len >= TCP_HLEN && t.dataOffset >= TCP_HLEN) {
              sport = t.srcPort;
              dport = t.dstPort;
              tcpFlags = t.flags;
              l4state = 1;
            }
          } else if (proto === IPPROTO_UDP) {
            if (l4len >= UDP_HLEN) {
              const u = this.udp.wrap(buf, l4off, l4len);
              sport = u.srcPort;
              dport = u.dstPort;
              l4state = 1;
            }
          } else if (l4len >= ICMP_HEADER_LEN) {
            const m = this.icmp.wrap(buf, l4off, l4len);
            icmpType = m.type;
            icmpCode = m.code;
            l4state = 1;
          }
        }
        // "We've been asked to examine this packet, and we can't. Hence, no choice but to drop."
        if (l4state === 0) return this.hotdrop(hook, pb);
        if (sport < r.sportMin || sport > r.sportMax || dport < r.dportMin || dport > r.dportMax) continue;
        if ((tcpFlags & r.tcpMask) !== r.tcpComp) continue;
        if (r.icmpType >= 0 && (icmpType !== r.icmpType || icmpCode < r.icmpCodeMin || icmpCode > r.icmpCodeMax)) continue;
      }
      r.packets++;
      r.bytes += len;
      const t = r.target;
      if (t === T_NONE) continue;
      if (t === T_ACCEPT) {
        if (this.onAccept !== null) this.onAccept(hook, r);
        return true;
      }
      if (t === T_REJECT) this.reject(r, pb);
      return this.drop(hook, r, pb);
    }
    chain.policyPackets++;
    chain.policyBytes += len;
    if (chain.policy === 'ACCEPT') return true;
    return this.drop(hook, null, pb);
  }

  private drop(hook: number, rule: NfRule | null, pb: PacketBuffer): false {
    this.lastDropHook = hook;
    this.lastDropRule = rule;
    this.lastDropHot = false;
    this.net.drop(pb, 'netfilter-drop');
    return false;
  }

  private hotdrop(hook: number, pb: PacketBuffer): false {
    this.stats.hotdrops++;
    this.lastDropHook = hook;
    this.lastDropRule = null;
    this.lastDropHot = true;
    this.net.drop(pb, 'netfilter-drop');
    return false;
  }

  /**
   * Why the last drop happened, for a person: `INPUT rule 1: -p icmp
   * --icmp-type echo-request -j DROP`, `INPUT policy DROP`. Allocates: for
   * the capture's annotations, not the packet path.
   */
  describeLastDrop(): string {
    const c = this.chains[this.lastDropHook];
    if (!c) return 'netfilter';
    if (this.lastDropHot) return `${c.name}: hotdrop (a header a rule must read is truncated, or an evil fragment)`;
    const r = this.lastDropRule;
    if (r === null) return `${c.name} policy ${c.policy}`;
    return this.describeRule(this.lastDropHook, r);
  }

  /** `INPUT rule 2: -p tcp --dport 80 -j ACCEPT`, numbered as iptables -L --line-numbers does. */
  describeRule(hook: number, r: NfRule): string {
    const c = this.chains[hook]!;
    const n = c.rules.indexOf(r);
    return `${c.name} rule ${n < 0 ? '(deleted)' : n + 1}: ${r.text}`;
  }

  // ---- REJECT (ipt_REJECT.c, nf_reject_ipv4.c) ------------------------------

  private reject(r: NfRule, pb: PacketBuffer): void {
    if (r.rejectCode === REJECT_TCP_RESET) this.sendReset(pb);
    else this.sendUnreach(pb, r.rejectCode);
  }

  /**
   * nf_send_unreach: an ICMP destination unreachable about `pb`, unless it
   * is a non-first fragment or its transport checksum is wrong (the sender
   * would not recognise it). icmp_send applies the RFC 1122 rules (never
   * about a broadcast, an ICMP error, ...) and the rate limits.
   */
  private sendUnreach(pb: PacketBuffer, code: number): void {
    const ip = this.ip4.wrap(pb.buf, pb.head, pb.len);
    if (ip.fragOffset !== 0) return;
    if (!this.transportChecksumOk(ip)) return;
    this.stats.rejectIcmp++;
    this.ip.icmpError(pb, ICMP_DEST_UNREACH, code);
  }

  private transportChecksumOk(ip: Ipv4Packet): boolean {
    if (ip.moreFrags) return true; // a first fragment: the checksum covers bytes not here
    const off = ip.payloadOffset;
    const len = ip.payloadLen;
    switch (ip.protocol) {
      case IPPROTO_TCP:
        return len >= TCP_HLEN && this.tcp.wrap(ip.buf, off, len).verifyChecksum(ip.src, ip.dst, len);
      case IPPROTO_UDP: {
        const u = this.udp.wrap(ip.buf, off, len);
        return u.check() === null && u.verifyChecksum(ip.src, ip.dst);
      }
      case IPPROTO_ICMP:
        return this.icmp.wrap(ip.buf, off, len).check() === null;
      default:
        return true;
    }
  }

  /**
   * nf_send_reset: a TCP RST for the segment in `pb` (RFC 9293 §3.10.7.1,
   * "If the connection does not exist (CLOSED)"):
   *   - if the segment has ACK, the reset takes its sequence number from the
   *     segment's ACK field: <SEQ=SEG.ACK><CTL=RST>;
   *   - otherwise it has sequence number zero and acknowledges everything
   *     the segment occupied: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
   * Never about a RST ("An incoming segment containing a RST is discarded"),
   * a non-first fragment, a segment with a bad checksum, or one sent to a
   * broadcast or multicast address. The reset leaves from the address the
   * segment was sent to, DF set, TOS 0 (nf_reject_iphdr_put), and walks
   * OUTPUT and POSTROUTING like any packet this host sends.
   */
  private sendReset(pb: PacketBuffer): void {
    const ip = this.ip4.wrap(pb.buf, pb.head, pb.len);
    if (ip.fragOffset !== 0 || ip.protocol !== IPPROTO_TCP) return;
    const saddr: Ipv4Addr = ip.dst;
    const daddr: Ipv4Addr = ip.src;
    if (pb.pktType !== PktType.Host || isLimitedBroadcast(saddr) || isMulticastIpv4(saddr)) return;
    const len = ip.payloadLen;
    const th = this.tcp.wrap(pb.buf, ip.payloadOffset, len);
    if (th.check() !== null) return;
    if (th.rst) return;
    if (!ip.moreFrags && !th.verifyChecksum(daddr, saddr, len)) return;
    const oldAck = th.ackFlag;
    const sport = th.dstPort;
    const dport = th.srcPort;
    const seq = oldAck ? th.ack : 0;
    const ack = oldAck ? 0 : (th.seq + th.segmentLength) >>> 0;

    const out = this.ip.allocPayload(TCP_HLEN);
    const at = out.put(TCP_HLEN);
    out.buf.fill(0, at, at + TCP_HLEN);
    const rst = this.tcp.wrap(out.buf, at, TCP_HLEN);
    rst.srcPort = sport;
    rst.dstPort = dport;
    rst.seq = seq;
    rst.ack = ack;
    rst.dataOffset = TCP_HLEN;
    rst.flags = oldAck ? TCP_RST : TCP_RST | TCP_ACK;
    rst.window = 0;
    rst.fillChecksum(saddr, daddr);
    this.stats.rejectReset++;
    this.ip.output(out, { saddr, daddr, protocol: IPPROTO_TCP, dontFrag: true, tos: 0 });
  }

  // ---- listing ----------------------------------------------------------------

  /**
   * The rules with their counters, as `iptables -L -v -n -x --line-numbers`
   * prints them (exact counts; addresses as numbers).
   */
  listing(): string {
    const out: string[] = [];
    for (const c of this.chains) {
      out.push(`Chain ${c.name} (policy ${c.policy} ${c.policyPackets} packets, ${c.policyBytes} bytes)`);
      const rows: string[][] = [['num', 'pkts', 'bytes', 'target', 'prot', 'opt', 'in', 'out', 'source', 'destination', '']];
      c.rules.forEach((r, i) => {
        const s = r.spec;
        rows.push([
          String(i + 1),
          String(r.packets),
          String(r.bytes),
          s.target ?? '',
          protocolName(s.protocol),
          '--',
          s.in ?? '*',
          s.out ?? '*',
          `${ipv4ToString(s.src)}/${s.srcPrefix}`,
          `${ipv4ToString(s.dst)}/${s.dstPrefix}`,
          formatRuleExtras(s),
        ]);
      });
      out.push(table(rows, new Set([0, 1, 2])));
      out.push('');
    }
    return out.join('\n').trimEnd();
  }
}

/** Columns padded to their widest cell; numbers (the columns in `right`) right-aligned. */
function table(rows: string[][], right: Set<number>): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' ').trimEnd()).join('\n');
}
