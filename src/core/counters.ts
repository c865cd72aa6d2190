// counters: the stack's statistics under the names Linux uses, so what
// `nstat`, `netstat -s`, `ip -s link` and `ethtool -S` teach applies here
// unchanged. Each group is a class with numeric fields (a fixed object shape:
// `snmp.IpInReceives++` is a plain property increment on the hot path).

/** /proc/net/snmp "Ip:", "Icmp:" and "Udp:" and /proc/net/netstat "IpExt:" (RFC 4293, 4113 names). */
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
  IcmpInTimestamps = 0;
  IcmpInTimestampReps = 0;
  IcmpOutMsgs = 0;
  IcmpOutErrors = 0;
  IcmpOutRateLimitGlobal = 0;
  IcmpOutRateLimitHost = 0;
  IcmpOutDestUnreachs = 0;
  IcmpOutTimeExcds = 0;
  IcmpOutEchos = 0;
  IcmpOutEchoReps = 0;
  IcmpOutTimestampReps = 0;
  // Arp (no standard MIB: Linux's /proc/net/stat/arp_cache field names)
  ArpInRequests = 0;
  ArpInReplies = 0;
  ArpOutRequests = 0;
  ArpOutReplies = 0;
  ArpInErrors = 0;
  ArpUnresolvedDiscards = 0; // arp_cache "unresolved_discards"
  ArpTableFulls = 0; // arp_cache "table_fulls"
  // Udp (/proc/net/snmp "Udp:")
  UdpInDatagrams = 0;
  UdpNoPorts = 0;
  UdpInErrors = 0;
  UdpOutDatagrams = 0;
  UdpRcvbufErrors = 0;
  UdpSndbufErrors = 0;
  UdpInCsumErrors = 0;
  UdpIgnoredMulti = 0;
}

export type SnmpName = keyof SnmpCounters;

/** /proc/net/snmp "Tcp:" and /proc/net/netstat "TcpExt:" (nstat names). */
export class TcpCounters {
  TcpActiveOpens = 0;
  TcpPassiveOpens = 0;
  TcpAttemptFails = 0;
  TcpEstabResets = 0;
  TcpCurrEstab = 0;
  TcpInSegs = 0;
  TcpOutSegs = 0;
  TcpRetransSegs = 0;
  TcpInErrs = 0;
  TcpOutRsts = 0;
  TcpInCsumErrors = 0;
  TcpExtListenOverflows = 0;
  TcpExtListenDrops = 0;
  TcpExtSyncookiesSent = 0;
  TcpExtSyncookiesRecv = 0;
  TcpExtSyncookiesFailed = 0;
  TcpExtTCPReqQFullDrop = 0;
  TcpExtTCPSackRecovery = 0;
  TcpExtTCPRenoRecovery = 0;
  TcpExtTCPFastRetrans = 0;
  TcpExtTCPTimeouts = 0;
  TcpExtTCPSynRetrans = 0;
  TcpExtTCPLossProbes = 0;
  TcpExtTCPOFOQueue = 0;
  TcpExtTCPOFODrop = 0;
  TcpExtTCPChallengeACK = 0;
  TcpExtTCPSYNChallenge = 0;
  TcpExtPAWSEstab = 0;
  TcpExtDelayedACKs = 0;
  TcpExtTCPWinProbe = 0;
  TcpExtTCPKeepAlive = 0;
  TcpExtTCPAbortOnData = 0;
  TcpExtTCPAbortOnClose = 0;
  TcpExtTCPAbortOnTimeout = 0;
  TcpExtTCPAbortOnLinger = 0;
  TcpExtTW = 0;
  TcpExtTCPTimeWaitOverflow = 0;
  TcpExtTCPDSACKRecv = 0;
  TcpExtTCPSACKReneging = 0;
  TcpExtTCPACKSkippedChallenge = 0;
  TcpExtTCPACKSkippedSynRecv = 0;
  TcpExtTCPACKSkippedPAWS = 0;
  TcpExtTCPACKSkippedSeq = 0;
  TcpExtTCPACKSkippedTimeWait = 0;
  TcpExtEmbryonicRsts = 0;
  TcpExtOutOfWindowIcmps = 0;
  TcpExtTCPRcvQDrop = 0;
  TcpExtTCPZeroWindowDrop = 0;
  TcpExtTCPMTUPFail = 0;
  TcpExtPMTUDiscovery = 0;
}

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
