// report: the stack's state as text, in the shapes Linux tools print it —
// `ip -s link`, `ethtool -S`, `nstat`, /proc/net/softnet_stat, `ip neigh`,
// `ip route`, dropwatch. Used by the control socket and at shutdown.

import { counterRows, nonZeroRows } from '../core/counters.js';
import type { NetDevice } from '../nic/device.js';
import type { Stack } from '../stack.js';
import { ipv4ToString, macToString } from '../wire/address.js';
import type { TcpEndpoint } from '../tcp/endpoint.js';
import { STATE_NAMES } from '../tcp/state.js';

export type ReportView = 'tcp' | 'sockets' | 'all' | 'link' | 'nic' | 'snmp' | 'softnet' | 'neigh' | 'route' | 'drops' | 'rules';
export const REPORT_VIEWS: ReportView[] = ['all', 'link', 'nic', 'snmp', 'tcp', 'sockets', 'softnet', 'neigh', 'route', 'drops', 'rules'];

function pad(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** One device as `ip -s link show DEV` prints it. */
export function linkReport(dev: NetDevice): string {
  const s = dev.stats;
  const flags = [dev.flags & 0x8 ? 'LOOPBACK' : 'BROADCAST', dev.up ? 'UP' : 'DOWN'].join(',');
  return [
    `${dev.ifindex}: ${dev.name}: <${flags}> mtu ${dev.mtu} qlen ${dev.qdisc.limit}`,
    `    link/${dev.flags & 0x8 ? 'loopback' : 'ether'} ${macToString(dev.mac)}`,
    pad([
      ['    RX:', 'bytes', 'packets', 'errors', 'dropped', 'missed', 'mcast'],
      ['', `${s.rx_bytes}`, `${s.rx_packets}`, `${s.rx_errors}`, `${s.rx_dropped}`, `${s.rx_missed_errors + s.rx_fifo_errors}`, `${s.multicast}`],
      ['    RX errors:', 'length', 'fifo', 'nohandler'],
      ['', `${s.rx_length_errors}`, `${s.rx_fifo_errors}`, `${s.rx_nohandler}`],
      ['    TX:', 'bytes', 'packets', 'errors', 'dropped', 'busy'],
      ['', `${s.tx_bytes}`, `${s.tx_packets}`, `${s.tx_errors}`, `${s.tx_dropped}`, `${s.tx_busy}`],
    ]),
  ].join('\n');
}

/** `ethtool -S`: every device counter, zeros included, plus the qdisc's. */
export function nicReport(dev: NetDevice): string {
  const rows = counterRows(dev.stats).map(([k, v]) => [`     ${k}:`, `${v}`]);
  for (const [k, v] of Object.entries(dev.qdisc.stats)) rows.push([`     qdisc_${k}:`, `${v}`]);
  return `NIC statistics (${dev.name}):\n${pad(rows)}`;
}

export function report(stack: Stack, view: ReportView): string {
  const parts: string[] = [];
  const want = (v: ReportView) => view === 'all' || view === v;
  if (want('link')) parts.push([stack.lo, ...stack.interfaces.filter((d) => d !== stack.lo)].map(linkReport).join('\n'));
  if (want('nic')) parts.push(stack.interfaces.filter((d) => d !== stack.lo).map(nicReport).join('\n'));
  if (want('snmp')) {
    const rows = nonZeroRows(stack.net.snmp).map(([k, v]) => [k, `${v}`]);
    parts.push(`#nstat (non-zero counters)\n${pad(rows)}`);
  }
  if (want('softnet')) {
    const s = stack.net.softnet.stats;
    parts.push(
      `softnet_stat: processed ${s.processed}  dropped ${s.dropped}  time_squeeze ${s.timeSqueeze}  rounds ${s.rounds}` +
        `  (budget ${stack.net.softnet.budget}, weight ${stack.net.softnet.weight}, netdev_max_backlog ${stack.net.softnet.maxBacklog})`,
    );
  }
  if (want('neigh')) {
    const rows = stack.neigh.show().map((n) => [n.ip, 'dev', n.dev, ...(n.mac ? ['lladdr', n.mac] : []), n.state]);
    parts.push(`#ip neigh\n${rows.length ? pad(rows) : '(empty)'}`);
  }
  if (want('route')) parts.push(`#ip route show table all\n${stack.fib.show().join('\n')}`);
  // `iptables -L -v -n -x --line-numbers`: the netfilter chains with their counters.
  if (want('rules')) parts.push(`#netfilter rules\n${stack.netfilter.listing()}`);
  if (want('tcp')) {
    const rows = nonZeroRows(stack.net.tcp).map(([k, v]) => [k, `${v}`]);
    parts.push(`#nstat Tcp (non-zero counters)\n${rows.length ? pad(rows) : '(none)'}`);
  }
  if (want('sockets')) parts.push(`#ss -tanoi\n${socketTable(stack)}`);
  if (want('drops')) {
    const rows = stack.drops().sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, `${v}`]);
    parts.push(`#drops by reason\n${rows.length ? pad(rows) : '(none)'}`);
  }
  return parts.join('\n\n') + '\n';
}

