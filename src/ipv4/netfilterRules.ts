// netfilterRules: the rule language of the netfilter hooks — parsing and
// printing, nothing else (pure: no I/O, no stack). Two ways in, one result:
//
//   text   an iptables-like subset, chain first (an `-A` in front is allowed):
//            INPUT -p tcp --dport 81 -j REJECT --reject-with tcp-reset
//            INPUT -p icmp --icmp-type echo-request -j DROP
//            OUTPUT -o eth0 -d 10.0.0.0/8 -p udp --sport 1000:2000 -j ACCEPT
//   JSON   one object per rule, the same fields by name:
//            {"chain": "INPUT", "protocol": "tcp", "dport": 81,
//             "target": "REJECT", "rejectWith": "tcp-reset"}
//
// Both fill the same raw record, checked by one function, so a rule means
// the same whichever way it came in and a bad one gets the same sentence
// (naming the option as the user wrote it: `--dport` or `dport`). Parsing
// never throws: it returns the rule or the reason, and the caller says which
// rule (its text, or its index in the file).
//
// Checks follow iptables and the kernel's xt_* checkentry functions: port
// matches need -p tcp or udp, --icmp-type needs -p icmp, -i is meaningless
// where packets have no input device (OUTPUT, POSTROUTING) and -o where they
// have no output device yet (PREROUTING, INPUT), REJECT lives only in INPUT
// and OUTPUT (iptables also allows FORWARD; this stack does not forward), and
// tcp-reset needs -p tcp (ipt_REJECT: "TCP_RESET invalid for non-tcp").

import { ipv4ToString, parseIpv4, prefixMask, type Ipv4Addr } from '../wire/address.js';

export type NfChainName = 'PREROUTING' | 'INPUT' | 'OUTPUT' | 'POSTROUTING';
/** The chains in hook order (their index is the hook number in netfilter.ts). */
export const NF_CHAIN_NAMES: readonly NfChainName[] = ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'];

export type NfTarget = 'ACCEPT' | 'DROP' | 'REJECT';

export type NfRejectWith =
  | 'icmp-net-unreachable'
  | 'icmp-host-unreachable'
  | 'icmp-port-unreachable'
  | 'icmp-proto-unreachable'
  | 'icmp-net-prohibited'
  | 'icmp-host-prohibited'
  | 'icmp-admin-prohibited'
  | 'tcp-reset';

/** The ICMP destination-unreachable code each --reject-with sends (ipt_REJECT). */
export const REJECT_ICMP_CODE: Readonly<Record<Exclude<NfRejectWith, 'tcp-reset'>, number>> = {
  'icmp-net-unreachable': 0,
  'icmp-host-unreachable': 1,
  'icmp-proto-unreachable': 2,
  'icmp-port-unreachable': 3,
  'icmp-net-prohibited': 9,
  'icmp-host-prohibited': 10,
  'icmp-admin-prohibited': 13,
};

/** libxt_REJECT's short aliases. */
const REJECT_ALIASES: Readonly<Record<string, NfRejectWith>> = {
  'net-unreach': 'icmp-net-unreachable',
  'host-unreach': 'icmp-host-unreachable',
  'proto-unreach': 'icmp-proto-unreachable',
  'port-unreach': 'icmp-port-unreachable',
  'net-prohib': 'icmp-net-prohibited',
  'host-prohib': 'icmp-host-prohibited',
  'admin-prohib': 'icmp-admin-prohibited',
  'tcp-rst': 'tcp-reset',
};

export interface NfPortRange {
  min: number;
  max: number;
}

export interface NfIcmpMatch {
  type: number;
  codeMin: number;
  codeMax: number;
}

