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

export class TcpServer extends EventEmitter {
  private listener: Listener | null = null;
  private readonly sockets = new Set<TcpSocket>();
  private closing = false;
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
    const o: ListenOptions = typeof portOrOpts === 'object' ? { ...portOrOpts } : { port: portOrOpts };
    let cb: (() => void) | undefined;
    for (const a of rest) {
      if (typeof a === 'function') cb = a;
      else if (typeof a === 'string') o.host = a;
      else if (typeof a === 'number') o.backlog = a;
    }
    if (cb) this.once('listening', cb);
    const port = o.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw Object.assign(new RangeError(`options.port should be >= 0 and < 65536. Received ${port}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    if (this.listener) throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
    const laddr = o.host && o.host !== '0.0.0.0' ? parseIpv4(o.host) : 0;
    if (laddr === null) throw Object.assign(new Error(`invalid host '${o.host}'`), { code: 'EINVAL' });
    try {
      const p = port === 0 ? this.proto.ephemeralPort(laddr, 0, 0) : port;
      this.listener = this.proto.listen(laddr, p, o.backlog ?? 511, tuningOptions(this.socketOptions));
    } catch (e) {
      this.rt.defer(() => this.emit('error', e));
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
        this.maybeClosed();
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

  /** Stops accepting; 'close' once every connection has ended (Node semantics). */
  close(cb?: (err?: Error) => void): this {
    if (!this.listener) {
      const err = Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' });
      if (cb) this.rt.defer(() => cb(err));
      return this;
    }
    if (cb) this.once('close', cb);
    this.proto.closeListener(this.listener);
    this.listener = null;
    this.closing = true;
    this.maybeClosed();
    return this;
  }

  private maybeClosed(): void {
    if (this.closing && this.sockets.size === 0) {
      this.closing = false;
      this.rt.defer(() => this.emit('close'));
    }
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
