// args: the flags of `ustack up`, parsed and checked before anything is
// touched. A wrong flag or value is a UsageError with a sentence that names
// the flag and what it accepts; main prints it and exits 2.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseRule, parseRulesJson, type NfRuleSpec } from '../ipv4/netfilterRules.js';
import { parseCidr, parseIpv4, parseMac } from '../wire/address.js';
import { isValidRingSize } from '../nic/ringLayout.js';
import { validateFaults, type FaultConfig } from '../nic/faults.js';
import { IPV4_MIN_MTU } from '../wire/ipv4.js';

export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
}

export interface UpConfig {
  netns: string | null; // null: the current namespace
  tap: string;
  hostAddr: string | null; // CIDR for the kernel side of the TAP; null: leave it alone
  addr: string; // the stack's CIDR
  gateway: string | null;
  mac: string | null; // null: random, locally administered
  mtu: number;
  /** MTU of the loopback device (Linux: ip link set lo mtu N). */
  loMtu: number;
  rxRing: number;
  txRing: number;
  txQueueLen: number;
  budget: number;
  weight: number;
  backlog: number;
  pcap: string | null;
  pcapFormat: 'pcap' | 'pcapng';
  /** Timestamp resolution of the capture: microseconds or nanoseconds (the default). */
  pcapTsres: 'us' | 'ns';
  faults: FaultConfig;
  quiet: boolean;
  control: boolean;
  /** Netfilter rules, appended at start: those of --rules FILE first, then each --rule. */
  rules: NfRuleSpec[];
  udpEchoPort: number | null; // null: no UDP echo service
  /** TCP services: port, or null when turned off. */
  tcpServices: { http: number | null; echo: number | null; discard: number | null; chargen: number | null };
  congestion: 'cubic' | 'reno';
  /** listen() backlog of the TCP services: the SYN queue and the accept queue limit. */
  listenBacklog: number;
  /** net.ipv4.tcp_syncookies: cookies when a SYN queue is full (else the SYN is dropped). */
  syncookies: boolean;
  /** net.ipv4.tcp_sack: SACK offered and accepted (else loss recovery is NewReno). */
  sack: boolean;
}