/** A checked, normalized rule: what the hooks compile and what is printed. */
export interface NfRuleSpec {
  chain: NfChainName;
  /** IP protocol number; 0 matches every protocol (iptables `-p all`). */
  protocol: number;
  /** Source network; prefix 0 matches any source (src is then 0). src has no host bits. */
  src: Ipv4Addr;
  srcPrefix: number;
  dst: Ipv4Addr;
  dstPrefix: number;
  /** Port ranges (tcp/udp only), inclusive; null: any. */
  sport: NfPortRange | null;
  dport: NfPortRange | null;
  /** ICMP type and code range (icmp only); null: any. */
  icmp: NfIcmpMatch | null;
  /** TCP flags: (flags & mask) === comp (tcp only); null: any. */
  tcpFlags: { mask: number; comp: number } | null;
  /** Interface names; a trailing '+' matches every name with that prefix. null: any. */
  in: string | null;
  out: string | null;
  /** null: no target — the rule only counts and the packet goes on to the next rule. */
  target: NfTarget | null;
  /** Set exactly when target is REJECT. */
  rejectWith: NfRejectWith | null;
}

export type NfParseResult = { ok: true; rule: NfRuleSpec } | { ok: false; error: string };

const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

const PROTO_NAMES: Readonly<Record<string, number>> = { all: 0, icmp: IPPROTO_ICMP, tcp: IPPROTO_TCP, udp: IPPROTO_UDP };

export function protocolName(p: number): string {
  return p === 0 ? 'all' : p === IPPROTO_ICMP ? 'icmp' : p === IPPROTO_TCP ? 'tcp' : p === IPPROTO_UDP ? 'udp' : String(p);
}

// ---- ICMP type names (iptables -p icmp --help; libxt_icmp.c) ----------------

interface IcmpName {
  name: string;
  type: number;
  codeMin: number;
  codeMax: number;
}

const ANY_CODE = [0, 255] as const;
const ICMP_NAMES: readonly IcmpName[] = [
  ['echo-reply', 0, ...ANY_CODE],
  ['destination-unreachable', 3, ...ANY_CODE],
  ['network-unreachable', 3, 0, 0],
  ['host-unreachable', 3, 1, 1],
  ['protocol-unreachable', 3, 2, 2],
  ['port-unreachable', 3, 3, 3],
  ['fragmentation-needed', 3, 4, 4],
  ['source-route-failed', 3, 5, 5],
  ['network-unknown', 3, 6, 6],
  ['host-unknown', 3, 7, 7],
  ['network-prohibited', 3, 9, 9],
  ['host-prohibited', 3, 10, 10],
  ['TOS-network-unreachable', 3, 11, 11],
  ['TOS-host-unreachable', 3, 12, 12],
  ['communication-prohibited', 3, 13, 13],
  ['host-precedence-violation', 3, 14, 14],
  ['precedence-cutoff', 3, 15, 15],
  ['source-quench', 4, ...ANY_CODE],
  ['redirect', 5, ...ANY_CODE],
  ['network-redirect', 5, 0, 0],
  ['host-redirect', 5, 1, 1],
  ['TOS-network-redirect', 5, 2, 2],
  ['TOS-host-redirect', 5, 3, 3],
  ['echo-request', 8, ...ANY_CODE],
  ['router-advertisement', 9, ...ANY_CODE],
  ['router-solicitation', 10, ...ANY_CODE],
  ['time-exceeded', 11, ...ANY_CODE],
  ['ttl-exceeded', 11, ...ANY_CODE],
  ['ttl-zero-during-transit', 11, 0, 0],
  ['ttl-zero-during-reassembly', 11, 1, 1],
  ['parameter-problem', 12, ...ANY_CODE],
  ['ip-header-bad', 12, 0, 0],
  ['required-option-missing', 12, 1, 1],
  ['timestamp-request', 13, ...ANY_CODE],
  ['timestamp-reply', 14, ...ANY_CODE],
  ['address-mask-request', 17, ...ANY_CODE],
  ['address-mask-reply', 18, ...ANY_CODE],
].map(([name, type, codeMin, codeMax]) => ({ name, type, codeMin, codeMax }) as IcmpName);

/** Aliases never chosen when printing. */
const ICMP_ALIASES = new Set(['ttl-exceeded']);

