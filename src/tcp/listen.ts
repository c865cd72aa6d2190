// listen: a listening socket and its two queues, as the seeds draw them
// (Linux inet_connection_sock, request_sock_queue):
//
//   SYN ──▶ SYN queue (request socks in SYN-RECV, ≤ backlog) ── SYN-ACK ──▶
//   ACK ──▶ the request becomes a connection ──▶ accept queue (≤ backlog)
//           ──▶ the server's accept() (the 'connection' event)
//
// SYN queue full: answer with a SYN cookie (RFC 4987 §3.6) instead of keeping
// state, so a SYN flood does not lock real clients out. Accept queue full:
// drop the SYN, or the final ACK (the request stays and its SYN-ACK is
// retransmitted), counting TcpExtListenOverflows and TcpExtListenDrops.

import { Timer } from '../core/timers.js';
import type { EndpointEvents, EndpointOptions, TcpEndpoint } from './endpoint.js';

/** The key of a request sock in its listener's SYN queue: the 4-tuple. */
export function tupleKey(laddr: number, lport: number, raddr: number, rport: number): string {
  return `${laddr}:${lport}:${raddr}:${rport}`;
}

/** A connection in SYN-RECV, before it is worth a whole endpoint (request_sock). */
export class RequestSock {
  iss = 0;
  irs = 0;
  /** The peer's offered options. */
  mss = 536;
  wscale = -1;
  sackOk = false;
  tsOk = false;
  tsRecent = 0;
  /** The window our SYN-ACK offered (never scaled, RFC 7323 §2.2): what the peer may send into before it is established. */
  rcvWnd = 65535;
  retries = 0;
  /** When the last ACK or SYN-ACK to an unacceptable or repeated segment went out (TcpProto.oowRateLimited). */
  lastOowAck = -Infinity;
  readonly timer: Timer;

  constructor(
    readonly listener: Listener,
    readonly key: string,
    readonly laddr: number,
    readonly lport: number,
    readonly raddr: number,
    readonly rport: number,
    onTimer: (r: RequestSock) => void,
  ) {
    this.timer = new Timer(() => onTimer(this));
  }
}

/**
 * What happens to a connection while it waits on the accept queue, kept for
 * whoever accepts it (Linux queues the data on the child socket before
 * accept()): data and EOF are held, their bytes count as unread so the
 * window closes as they pile up, and an error or close is remembered.
 */
export class PreAcceptQueue implements EndpointEvents {
  readonly data: Uint8Array[] = [];
  bytes = 0;
  ended = false;
  closed = false;
  error: string | null = null;

  onConnect(): void {}
  onData(data: Uint8Array): void {
    this.data.push(data);
    this.bytes += data.length;
  }
  onEnd(): void {
    this.ended = true;
  }
  onDrain(): void {}
  onError(code: string): void {
    this.error = code;
  }
  onClose(): void {
    this.closed = true;
  }
  unreadBytes(): number {
    return this.bytes;
  }
}

export class Listener {
  readonly synQueue = new Map<string, RequestSock>();
  readonly acceptQueue: TcpEndpoint[] = [];
  /** Told when the accept queue gains a connection. */
  onAcceptable: (() => void) | null = null;
  closed = false;
  /** When the SYN queue last overflowed into SYN cookies (ms; Linux rx_opt.ts_recent_stamp of the listener). */
  lastOverflow = -Infinity;

  constructor(
    readonly laddr: number,
    readonly port: number,
    public backlog: number,
    /** Buffer sizes and congestion control its connections inherit (a listening socket's SO_SNDBUF, SO_RCVBUF, TCP_CONGESTION). */
    readonly endpointOptions: Partial<EndpointOptions> = {},
  ) {}

  get acceptQueueFull(): boolean {
    return this.acceptQueue.length >= this.backlog;
  }

  get synQueueFull(): boolean {
    return this.synQueue.size >= this.backlog;
  }

  /** accept(): the oldest established connection, or null. */
  accept(): TcpEndpoint | null {
    return this.acceptQueue.shift() ?? null;
  }
}
