// counters: the stack's statistics under the names Linux uses, so what
// `nstat`, `netstat -s`, `ip -s link` and `ethtool -S` teach applies here
// unchanged. Each group is a class with numeric fields (a fixed object shape:
// `snmp.IpInReceives++` is a plain property increment on the hot path).

/** /proc/net/snmp "Ip:" and "Icmp:" and /proc/net/netstat "IpExt:" (RFC 4293 names). */
export class SnmpCounters {
  // Ip
  IpInReceives = 0;
  IpInHdrErrors = 0;
  IpInAddrErrors = 0;
  IpForwDatagrams = 0;
  IpInUnknownProtos = 0;
  IpInDiscards = 0;
  IpInDelivers = 0;
  IpOutRequests = 0;
  IpOutDiscards = 0;
  IpOutNoRoutes = 0;
  IpReasmTimeout = 0;
  IpReasmReqds = 0;
  IpReasmOKs = 0;
  IpReasmFails = 0;
  IpFragOKs = 0;
  IpFragFails = 0;
  IpFragCreates = 0;
  IpExtInTruncatedPkts = 0;
  IpExtInCsumErrors = 0;
  IpExtInNoRoutes = 0;
  IpExtInBcastPkts = 0;
  IpExtOutBcastPkts = 0;
  // Icmp
  IcmpInMsgs = 0;
  IcmpInErrors = 0;
  IcmpInCsumErrors = 0;
  IcmpInDestUnreachs = 0;
  IcmpInTimeExcds = 0;
  IcmpInParmProbs = 0;
  IcmpInEchos = 0;
  IcmpInEchoReps = 0;
  IcmpOutMsgs = 0;
  IcmpOutErrors = 0;
  IcmpOutRateLimitGlobal = 0;
  IcmpOutRateLimitHost = 0;
  IcmpOutDestUnreachs = 0;
  IcmpOutTimeExcds = 0;
  IcmpOutEchos = 0;
  IcmpOutEchoReps = 0;
  // Arp (no standard MIB: Linux's /proc/net/stat/arp_cache field names)
  ArpInRequests = 0;
  ArpInReplies = 0;
  ArpOutRequests = 0;
  ArpOutReplies = 0;
  ArpInErrors = 0;
  ArpUnresolvedDiscards = 0; // arp_cache "unresolved_discards"
  ArpTableFulls = 0; // arp_cache "table_fulls"
}

export type SnmpName = keyof SnmpCounters;

/** softnet_stat: per-"CPU" receive softirq statistics (/proc/net/softnet_stat). */
export class SoftnetStats {
  /** Frames processed by netRxAction. */
  processed = 0;
  /** Frames dropped because the backlog was over netdev_max_backlog. */
  dropped = 0;
  /** Rounds that ended with work left because the budget or time ran out. */
  timeSqueeze = 0;
  /** netRxAction rounds run. */
  rounds = 0;
}

/** Every counter group as name → value rows, for printing and for the CLI. */
export function counterRows(group: object): Array<[string, number]> {
  return Object.entries(group).filter((e): e is [string, number] => typeof e[1] === 'number');
}

/** The rows that are not zero, like `nstat` prints by default. */
export function nonZeroRows(group: object): Array<[string, number]> {
  return counterRows(group).filter(([, v]) => v !== 0);
}