/** The name iptables would print for an ICMP match, else TYPE or TYPE/CODE. */
export function icmpMatchName(m: NfIcmpMatch): string {
  for (const n of ICMP_NAMES) {
    if (!ICMP_ALIASES.has(n.name) && n.type === m.type && n.codeMin === m.codeMin && n.codeMax === m.codeMax) return n.name;
  }
  if (m.codeMin === 0 && m.codeMax === 255) return String(m.type);
  return m.codeMin === m.codeMax ? `${m.type}/${m.codeMin}` : `${m.type}/${m.codeMin}-${m.codeMax}`;
}

// ---- TCP flags ------------------------------------------------------------------

const TCP_FLAG_BITS: Readonly<Record<string, number>> = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
  ALL: 0xff,
  NONE: 0,
};
const TCP_FLAG_ORDER = ['SYN', 'ACK', 'FIN', 'RST', 'URG', 'PSH', 'ECE', 'CWR'];

/** "SYN,ACK" for 0x12; "NONE" for 0; "ALL" for 0xff. */
export function tcpFlagNames(bits: number): string {
  if (bits === 0) return 'NONE';
  if (bits === 0xff) return 'ALL';
  return TCP_FLAG_ORDER.filter((n) => bits & TCP_FLAG_BITS[n]!).join(',');
}

/** `--syn`: SYN set, RST, ACK and FIN clear (libxt_tcp). */
const SYN_MASK = 0x17;
const SYN_COMP = 0x02;

// ---- the raw record both front ends fill --------------------------------------

/** The JSON shape of a rule, and what the text parser produces: values not yet checked. */
export interface NfRuleObject {
  chain?: unknown;
  protocol?: unknown;
  source?: unknown;
  destination?: unknown;
  sport?: unknown;
  dport?: unknown;
  icmpType?: unknown;
  tcpFlags?: unknown;
  in?: unknown;
  out?: unknown;
  target?: unknown;
  rejectWith?: unknown;
}

type Field = keyof NfRuleObject;
const FIELDS: readonly Field[] = ['chain', 'protocol', 'source', 'destination', 'sport', 'dport', 'icmpType', 'tcpFlags', 'in', 'out', 'target', 'rejectWith'];

/** How each front end names a field in its messages. */
type Names = Readonly<Record<Field, string>>;

const TEXT_NAMES: Names = {
  chain: 'the chain',
  protocol: '-p',
  source: '-s',
  destination: '-d',
  sport: '--sport',
  dport: '--dport',
  icmpType: '--icmp-type',
  tcpFlags: '--tcp-flags',
  in: '-i',
  out: '-o',
  target: '-j',
  rejectWith: '--reject-with',
};

const JSON_NAMES: Names = Object.fromEntries(FIELDS.map((f) => [f, f === 'chain' ? 'chain' : `"${f}"`])) as unknown as Names;

class RuleError extends Error {}

function fail(msg: string): never {
  throw new RuleError(msg);
}

function str(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return fail(`${what} must be a string, got ${JSON.stringify(v)}`);
}

function parseChain(v: unknown, n: Names): NfChainName {
  const s = str(v, n.chain);
  if ((NF_CHAIN_NAMES as readonly string[]).includes(s)) return s as NfChainName;
  if (s === 'FORWARD') fail("there is no FORWARD chain: this stack does not forward packets (chains: PREROUTING, INPUT, OUTPUT, POSTROUTING)");
  const hint = (NF_CHAIN_NAMES as readonly string[]).includes(s.toUpperCase()) ? ` (chain names are upper case: ${s.toUpperCase()})` : '';
  return fail(`unknown chain '${s}'${hint}; one of PREROUTING, INPUT, OUTPUT, POSTROUTING`);
}

