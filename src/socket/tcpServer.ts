// tcpServer: a listening socket as Node's net.Server shapes it —
// listen(port[, host][, backlog][, cb]), close(), address(), getConnections(),
// events 'listening', 'connection', 'close', 'error'. Connections wait on the
// listener's accept queue until the next turn of the event loop, where the
// server accepts all of them and hands each out as a TcpSocket — as libuv's
// uv__server_io runs accept() until EAGAIN when the listening fd polls
// readable. So the accept queue is real: a burst of handshakes completed in
// one softirq round waits there (ss's Recv-Q), and beyond the backlog it
// overflows (TcpExtListenOverflows), as with a busy Node process on Linux.

import { EventEmitter } from 'node:events';
import type { Runtime } from '../core/runtime.js';
import type { Listener } from '../tcp/listen.js';
import type { TcpProto } from '../tcp/tcp.js';
import { ipv4ToString, parseIpv4 } from '../wire/address.js';
import { TcpSocket, tuningOptions, type TcpSocketOptions, type TcpTuning } from './tcpSocket.js';

export interface TcpServerOptions extends TcpSocketOptions, TcpTuning {}

export interface ListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
}

/**
 * The listen error as Node reports it (uvExceptionWithHostPort):
 * `listen EADDRINUSE: address already in use 0.0.0.0:80`, with code,
 * syscall, address and port (no numeric errno).
 */
function listenError(e: NodeJS.ErrnoException, address: string, port: number): Error {
  if (!e.code) return e;
  // No free ephemeral port for listen(0): Linux's bind(0) fails with
  // EADDRINUSE (EADDRNOTAVAIL is what connect's autobind says).
  const code = e.code === 'EADDRNOTAVAIL' && port === 0 ? 'EADDRINUSE' : e.code;
  const what = code === 'EADDRINUSE' ? 'address already in use' : '';
  const err = new Error(`listen ${code}: ${what ? `${what} ` : ''}${address}:${port}`, { cause: e }) as NodeJS.ErrnoException & { address: string; port: number };
  err.code = code;
  err.syscall = 'listen';
  err.address = address;
  err.port = port;
  return err;
}

export class TcpServer extends EventEmitter {
  private listener: Listener | null = null;
  private readonly sockets = new Set<TcpSocket>();
  private acceptPending = false;

  constructor(
    private readonly proto: TcpProto,
    private readonly rt: Runtime,
    private readonly socketOptions: TcpServerOptions = {},
    onConnection?: (s: TcpSocket) => void,
  ) {
    super();
    if (onConnection) this.on('connection', onConnection);
  }

  get listening(): boolean {
    return this.listener !== null;
  }

  listen(portOrOpts?: number | ListenOptions, ...rest: Array<string | number | (() => void) | undefined>): this {
    // Node checks this first: a second listen() throws before anything else.
    if (this.listener) throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
    const o: ListenOptions = typeof portOrOpts === 'object' ? { ...portOrOpts } : { port: portOrOpts };
    let cb: (() => void) | undefined;
    for (const a of rest) {
      if (typeof a === 'function') cb = a;
      else if (typeof a === 'string') o.host = a;
      else if (typeof a === 'number') o.backlog = a;
    }
    const port = o.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw Object.assign(new RangeError(`options.port should be >= 0 and < 65536. Received ${port}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    const laddr = o.host && o.host !== '0.0.0.0' ? parseIpv4(o.host) : 0;
    if (laddr === null) throw Object.assign(new Error(`invalid host '${o.host}'`), { code: 'EINVAL' });
    // Registered once the arguments are known good: a call that throws leaves nothing behind.
    if (cb) this.once('listening', cb);
    try {
      const p = port === 0 ? this.proto.listenPort() : port;
      // Node: a backlog of 0 (or none) is 511.
      this.listener = this.proto.listen(laddr, p, o.backlog || 511, tuningOptions(this.socketOptions));
    } catch (e) {
      const err = listenError(e as NodeJS.ErrnoException, ipv4ToString(laddr), port);
      this.rt.defer(() => this.emit('error', err));
      return this;
    }
    this.listener.onAcceptable = () => {
      if (this.acceptPending) return;
      this.acceptPending = true;
      this.rt.defer(() => {
        this.acceptPending = false;
        this.acceptAll();
      });
    };
    this.rt.defer(() => this.emit('listening'));
    return this;
  }

  private acceptAll(): void {
    const l = this.listener;
    if (!l) return;
    for (let ep = l.accept(); ep; ep = l.accept()) {
      const s = new TcpSocket(this.proto, ep, true, this.socketOptions);
      this.sockets.add(s);
      s.once('close', () => {
        this.sockets.delete(s);
        this.emitCloseIfDrained();
      });
      this.emit('connection', s);
    }
  }

  address(): { address: string; family: string; port: number } | null {
    const l = this.listener;
    return l ? { address: ipv4ToString(l.laddr), family: 'IPv4', port: l.port } : null;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.sockets.size;
    this.rt.defer(() => cb(null, n));
    return this;
  }

  /**
   * Node's close(): stops listening at once; 'close' once no accepted socket
   * is left, and `cb` with it — given ERR_SERVER_NOT_RUNNING if the server
   * was not listening ('close' is emitted all the same, as Node does).
   */
  close(cb?: (err?: Error) => void): this {
    if (cb) {
      if (!this.listener) {
        const err = Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' });
        this.once('close', () => cb(err));
      } else this.once('close', cb);
    }
    if (this.listener) {
      this.proto.closeListener(this.listener);
      this.listener = null;
    }
    this.emitCloseIfDrained();
    return this;
  }

  /** Node's _emitCloseIfDrained: 'close' on the next turn if not listening and no connection is left. */
  private emitCloseIfDrained(): void {
    if (this.listener || this.sockets.size > 0) return;
    this.rt.defer(() => this.emit('close'));
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