export const UP_HELP = `Usage: ustack up [options]

Creates a TAP device, by default inside a network namespace of its own, and
runs the stack on it until Ctrl-C (then prints its counters).

Where it runs:
  --netns NAME        network namespace for the TAP (default: ustack). Created if
                      missing and deleted on exit; an existing one is used and kept.
  --no-netns          create the TAP in the current namespace instead
  --tap NAME          TAP interface name (default: ustack0)
  --host-addr CIDR    address given to the kernel's side of the TAP
                      (default: 10.0.0.1/24)
  --no-host-addr      leave the kernel's side unconfigured

The stack:
  --addr CIDR         the stack's address (default: 10.0.0.2/24)
  --gateway IP        default gateway (default: the host address)
  --mac MAC           the stack's MAC (default: random, locally administered)
  --mtu N             MTU of the TAP and the stack, ${IPV4_MIN_MTU}..65521 (default: 1500)
  --lo-mtu N          MTU of the loopback device lo, ${IPV4_MIN_MTU}..65536 (default: 65536;
                      ip link set lo mtu N)

The NIC model:
  --rx-ring N         RX descriptors, a power of two 8..4096 (default: 256; ethtool -G rx)
  --tx-ring N         TX descriptors, likewise (default: 256)
  --txqueuelen N      qdisc limit in frames (default: 1000)
  --budget N          NET_RX softirq budget per round (default: 300; netdev_budget)
  --weight N          NAPI poll weight (default: 64; dev_weight)
  --backlog N         backlog limit (default: 1000; netdev_max_backlog)

Services:
  --udp-echo-port N   port of the UDP echo service, RFC 862 (default: 7)
  --no-udp-echo       do not run the UDP echo service
  --http-port N       port of the HTTP service (default: 80): GET /, GET /bytes/N,
                      POST /sha256
  --echo-port N       TCP echo, RFC 862 (default: 7)
  --discard-port N    TCP discard, RFC 863 (default: 9)
  --chargen-port N    TCP chargen, RFC 864 (default: 19)
  --no-http, --no-echo, --no-discard, --no-chargen
                      do not run that service
  --congestion ALG    TCP congestion control: cubic or reno (default: cubic)
  --listen-backlog N  listen() backlog of the TCP services, 1..65535 (default: 511,
                      Node's): bounds the SYN queue (then SYN cookies) and the
                      accept queue; ustack stats sockets shows them
  --no-syncookies     a full SYN queue drops SYNs instead of answering with SYN
                      cookies (sysctl net.ipv4.tcp_syncookies=0)
  --no-sack           neither offer nor accept SACK; loss recovery is NewReno
                      (sysctl net.ipv4.tcp_sack=0)

Firewall (netfilter hooks PREROUTING, INPUT, OUTPUT, POSTROUTING; policy ACCEPT):
  --rule 'RULE'       append a rule (repeatable), iptables-like with the chain first:
                        'INPUT -p icmp --icmp-type echo-request -j DROP'
                        'INPUT -p tcp --dport 81 -j REJECT --reject-with tcp-reset'
                      matches: -p icmp|tcp|udp|N  -s/-d A.B.C.D[/LEN]  -i/-o IFACE[+]
                        --sport/--dport N[:M]  --icmp-type NAME|T[/C]  --syn
                        --tcp-flags MASK COMP (e.g. SYN,ACK SYN)
                      targets: -j ACCEPT|DROP|REJECT; --reject-with icmp-net-unreachable,
                        icmp-host-unreachable, icmp-port-unreachable (default),
                        icmp-proto-unreachable, icmp-admin-prohibited, tcp-reset
  --rules FILE        rules from a JSON array of objects {chain, protocol, source,
                      destination, sport, dport, icmpType, tcpFlags, in, out, target,
                      rejectWith}, appended before the --rule ones.
                      Counters while it runs: ustack stats rules

Capture:
  --pcap FILE         write every frame of the TAP, both directions, to FILE
  --pcap-format F     pcap or pcapng (default: pcap; pcapng records direction
                      and drop reasons as packet comments)
  --pcap-tsres R      timestamp resolution: us or ns (default: ns). pcap says
                      which by its magic number (us: a1b2c3d4, the classic one
                      every reader knows; ns: a1b23c4d), pcapng by if_tsresol

Fault injection on the TAP, both directions (this kernel has no netem):
  --loss P            drop probability 0..1
  --duplicate P       duplication probability
  --reorder P         probability a frame is held back --reorder-ms
  --reorder-ms MS     (default: 1)
  --corrupt P         probability one bit of a frame is flipped
  --delay MS          one-way delay added to every frame

Other:
  --quiet             print nothing but errors
  --no-control        do not open the control socket (ustack stats)
  -h, --help          this help
`;