function parseProtocol(v: unknown, n: Names): number {
  const s = str(v, n.protocol).toLowerCase();
  if (s in PROTO_NAMES) return PROTO_NAMES[s]!;
  if (/^[0-9]{1,3}$/.test(s) && Number(s) <= 255) return Number(s);
  return fail(`${n.protocol}: unknown protocol '${s}' (icmp, tcp, udp, all, or a number 0-255)`);
}

function parseNet(v: unknown, name: string): { addr: Ipv4Addr; prefix: number } {
  const s = str(v, name);
  const slash = s.indexOf('/');
  const addr = parseIpv4(slash < 0 ? s : s.slice(0, slash));
  if (addr === null) fail(`${name}: '${s}' is not an IPv4 address or network (a.b.c.d or a.b.c.d/len)`);
  let prefix = 32;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^[0-9]{1,2}$/.test(p) || Number(p) > 32) fail(`${name}: '${s}': the prefix length must be 0-32`);
    prefix = Number(p);
  }
  // iptables keeps only the network part: -s 10.0.0.5/24 is 10.0.0.0/24.
  return { addr: (addr & prefixMask(prefix)) >>> 0, prefix };
}

function parsePort(s: string, name: string, whole: string): number {
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) > 65535) fail(`${name}: '${whole}' is not a port (0-65535) or a range (MIN:MAX)`);
  return Number(s);
}

function parsePorts(v: unknown, name: string): NfPortRange {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 65535) fail(`${name}: ${v} is not a port (0-65535)`);
    return { min: v, max: v };
  }
  const s = str(v, name);
  const colon = s.indexOf(':');
  if (colon < 0) {
    const p = parsePort(s, name, s);
    return { min: p, max: p };
  }
  // MIN:MAX, :MAX (from 0), MIN: (to 65535), as iptables.
  const lo = colon === 0 ? 0 : parsePort(s.slice(0, colon), name, s);
  const hi = colon === s.length - 1 ? 65535 : parsePort(s.slice(colon + 1), name, s);
  if (lo > hi) fail(`${name}: invalid port range '${s}' (min > max)`);
  return { min: lo, max: hi };
}

function parseIcmpType(v: unknown, name: string): NfIcmpMatch | null {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 255) fail(`${name}: ${v} is not an ICMP type (0-255)`);
    return { type: v, codeMin: 0, codeMax: 255 };
  }
  const s = str(v, name);
  if (s === 'any') return null;
  const named = ICMP_NAMES.find((x) => x.name.toLowerCase() === s.toLowerCase());
  if (named) return { type: named.type, codeMin: named.codeMin, codeMax: named.codeMax };
  const m = /^([0-9]{1,3})(?:\/([0-9]{1,3}))?$/.exec(s);
  if (m && Number(m[1]) <= 255 && (m[2] === undefined || Number(m[2]) <= 255)) {
    const code = m[2] === undefined ? null : Number(m[2]);
    return { type: Number(m[1]), codeMin: code ?? 0, codeMax: code ?? 255 };
  }
  return fail(
    `${name}: unknown ICMP type '${s}' (a name such as echo-request, echo-reply, destination-unreachable, ` +
      'port-unreachable, time-exceeded, or TYPE[/CODE] with numbers 0-255)',
  );
}

function parseFlagList(s: string, name: string): number {
  let bits = 0;
  for (const f of s.split(',')) {
    const b = TCP_FLAG_BITS[f.toUpperCase()];
    if (b === undefined) fail(`${name}: unknown TCP flag '${f}' (SYN, ACK, FIN, RST, URG, PSH, ECE, CWR, ALL, NONE; comma-separated)`);
    bits |= b;
  }
  return bits;
}