/** A duration as ss's print_ms_timer writes it: 200ms, 1sec, 1.500ms (1.5 s), 2min30sec, 119min. */
export function ssDuration(ms: number): string {
  // iproute2 ss.c print_ms_timer: minutes, then seconds ("sec" when no ms
  // follow), then milliseconds as three digits; units dropped past 9.
  let t = Math.max(0, Math.round(ms));
  const minutes = Math.floor(t / 60_000);
  let secs = Math.floor(t / 1000) % 60;
  let msecs = t % 1000;
  let out = '';
  if (minutes) {
    msecs = 0;
    out += `${minutes}min`;
    if (minutes > 9) secs = 0;
  }
  if (secs) {
    if (secs > 9) msecs = 0;
    out += `${secs}${msecs ? '.' : 'sec'}`;
  }
  if (msecs) out += `${String(msecs).padStart(3, '0')}ms`;
  return out || '0ms';
}

/**
 * The -o column: the one timer ss shows for a socket (tcp_get_info's
 * icsk_pending order): retransmission ("on"), zero-window probe ("persist"),
 * keepalive, or the TIME-WAIT / FIN-WAIT-2 countdown ("timewait"); the last
 * number is the retransmission (or probe) count.
 */
function timerColumn(ep: TcpEndpoint, now: number): string {
  const t = ep.rtoTimer.pending ? ['on', ep.rtoTimer, ep.retransmits] as const
    : ep.persistTimer.pending ? ['persist', ep.persistTimer, 0] as const
    : ep.keepaliveTimer.pending ? ['keepalive', ep.keepaliveTimer, 0] as const
    : ep.waitTimer.pending ? ['timewait', ep.waitTimer, 0] as const
    : null;
  return t ? `timer:(${t[0]},${ssDuration(t[1].expires - now)},${t[2]})` : '';
}

/** The TCP socket table as `ss -tanoi` prints it: state, queues, addresses, timers and TCP internals. */
export function socketTable(stack: Stack): string {
  const rows: string[][] = [['State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port', 'Info']];
  const now = stack.net.now();
  for (const l of stack.tcp.listenerTable()) {
    rows.push(['LISTEN', `${l.acceptQueue.length}`, `${l.backlog}`, `${ipv4ToString(l.laddr)}:${l.port}`, '0.0.0.0:*', `synq ${l.synQueue.size}`]);
  }
  // Request socks, as ss -tan lists them: SYN-RECV with the SYN-ACK timer.
  for (const l of stack.tcp.listenerTable()) {
    for (const r of l.synQueue.values()) {
      const timer = r.timer.pending ? `timer:(on,${ssDuration(r.timer.expires - now)},${r.retries})` : '';
      rows.push(['SYN-RECV', '0', '0', `${ipv4ToString(r.laddr)}:${r.lport}`, `${ipv4ToString(r.raddr)}:${r.rport}`, timer]);
    }
  }
  for (const ep of stack.tcp.socketTable()) {
    const info = [
      timerColumn(ep, now),
      ep.tsOk ? 'ts' : '',
      ep.sackOk ? 'sack' : '',
      ep.cc.name,
      ep.wscaleOk ? `wscale:${ep.sndWscale},${ep.rcvWscale}` : '',
      `rto:${Math.round(ep.rtt.rto)}`,
      ep.rtt.srtt ? `rtt:${ep.rtt.srtt.toFixed(3)}/${ep.rtt.rttvar.toFixed(3)}` : '',
      `mss:${ep.mss}`,
      `cwnd:${Math.round(ep.cwnd / ep.mss)}`,
      ep.ssthresh < 0x7fffffff ? `ssthresh:${Math.round(ep.ssthresh / ep.mss)}` : '',
      `snd_wnd:${ep.sndWnd}`,
      ep.retransmits ? `retrans:0/${ep.retransmits}` : '',
      ep.inRecovery ? 'recovery' : '',
    ].filter(Boolean).join(' ');
    rows.push([
      STATE_NAMES[ep.state] ?? String(ep.state),
      // Recv-Q is what the application has not read yet (rcv_nxt - copied_seq):
      // out-of-order bytes are not in it.
      `${ep.events?.unreadBytes() ?? 0}`,
      `${ep.sendBuf.length}`,
      `${ipv4ToString(ep.laddr)}:${ep.lport}`,
      `${ipv4ToString(ep.raddr)}:${ep.rport}`,
      info,
    ]);
  }
  return pad(rows);
}