function int(flag: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^[0-9]+$/.test(v)) throw new UsageError(`--${flag} expects a whole number, got '${v}'`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${flag} must be from ${min} to ${max}, got ${n}`);
  return n;
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} expects a number, got '${v}'`);
  return n;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export function parseUpArgs(argv: string[]): UpConfig | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        netns: { type: 'string' },
        'no-netns': { type: 'boolean' },
        tap: { type: 'string' },
        'host-addr': { type: 'string' },
        'no-host-addr': { type: 'boolean' },
        addr: { type: 'string' },
        gateway: { type: 'string' },
        mac: { type: 'string' },
        mtu: { type: 'string' },
        'lo-mtu': { type: 'string' },
        'rx-ring': { type: 'string' },
        'tx-ring': { type: 'string' },
        txqueuelen: { type: 'string' },
        budget: { type: 'string' },
        weight: { type: 'string' },
        backlog: { type: 'string' },
        pcap: { type: 'string' },
        'pcap-format': { type: 'string' },
        'pcap-tsres': { type: 'string' },
        loss: { type: 'string' },
        duplicate: { type: 'string' },
        reorder: { type: 'string' },
        'reorder-ms': { type: 'string' },
        corrupt: { type: 'string' },
        delay: { type: 'string' },
        quiet: { type: 'boolean' },
        'no-control': { type: 'boolean' },
        rule: { type: 'string', multiple: true },
        rules: { type: 'string' },
        'udp-echo-port': { type: 'string' },
        'http-port': { type: 'string' },
        'no-http': { type: 'boolean' },
        'echo-port': { type: 'string' },
        'no-echo': { type: 'boolean' },
        'discard-port': { type: 'string' },
        'no-discard': { type: 'boolean' },
        'chargen-port': { type: 'string' },
        'no-chargen': { type: 'boolean' },
        congestion: { type: 'string' },
        'listen-backlog': { type: 'string' },
        'no-syncookies': { type: 'boolean' },
        'no-sack': { type: 'boolean' },
        'no-udp-echo': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  const v = parsed.values;
  if (v.help) return 'help';

  if (v['no-netns'] && v.netns !== undefined) throw new UsageError('--netns and --no-netns cannot be used together');
  const netns = v['no-netns'] ? null : (v.netns ?? 'ustack');
  if (netns !== null && !/^[A-Za-z0-9_.-]{1,64}$/.test(netns)) throw new UsageError(`--netns: '${netns}' is not a valid namespace name (letters, digits, _ . -)`);
  const tap = v.tap ?? 'ustack0';
  if (!IFNAME.test(tap)) throw new UsageError(`--tap: '${tap}' is not a valid interface name (1-15 of letters, digits, _ . -)`);

  if (v['no-host-addr'] && v['host-addr'] !== undefined) throw new UsageError('--host-addr and --no-host-addr cannot be used together');
  const hostAddr = v['no-host-addr'] ? null : (v['host-addr'] ?? '10.0.0.1/24');
  const addr = v.addr ?? '10.0.0.2/24';
  const stackCidr = parseCidr(addr);
  if (!stackCidr) throw new UsageError(`--addr expects an address with a prefix length like 10.0.0.2/24, got '${addr}'`);
  let hostIp: number | null = null;
  if (hostAddr !== null) {
    const h = parseCidr(hostAddr);
    if (!h) throw new UsageError(`--host-addr expects an address with a prefix length like 10.0.0.1/24, got '${hostAddr}'`);
    if (h.addr === stackCidr.addr) throw new UsageError(`--host-addr and --addr are the same address (${hostAddr.split('/')[0]})`);
    hostIp = h.addr;
  }
  let gateway: string | null = v.gateway ?? null;
  if (gateway !== null && parseIpv4(gateway) === null) throw new UsageError(`--gateway expects an IPv4 address, got '${gateway}'`);
  if (gateway === null && hostIp !== null && hostAddr) gateway = hostAddr.split('/')[0]!;

  if (v.mac !== undefined) {
    const m = parseMac(v.mac);
    if (m === null) throw new UsageError(`--mac expects aa:bb:cc:dd:ee:ff, got '${v.mac}'`);
    if (Math.floor(m / 0x100_0000_0000) & 1) throw new UsageError(`--mac: ${v.mac} is a multicast address; a NIC needs a unicast one`);
  }

  const ring = (flag: string, s: string | undefined): number => {
    const n = int(flag, s, 256, 8, 4096);
    if (!isValidRingSize(n)) throw new UsageError(`--${flag} must be a power of two from 8 to 4096, got ${n}`);
    return n;
  };

  const fmt = v['pcap-format'] ?? 'pcap';
  if (fmt !== 'pcap' && fmt !== 'pcapng') throw new UsageError(`--pcap-format must be pcap or pcapng, got '${fmt}'`);
  const tsres = v['pcap-tsres'] ?? 'ns';
  if (tsres !== 'us' && tsres !== 'ns') throw new UsageError(`--pcap-tsres must be us or ns, got '${tsres}'`);

  const faults: FaultConfig = {
    loss: num('loss', v.loss),
    duplicate: num('duplicate', v.duplicate),
    reorder: num('reorder', v.reorder),
    reorderMs: num('reorder-ms', v['reorder-ms']),
    corrupt: num('corrupt', v.corrupt),
    delayMs: num('delay', v.delay),
  };
  const bad = validateFaults(faults);
  if (bad) throw new UsageError(`fault injection: ${bad}`);

  if (v['no-udp-echo'] && v['udp-echo-port'] !== undefined) throw new UsageError('--udp-echo-port and --no-udp-echo cannot be used together');
  const udpEchoPort = v['no-udp-echo'] ? null : int('udp-echo-port', v['udp-echo-port'], 7, 1, 65535);

  const service = (name: 'http' | 'echo' | 'discard' | 'chargen', dflt: number): number | null => {
    const port = v[`${name}-port`];
    if (v[`no-${name}`] && port !== undefined) throw new UsageError(`--${name}-port and --no-${name} cannot be used together`);
    return v[`no-${name}`] ? null : int(`${name}-port`, port, dflt, 1, 65535);
  };
  const tcpServices = { http: service('http', 80), echo: service('echo', 7), discard: service('discard', 9), chargen: service('chargen', 19) };
  const taken = new Map<number, string>();
  for (const [name, port] of Object.entries(tcpServices)) {
    if (port === null) continue;
    const other = taken.get(port);
    if (other !== undefined) {
      // Name the flag the user gave (one of the two may be a default).
      const given = (n: string): string => (v[`${n}-port` as 'http-port'] !== undefined ? `--${n}-port ${port}` : `${n}'s default port ${port}`);
      throw new UsageError(`the TCP services ${other} and ${name} cannot both listen on port ${port} (${given(other)}, ${given(name)}): give one another port, or turn it off with --no-${other} or --no-${name}`);
    }
    taken.set(port, name);
  }
  const congestion = v.congestion ?? 'cubic';
  if (congestion !== 'cubic' && congestion !== 'reno') throw new UsageError(`--congestion must be cubic or reno, got '${congestion}'`);

  const rules: NfRuleSpec[] = [];
  if (v.rules !== undefined) {
    let text: string;
    try {
      text = readFileSync(v.rules, 'utf8');
    } catch (e) {
      throw new UsageError(`--rules ${v.rules}: cannot read the file: ${(e as Error).message}`);
    }
    const r = parseRulesJson(text);
    if (!r.ok) throw new UsageError(`--rules ${v.rules}: ${r.error}`);
    rules.push(...r.rules);
  }
  for (const text of v.rule ?? []) {
    const r = parseRule(text);
    if (!r.ok) throw new UsageError(`--rule '${text}': ${r.error}`);
    rules.push(r.rule);
  }

  return {
    netns,
    tap,
    hostAddr,
    addr,
    gateway,
    mac: v.mac ?? null,
    mtu: int('mtu', v.mtu, 1500, IPV4_MIN_MTU, 65521),
    loMtu: int('lo-mtu', v['lo-mtu'], 65536, IPV4_MIN_MTU, 65536),
    rxRing: ring('rx-ring', v['rx-ring']),
    txRing: ring('tx-ring', v['tx-ring']),
    txQueueLen: int('txqueuelen', v.txqueuelen, 1000, 1, 1_000_000),
    budget: int('budget', v.budget, 300, 1, 100_000),
    weight: int('weight', v.weight, 64, 1, 4096),
    backlog: int('backlog', v.backlog, 1000, 1, 1_000_000),
    pcap: v.pcap ?? null,
    pcapFormat: fmt,
    pcapTsres: tsres,
    faults,
    quiet: !!v.quiet,
    control: !v['no-control'],
    rules,
    udpEchoPort,
    tcpServices,
    congestion,
    listenBacklog: int('listen-backlog', v['listen-backlog'], 511, 1, 65535),
    syncookies: !v['no-syncookies'],
    sack: !v['no-sack'],
  };
}