function parseTcpFlags(v: unknown, name: string): { mask: number; comp: number } {
  let mask: unknown;
  let comp: unknown;
  if (typeof v === 'string') {
    if (v === 'syn') return { mask: SYN_MASK, comp: SYN_COMP };
    const parts = v.trim().split(/\s+/);
    if (parts.length !== 2) fail(`${name} takes two lists, the flags to examine and those that must be set, e.g. 'SYN,ACK SYN'; got '${v}'`);
    [mask, comp] = parts;
  } else if (Array.isArray(v) && v.length === 2) {
    [mask, comp] = v;
  } else if (v !== null && typeof v === 'object' && 'mask' in v && 'comp' in v) {
    ({ mask, comp } = v as { mask: unknown; comp: unknown });
  } else {
    return fail(`${name} must be 'MASK COMP' (e.g. 'SYN,ACK SYN'), [MASK, COMP] or {"mask": ..., "comp": ...}; got ${JSON.stringify(v)}`);
  }
  const m = parseFlagList(str(mask, name), name);
  const c = parseFlagList(str(comp, name), name);
  if ((c & ~m) !== 0) fail(`${name}: the flags that must be set (${tcpFlagNames(c)}) must be among those examined (${tcpFlagNames(m)}), or the rule never matches`);
  return { mask: m, comp: c };
}

const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}\+?$|^\+$/;

function parseIface(v: unknown, name: string): string {
  const s = str(v, name);
  if (!IFNAME.test(s)) fail(`${name}: '${s}' is not an interface name (1-15 of letters, digits, _ . - ; a trailing + matches every name it starts)`);
  return s;
}

function parseTarget(v: unknown, name: string): NfTarget {
  const s = str(v, name);
  if (s === 'ACCEPT' || s === 'DROP' || s === 'REJECT') return s;
  const up = s.toUpperCase();
  const hint = up === 'ACCEPT' || up === 'DROP' || up === 'REJECT' ? ` (targets are upper case: ${up})` : '';
  return fail(`${name}: unknown target '${s}'${hint}; one of ACCEPT, DROP, REJECT`);
}

function parseRejectWith(v: unknown, name: string): NfRejectWith {
  const s = str(v, name);
  if (s === 'tcp-reset' || s in REJECT_ICMP_CODE) return s as NfRejectWith;
  const alias = REJECT_ALIASES[s];
  if (alias) return alias;
  return fail(`${name}: unknown type '${s}'; one of ${[...Object.keys(REJECT_ICMP_CODE), 'tcp-reset'].join(', ')}`);
}

/** Checks a raw record and builds the rule; throws RuleError with the reason. */
function build(o: NfRuleObject, n: Names): NfRuleSpec {
  if (o.chain === undefined) fail('no chain: a rule starts with PREROUTING, INPUT, OUTPUT or POSTROUTING');
  const chain = parseChain(o.chain, n);
  const protocol = o.protocol === undefined ? 0 : parseProtocol(o.protocol, n);
  const src = o.source === undefined ? { addr: 0, prefix: 0 } : parseNet(o.source, n.source);
  const dst = o.destination === undefined ? { addr: 0, prefix: 0 } : parseNet(o.destination, n.destination);
  const rule: NfRuleSpec = {
    chain,
    protocol,
    src: src.addr,
    srcPrefix: src.prefix,
    dst: dst.addr,
    dstPrefix: dst.prefix,
    sport: o.sport === undefined ? null : parsePorts(o.sport, n.sport),
    dport: o.dport === undefined ? null : parsePorts(o.dport, n.dport),
    icmp: o.icmpType === undefined ? null : parseIcmpType(o.icmpType, n.icmpType),
    tcpFlags: o.tcpFlags === undefined ? null : parseTcpFlags(o.tcpFlags, n.tcpFlags),
    in: o.in === undefined ? null : parseIface(o.in, n.in),
    out: o.out === undefined ? null : parseIface(o.out, n.out),
    target: o.target === undefined ? null : parseTarget(o.target, n.target),
    rejectWith: o.rejectWith === undefined ? null : parseRejectWith(o.rejectWith, n.rejectWith),
  };
  if (rule.target === 'REJECT' && rule.rejectWith === null) rule.rejectWith = 'icmp-port-unreachable';
  const bad = check(rule, n);
  if (bad) fail(bad);
  return rule;
}

/**
 * The cross-field checks (and ranges) of a normalized rule: null if it is
 * valid, else the reason. Netfilter.append runs it on rules built in code.
 */
