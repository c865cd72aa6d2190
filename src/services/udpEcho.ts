// udpEcho: the Echo Protocol over UDP (RFC 862) — every datagram that
// arrives on the port is sent back to its sender, unchanged. Built only on
// the public socket API (stack.createSocket), like any application would be.
//
// One guard beyond the RFC, as inetd's internal services have it: a datagram
// from the port of another "small service" (echo, discard, daytime, qotd,
// chargen, time) is not answered, so two echo servers — or an echo server
// and a chargen server — cannot be made to bounce datagrams at each other
// forever by one forged packet (CVE-1999-0103).

import type { Stack } from '../stack.js';
import type { RemoteInfo, UdpSocket } from '../udp/socket.js';

export const UDP_ECHO_PORT = 7;

/** Source ports never answered: echo, discard, daytime, qotd, chargen, time. */
const REFLECTOR_PORTS = new Set([7, 9, 13, 17, 19, 37]);

export interface UdpEchoOptions {
  /** Port to serve (default 7). */
  port?: number;
  /** Local address to bind (default 0.0.0.0: every address). */
  address?: string;
}

export interface UdpEchoStats {
  /** Datagrams echoed. */
  echoed: number;
  /** Bytes echoed (payload). */
  bytes: number;
  /** Datagrams not answered because they came from a small-service port. */
  refused: number;
  /** Replies the stack could not send. */
  sendErrors: number;
}

export class UdpEchoService {
  readonly stats: UdpEchoStats = { echoed: 0, bytes: 0, refused: 0, sendErrors: 0 };
  private closed = false;

  constructor(readonly socket: UdpSocket) {
    socket.on('message', this.onMessage);
    // Errors of one reply must not take the service down (an unhandled 'error' throws).
    socket.on('error', () => {
      this.stats.sendErrors++;
    });
  }

  private readonly onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    if (this.closed) return;
    if (REFLECTOR_PORTS.has(rinfo.port)) {
      this.stats.refused++;
      return;
    }
    this.socket.send(msg, rinfo.port, rinfo.address, (err) => {
      if (err) this.stats.sendErrors++;
      else {
        this.stats.echoed++;
        this.stats.bytes += msg.length;
      }
    });
  };

  /** The port being served. */
  get port(): number {
    return this.socket.address().port;
  }

  /** Stops serving; resolves when the socket is closed. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Binds the echo port and resolves once it is listening (rejects on EADDRINUSE and the like). */
export function startUdpEcho(stack: Stack, opts: UdpEchoOptions = {}): Promise<UdpEchoService> {
  const socket = stack.createSocket('udp4');
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      socket.close();
      reject(e);
    };
    socket.once('error', onError);
    socket.bind(opts.port ?? UDP_ECHO_PORT, opts.address, () => {
      socket.removeListener('error', onError);
      resolve(new UdpEchoService(socket));
    });
  });
}
