// tcpSocket: a TCP connection as Node's net.Socket shapes it — a
// stream.Duplex adapter over a TcpEndpoint (the endpoint knows nothing of
// streams; gVisor's gonet does the same). Mapping:
//   _write   → endpoint.send (copy into the send buffer); the callback waits
//              while the buffer is full, so write() returns false and 'drain'
//              follows (backpressure);
//   _read    → the app wants more: the receive window may open again
//              (unread bytes in the readable buffer shrink the window);
//   _final   → shutdown(SHUT_WR): FIN after the data (end() is a half-close);
//   _destroy → close(): FIN, or RST if data was left unread (Linux).
// Endpoint errors arrive as Node errors with `code` (ECONNREFUSED, ECONNRESET, ETIMEDOUT).

import { Duplex } from 'node:stream';
import { Timer } from '../core/timers.js';
import type { Runtime } from '../core/runtime.js';
import type { EndpointEvents, EndpointOptions, TcpEndpoint } from '../tcp/endpoint.js';
import type { TcpProto } from '../tcp/tcp.js';
import { PreAcceptQueue } from '../tcp/listen.js';
import { TcpState } from '../tcp/state.js';
import { ipv4ToString } from '../wire/address.js';

export function errnoError(code: string, syscall: string, extra = ''): NodeJS.ErrnoException {
  const err = new Error(`${syscall} ${code}${extra ? ` ${extra}` : ''}`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = syscall;
  return err;
}

/** Node's largest timer duration (TIMEOUT_MAX); longer ones are cut to it. */
const TIMEOUT_MAX = 2 ** 31 - 1;

/** How Node's ERR_INVALID_ARG_TYPE describes the value it got. */
function received(v: unknown): string {
  return v === null || v === undefined ? String(v) : `type ${typeof v} (${JSON.stringify(v) ?? String(v)})`;
}

/** Node's getTimerDuration('msecs'): a non-negative finite number, at most TIMEOUT_MAX; below 1 ms (but not 0) is 1 ms. */
function timerDuration(ms: unknown): number {
  if (typeof ms !== 'number') {
    throw Object.assign(new TypeError(`The "msecs" argument must be of type number. Received ${received(ms)}`), { code: 'ERR_INVALID_ARG_TYPE' });
  }
  if (ms < 0 || !Number.isFinite(ms)) {
    throw Object.assign(new RangeError(`The value of "msecs" is out of range. It must be a non-negative finite number. Received ${ms}`), { code: 'ERR_OUT_OF_RANGE' });
  }
  if (ms > TIMEOUT_MAX) {
    process.emitWarning(`${ms} does not fit into a 32-bit signed integer.\nTimer duration was truncated to ${TIMEOUT_MAX}.`, 'TimeoutOverflowWarning');
    return TIMEOUT_MAX;
  }
  return ms > 0 && ms < 1 ? 1 : ms;
}

export interface TcpSocketOptions {
  allowHalfOpen?: boolean;
  noDelay?: boolean;
}

/** What a socket sets in its TCP layer: SO_SNDBUF and SO_RCVBUF (bytes), TCP_CONGESTION. */
export interface TcpTuning {
  sndBuf?: number;
  rcvBuf?: number;
  congestion?: 'cubic' | 'reno';
}

/** The endpoint options a TcpTuning sets; what it leaves out keeps the stack's default. */
export function tuningOptions(o: TcpTuning): Partial<EndpointOptions> {
  return {
    ...(o.sndBuf ? { sndBuf: o.sndBuf } : {}),
    ...(o.rcvBuf ? { rcvBuf: o.rcvBuf } : {}),
    ...(o.congestion ? { congestion: o.congestion } : {}),
  };
}

export class TcpSocket extends Duplex implements EndpointEvents {
  ep: TcpEndpoint | null;
  connecting: boolean;
  bytesRead = 0;
  private written = 0;
  private pending: { chunk: Uint8Array; cb: (err?: Error | null) => void } | null = null;
  private idleMs = 0;
  /** Node's socket.timeout: what setTimeout was last given; undefined until then. */
  timeout: number | undefined = undefined;
  private readonly idleTimer: Timer;
  private lastActive = 0;
  readonly remoteFamily = 'IPv4';

  constructor(
    private readonly proto: TcpProto,
    ep: TcpEndpoint,
    connected: boolean,
    opts: TcpSocketOptions = {},
  ) {
    super({ allowHalfOpen: opts.allowHalfOpen ?? false, decodeStrings: true, emitClose: true });
    this.ep = ep;
    this.connecting = !connected;
    const held = ep.events instanceof PreAcceptQueue ? ep.events : null;
    ep.events = this;
    if (opts.noDelay) ep.noDelay = true;
    this.idleTimer = new Timer(() => this.onIdle());
    this.lastActive = this.rt.clock.now();
    if (held) this.takeOver(held);
  }

  /** accept(): what came while the connection waited on the accept queue, in order. */
  private takeOver(q: PreAcceptQueue): void {
    for (const d of q.data) this.onData(d);
    if (q.ended) this.onEnd();
    if (q.error) this.onError(q.error);
    else if (q.closed) this.onClose();
  }

  private get rt(): Runtime {
    return this.proto.net.rt;
  }

  // ---------------------------------------------------------- properties

  get remoteAddress(): string | undefined {
    return this.ep || this.cachedRemote ? ipv4ToString((this.ep ?? this.cachedRemote!).raddr) : undefined;
  }
  get remotePort(): number | undefined {
    return (this.ep ?? this.cachedRemote)?.rport;
  }
  get localAddress(): string | undefined {
    return this.ep || this.cachedRemote ? ipv4ToString((this.ep ?? this.cachedRemote!).laddr) : undefined;
  }
  get localPort(): number | undefined {
    return (this.ep ?? this.cachedRemote)?.lport;
  }
  get bytesWritten(): number {
    return this.written;
  }
  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }
  /** Addresses survive the endpoint (Node keeps them after close). */
  private cachedRemote: { raddr: number; rport: number; laddr: number; lport: number } | null = null;

  address(): { address: string; family: string; port: number } | Record<string, never> {
    const e = this.ep ?? this.cachedRemote;
    return e ? { address: ipv4ToString(e.laddr), family: 'IPv4', port: e.lport } : {};
  }

  setNoDelay(noDelay = true): this {
    if (this.ep) {
      this.ep.noDelay = noDelay;
      if (noDelay) this.ep.push();
    }
    return this;
  }

  /** SO_KEEPALIVE with TCP_KEEPIDLE = initialDelay (ms), as Node's setKeepAlive. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    const ep = this.ep;
    if (!ep) return this;
    ep.keepalive = enable;
    if (initialDelay > 0) ep.keepaliveIdleMs = initialDelay;
    if (enable) ep.armKeepalive();
    else this.rt.timers.cancel(ep.keepaliveTimer);
    return this;
  }

  /**
   * Node's setTimeout (lib/net.js setStreamTimeout): 'timeout' after `ms` of
   * inactivity — no connect, data or FIN in, or write — once per idle period;
   * the socket stays open. Each call restarts the idle timer with the new
   * duration from now, whatever was pending; 0 disables it (and removes `cb`).
   */
  setTimeout(ms: number, cb?: () => void): this {
    if (this.destroyed) return this;
    const d = timerDuration(ms);
    if (cb !== undefined && typeof cb !== 'function') {
      throw Object.assign(new TypeError(`The "callback" argument must be of type function. Received ${received(cb)}`), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    this.timeout = ms;
    this.idleMs = d;
    this.rt.timers.cancel(this.idleTimer);
    if (d === 0) {
      if (cb) this.removeListener('timeout', cb);
      return this;
    }
    this.lastActive = this.rt.clock.now();
    this.rt.timers.arm(this.idleTimer, this.lastActive + d);
    if (cb) this.once('timeout', cb);
    return this;
  }

  /**
   * Activity (Node's _unrefTimer): the idle period starts again. The pending
   * timer is left where it is — it can only be earlier than the new deadline,
   * and onIdle moves it on — so busy sockets do not touch the timer wheel on
   * every segment.
   */
  private touch(): void {
    this.lastActive = this.rt.clock.now();
    if (this.idleMs > 0 && !this.idleTimer.pending) this.rt.timers.arm(this.idleTimer, this.lastActive + this.idleMs);
  }

  private onIdle(): void {
    if (this.idleMs <= 0 || this.destroyed) return;
    const due = this.lastActive + this.idleMs;
    if (this.rt.clock.now() < due) {
      this.rt.timers.arm(this.idleTimer, due);
      return;
    }
    // Not re-armed: the next activity starts the next idle period.
    this.emit('timeout');
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  resetAndDestroy(): this {
    if (this.ep) {
      const ep = this.ep;
      this.detach();
      ep.abort();
    }
    return this.destroy();
  }

  // ---------------------------------------------------------- endpoint events

  onConnect(): void {
    this.connecting = false;
    this.cache();
    this.touch();
    this.emit('connect');
    this.emit('ready');
    this.flushPending();
  }

  onData(data: Uint8Array): void {
    this.bytesRead += data.length;
    this.touch();
    this.push(Buffer.from(data.buffer, data.byteOffset, data.length));
  }

  onEnd(): void {
    this.touch();
    this.push(null);
  }

  onDrain(): void {
    this.flushPending();
  }

  onError(code: string): void {
    const syscall = this.connecting ? 'connect' : code === 'ECONNRESET' ? 'read' : 'write';
    const where = this.connecting && this.ep ? `${ipv4ToString(this.ep.raddr)}:${this.ep.rport}` : '';
    this.detach();
    this.destroy(errnoError(code, syscall, where));
  }

  onClose(): void {
    this.detach();
    // Both directions are done: the socket closes ('close' after 'end'/'finish').
    if (!this.destroyed) {
      if (this.readableEnded || this.readableLength === 0) this.destroy();
      else this.once('end', () => this.destroy());
    }
  }

  unreadBytes(): number {
    return this.readableLength;
  }

  private cache(): void {
    const e = this.ep;
    if (e) this.cachedRemote = { raddr: e.raddr, rport: e.rport, laddr: e.laddr, lport: e.lport };
  }

  private detach(): void {
    if (this.ep) {
      this.cache();
      if (this.ep.events === this) this.ep.events = null;
    }
    this.ep = null;
    this.rt.timers.cancel(this.idleTimer);
  }

  // ---------------------------------------------------------- Duplex

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.touch(); // Node's _writeGeneric: a write is activity, even while connecting
    this.pending = { chunk, cb };
    if (!this.connecting) this.flushPending();
  }

  private flushPending(): void {
    const p = this.pending;
    if (!p) return;
    const ep = this.ep;
    if (!ep) {
      this.pending = null;
      p.cb(errnoError('EPIPE', 'write'));
      return;
    }
    const n = ep.send(p.chunk);
    if (n < 0) {
      this.pending = null;
      p.cb(errnoError('EPIPE', 'write'));
      return;
    }
    this.written += n;
    if (n > 0) this.touch();
    if (n === p.chunk.length) {
      this.pending = null;
      p.cb();
    } else p.chunk = p.chunk.subarray(n);
  }

  override _final(cb: (err?: Error | null) => void): void {
    const finish = () => {
      this.ep?.shutdownWrite();
      cb();
    };
    if (this.connecting) this.once('connect', finish);
    else finish();
  }

  override _read(): void {
    this.ep?.windowUpdate();
  }

  /**
   * Every consumption goes through read() (flowing mode, pipe and async
   * iteration call it too). Node calls _read once and not again until we push,
   * and with the window closed nothing will be pushed: the window must open on
   * the read itself, as Linux's tcp_recvmsg → tcp_cleanup_rbuf does.
   */
  override read(size?: number): ReturnType<Duplex['read']> {
    const chunk = super.read(size);
    if (chunk !== null) this.ep?.windowUpdate();
    return chunk;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const ep = this.ep;
    // close() before detaching: it asks us what was left unread, which
    // decides between FIN and RST (RFC 2525 §2.17; Linux tcp_close).
    if (ep && ep.state !== TcpState.Close) ep.close();
    this.detach();
    const p = this.pending;
    this.pending = null;
    if (p) p.cb(err ?? errnoError('EPIPE', 'write'));
    cb(err);
  }
}