export function checkRule(r: NfRuleSpec): string | null {
  return check(r, TEXT_NAMES);
}

function check(r: NfRuleSpec, n: Names): string | null {
  if (!(NF_CHAIN_NAMES as readonly string[]).includes(r.chain)) return `unknown chain '${r.chain}'`;
  if (!Number.isInteger(r.protocol) || r.protocol < 0 || r.protocol > 255) return `${n.protocol}: ${r.protocol} is not a protocol number (0-255)`;
  for (const [p, name] of [[r.srcPrefix, n.source], [r.dstPrefix, n.destination]] as const) {
    if (!Number.isInteger(p) || p < 0 || p > 32) return `${name}: prefix length ${p} is not 0-32`;
  }
  const tcpUdp = r.protocol === IPPROTO_TCP || r.protocol === IPPROTO_UDP;
  for (const [range, name] of [[r.sport, n.sport], [r.dport, n.dport]] as const) {
    if (range === null) continue;
    if (!tcpUdp) return `${name} needs ${n === TEXT_NAMES ? '-p tcp or -p udp' : '"protocol": "tcp" or "udp"'} (ports belong to TCP and UDP)`;
    if (!(Number.isInteger(range.min) && Number.isInteger(range.max) && range.min >= 0 && range.min <= range.max && range.max <= 65535)) {
      return `${name}: invalid port range ${range.min}:${range.max}`;
    }
  }
  if (r.icmp !== null && r.protocol !== IPPROTO_ICMP) return `${n.icmpType} needs ${n === TEXT_NAMES ? '-p icmp' : '"protocol": "icmp"'}`;
  if (r.tcpFlags !== null && r.protocol !== IPPROTO_TCP) return `${n.tcpFlags} needs ${n === TEXT_NAMES ? '-p tcp' : '"protocol": "tcp"'}`;
  if (r.in !== null && (r.chain === 'OUTPUT' || r.chain === 'POSTROUTING')) {
    return `${n.in} cannot be used in the ${r.chain} chain: packets there have no input interface`;
  }
  if (r.out !== null && (r.chain === 'PREROUTING' || r.chain === 'INPUT')) {
    return `${n.out} cannot be used in the ${r.chain} chain: packets there have no output interface`;
  }
  if (r.rejectWith !== null && r.target !== 'REJECT') return `${n.rejectWith} needs ${n === TEXT_NAMES ? '-j REJECT' : '"target": "REJECT"'}`;
  if (r.target === 'REJECT') {
    if (r.chain !== 'INPUT' && r.chain !== 'OUTPUT') {
      return `REJECT is valid only in the INPUT and OUTPUT chains, not ${r.chain} (iptables allows INPUT, FORWARD and OUTPUT; this stack does not forward)`;
    }
    if (r.rejectWith === 'tcp-reset' && r.protocol !== IPPROTO_TCP) return `${n.rejectWith} tcp-reset needs ${n === TEXT_NAMES ? '-p tcp' : '"protocol": "tcp"'}`;
  }
  return null;
}

// ---- the text front end -----------------------------------------------------------

/** Each option: the field it fills and how many words it takes. */
const TEXT_OPTIONS: Readonly<Record<string, { field: Field | 'syn' | 'match'; argc: number }>> = {
  '-p': { field: 'protocol', argc: 1 },
  '--protocol': { field: 'protocol', argc: 1 },
  '-s': { field: 'source', argc: 1 },
  '--source': { field: 'source', argc: 1 },
  '--src': { field: 'source', argc: 1 },
  '-d': { field: 'destination', argc: 1 },
  '--destination': { field: 'destination', argc: 1 },
  '--dst': { field: 'destination', argc: 1 },
  '--sport': { field: 'sport', argc: 1 },
  '--source-port': { field: 'sport', argc: 1 },
  '--dport': { field: 'dport', argc: 1 },
  '--destination-port': { field: 'dport', argc: 1 },
  '--icmp-type': { field: 'icmpType', argc: 1 },
  '--tcp-flags': { field: 'tcpFlags', argc: 2 },
  '--syn': { field: 'syn', argc: 0 },
  '-i': { field: 'in', argc: 1 },
  '--in-interface': { field: 'in', argc: 1 },
  '-o': { field: 'out', argc: 1 },
  '--out-interface': { field: 'out', argc: 1 },
  '-j': { field: 'target', argc: 1 },
  '--jump': { field: 'target', argc: 1 },
  '--reject-with': { field: 'rejectWith', argc: 1 },
  '-m': { field: 'match', argc: 1 },
  '--match': { field: 'match', argc: 1 },
};

/** Parses one rule in the iptables-like text form. Never throws. */
export function parseRule(text: string): NfParseResult {
  try {
    const words = text.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) fail('empty rule');
    let i = 0;
    if (words[0] === '-A' || words[0] === '--append') i++;
    const chainWord = words[i++];
    if (chainWord === undefined) fail('no chain after -A');
    if (chainWord.startsWith('-')) fail(`a rule starts with its chain (PREROUTING, INPUT, OUTPUT or POSTROUTING), not '${chainWord}'`);
    const o: NfRuleObject = { chain: chainWord };
    const seen = new Set<string>();
    let match: string | null = null;
    while (i < words.length) {
      const w = words[i++]!;
      if (w === '!') fail("negation ('!') is not supported");
      const opt = TEXT_OPTIONS[w];
      if (!opt) fail(w.startsWith('-') ? `unknown option '${w}'` : `unexpected '${w}' (every value follows its option)`);
      const field = opt.field;
      const key = field === 'syn' ? 'tcpFlags' : field;
      if (seen.has(key)) fail(`${w} given twice${field === 'syn' ? ' (--syn is --tcp-flags SYN,RST,ACK,FIN SYN)' : ''}`);
      seen.add(key);
      const args = words.slice(i, i + opt.argc);
      if (args.length < opt.argc || args.some((a) => a.startsWith('-'))) {
        fail(`${w} needs ${opt.argc === 2 ? 'two values' : 'a value'}`);
      }
      if (args.includes('!')) fail("negation ('!') is not supported");
      i += opt.argc;
      if (field === 'syn') o.tcpFlags = 'syn';
      else if (field === 'match') match = args[0]!;
      else if (field === 'tcpFlags') o.tcpFlags = `${args[0]} ${args[1]}`;
      else o[field] = args[0];
    }
    if (match !== null && match !== 'tcp' && match !== 'udp' && match !== 'icmp') fail(`-m ${match}: only the tcp, udp and icmp matches exist here`);
    const rule = build(o, TEXT_NAMES);
    // `-m tcp` and friends load the match iptables needs for --dport; here it is implied by -p.
    if (match !== null && rule.protocol !== PROTO_NAMES[match]) fail(`-m ${match} needs -p ${match}`);
    return { ok: true, rule };
  } catch (e) {
    if (e instanceof RuleError) return { ok: false, error: e.message };
    throw e;
  }
}

// ---- the JSON front end -----------------------------------------------------------

/** Builds one rule from its JSON object form. Never throws. */
export function ruleFromObject(v: unknown): NfParseResult {
  try {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`a rule must be an object like {"chain": "INPUT", "protocol": "icmp", "target": "DROP"}, got ${JSON.stringify(v)}`);
    for (const k of Object.keys(v)) {
      if (!(FIELDS as readonly string[]).includes(k)) fail(`unknown field "${k}" (fields: ${FIELDS.join(', ')})`);
    }
    const o = { ...(v as NfRuleObject) };
    // null means "not given", as an absent field.
    for (const f of FIELDS) if (o[f] === null) delete o[f];
    return { ok: true, rule: build(o, JSON_NAMES) };
  } catch (e) {
    if (e instanceof RuleError) return { ok: false, error: e.message };
    throw e;
  }
}

/**
 * Parses the text of a rules file: a JSON array of rule objects. The error
 * names the rule by its index in the array: `rule [2]: ...`.
 */
export function parseRulesJson(text: string): { ok: true; rules: NfRuleSpec[] } | { ok: false; error: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not valid JSON: ${(e as Error).message}` };
  }
  if (!Array.isArray(v)) return { ok: false, error: 'expected a JSON array of rule objects' };
  const rules: NfRuleSpec[] = [];
  for (let i = 0; i < v.length; i++) {
    const r = ruleFromObject(v[i]);
    if (!r.ok) return { ok: false, error: `rule [${i}]: ${r.error}` };
    rules.push(r.rule);
  }
  return { ok: true, rules };
}

// ---- printing -------------------------------------------------------------------

function net(addr: Ipv4Addr, prefix: number): string {
  return prefix === 32 ? ipv4ToString(addr) : `${ipv4ToString(addr)}/${prefix}`;
}

function ports(r: NfPortRange): string {
  return r.min === r.max ? String(r.min) : `${r.min}:${r.max}`;
}

/** The options of a rule, without its chain, in the canonical text form (parseRule reads it back). */
export function formatRuleOptions(r: NfRuleSpec): string {
  const w: string[] = [];
  if (r.in !== null) w.push('-i', r.in);
  if (r.out !== null) w.push('-o', r.out);
  if (r.srcPrefix !== 0) w.push('-s', net(r.src, r.srcPrefix));
  if (r.dstPrefix !== 0) w.push('-d', net(r.dst, r.dstPrefix));
  if (r.protocol !== 0) w.push('-p', protocolName(r.protocol));
  if (r.sport) w.push('--sport', ports(r.sport));
  if (r.dport) w.push('--dport', ports(r.dport));
  if (r.icmp) w.push('--icmp-type', icmpMatchName(r.icmp));
  if (r.tcpFlags) w.push('--tcp-flags', tcpFlagNames(r.tcpFlags.mask), tcpFlagNames(r.tcpFlags.comp));
  if (r.target !== null) w.push('-j', r.target);
  if (r.target === 'REJECT' && r.rejectWith !== 'icmp-port-unreachable') w.push('--reject-with', r.rejectWith!);
  return w.join(' ');
}

/** A whole rule in the canonical text form: `INPUT -p icmp --icmp-type echo-request -j DROP`. */
export function formatRule(r: NfRuleSpec): string {
  const opts = formatRuleOptions(r);
  return opts ? `${r.chain} ${opts}` : r.chain;
}

/**
 * The match column `iptables -L -n` prints after the addresses:
 * `tcp dpt:81 flags:0x17/0x02 reject-with tcp-reset`, `icmptype 8`.
 */
export function formatRuleExtras(r: NfRuleSpec): string {
  const w: string[] = [];
  if (r.sport || r.dport || r.tcpFlags) {
    w.push(protocolName(r.protocol));
    if (r.sport) w.push(r.sport.min === r.sport.max ? `spt:${r.sport.min}` : `spts:${r.sport.min}:${r.sport.max}`);
    if (r.dport) w.push(r.dport.min === r.dport.max ? `dpt:${r.dport.min}` : `dpts:${r.dport.min}:${r.dport.max}`);
    if (r.tcpFlags) w.push(`flags:0x${hex2(r.tcpFlags.mask)}/0x${hex2(r.tcpFlags.comp)}`);
  }
  if (r.icmp) {
    w.push(`icmptype ${r.icmp.type}`);
    if (r.icmp.codeMin === r.icmp.codeMax) w.push(`code ${r.icmp.codeMin}`);
    else if (r.icmp.codeMin !== 0 || r.icmp.codeMax !== 255) w.push(`codes ${r.icmp.codeMin}-${r.icmp.codeMax}`);
  }
  if (r.target === 'REJECT') w.push(`reject-with ${r.rejectWith}`);
  return w.join(' ');
}

function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}
