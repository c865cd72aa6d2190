// socket: UdpSocket, the `dgram.Socket` of this stack — an adapter from
// Node's API onto the protocol's UdpSock (as Node's lib/dgram.js is one onto
// the kernel's). Arguments are checked and juggled as dgram does them, and
// misuse throws the same ERR_* codes; system errors (EADDRINUSE, EMSGSIZE,
// ENETUNREACH, ECONNREFUSED) come as Error objects with code, errno and
// syscall, through the same channels: bind and connect errors as 'error'
// events (or the connect callback), send errors only to the send callback
// (dgram drops them when there is none), ICMP errors on a connected socket
// as an 'error' from recvmsg. Events are asynchronous, run by the stack's
// runtime: 'listening', 'connect', 'close' and callbacks on the next tick
// (rt.soon), 'message' from the receive queue like I/O (rt.defer), at most
// RECV_BATCH datagrams per turn as libuv reads them.
//
// Unlike dgram, bind and connect take effect at once (there is no DNS to
// wait for): address() works right after bind(), and send(msg) right after
// connect().

import { EventEmitter } from 'node:events';
import type { Runtime } from '../core/runtime.js';
import { ipv4ToString, parseIpv4, type Ipv4Addr } from '../wire/address.js';
import { UDP_HLEN } from '../wire/udp.js';
import { dnsException, ERR, errnoException, exceptionWithHostPort } from './errors.js';
import {
  SOCK_MIN_RCVBUF,
  SOCK_MIN_SNDBUF,
  UDP_RMEM_MAX,
  UDP_WMEM_MAX,
  UdpSock,
  type Udp,
  type UdpErrno,
} from './udp.js';

/** Datagrams read per wakeup (libuv's uv__udp_recvmsg reads up to 32). */
const RECV_BATCH = 32;

export type UdpSocketType = 'udp4';

export interface UdpSocketOptions {
  type: UdpSocketType;
  /** SO_REUSEADDR: share a port with other sockets that set it too. */
  reuseAddr?: boolean;
  /** SO_RCVBUF / SO_SNDBUF, applied at bind (Linux doubles them, as dgram reports). */
  recvBufferSize?: number;
  sendBufferSize?: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

export interface RemoteInfo extends AddressInfo {
  size: number;
}

export interface BindOptions {
  port?: number;
  address?: string;
  exclusive?: boolean;
}

export type SendCallback = (error: Error | null, bytes?: number) => void;

type Data = string | ArrayBufferView | ReadonlyArray<string | ArrayBufferView>;

const BUFFER_TYPES = 'of type string or an instance of Buffer, TypedArray, or DataView';

/** validatePort (lib/internal/validators.js): a number or numeric string in 0..65535. */
function validatePort(port: unknown, name = 'Port', allowZero = true): number {
  if (
    (typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    +port !== +port >>> 0 ||
    +port > 0xffff ||
    (+port === 0 && !allowZero)
  ) {
    throw ERR.SOCKET_BAD_PORT(name, port, allowZero);
  }
  return +port | 0;
}

function toBytes(v: ArrayBufferView): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** sliceBuffer: the [offset, offset+length) part of a string or view. */
function sliceBuffer(buffer: unknown, offset: unknown, length: unknown): Uint8Array {
  let b: Uint8Array;
  if (typeof buffer === 'string') b = Buffer.from(buffer);
  else if (ArrayBuffer.isView(buffer)) b = toBytes(buffer);
  else throw ERR.INVALID_ARG_TYPE('buffer', BUFFER_TYPES, buffer);
  const off = Number(offset) >>> 0;
  const len = Number(length) >>> 0;
  if (off > b.byteLength) throw ERR.BUFFER_OUT_OF_BOUNDS('offset');
  if (off + len > b.byteLength) throw ERR.BUFFER_OUT_OF_BOUNDS('length');
  return b.subarray(off, off + len);
}

/** The message as a list of byte views (dgram's fixBufferList), or throws. */
function toList(buffer: unknown): Uint8Array[] {
  if (Array.isArray(buffer)) {
    const list: Uint8Array[] = [];
    for (const b of buffer) {
      if (typeof b === 'string') list.push(Buffer.from(b));
      else if (ArrayBuffer.isView(b)) list.push(toBytes(b));
      else throw ERR.INVALID_ARG_TYPE('buffer list arguments', BUFFER_TYPES, buffer);
    }
    return list;
  }
  if (typeof buffer === 'string') return [Buffer.from(buffer)];
  if (ArrayBuffer.isView(buffer)) return [toBytes(buffer)];
  throw ERR.INVALID_ARG_TYPE('buffer', BUFFER_TYPES, buffer);
}

/**
 * dns.lookup for this stack, which has no resolver: IPv4 literals, and
 * "localhost". An empty address is 127.0.0.1, as dgram's lookup4 makes it.
 */
function resolve(address: string | undefined): Ipv4Addr | null {
  if (!address) return 0x7f000001;
  if (address === 'localhost') return 0x7f000001;
  return parseIpv4(address);
}

export class UdpSocket extends EventEmitter {
  readonly type: UdpSocketType = 'udp4';
  /** The protocol's socket; null once closed (dgram's handle). */
  private sk: UdpSock | null = new UdpSock();
  private bound = false;
  private isConnected = false;
  private draining = false;
  private readonly opts: UdpSocketOptions;

  constructor(
    private readonly udp: Udp,
    private readonly rt: Runtime,
    opts: UdpSocketOptions = { type: 'udp4' },
  ) {
    super();
    this.opts = opts;
    const sk = this.sk!;
    sk.reuseAddr = !!opts.reuseAddr;
    sk.dataReady = this.onDataReady;
    sk.errorReport = this.onErrorReport;
  }

  private healthCheck(): UdpSock {
    if (!this.sk) throw ERR.SOCKET_DGRAM_NOT_RUNNING();
    return this.sk;
  }

  /** Emits on the next tick unless the socket was closed by then. */
  private emitSoon(event: string, ...args: unknown[]): void {
    this.rt.soon(() => {
      if (this.sk) this.emit(event, ...args);
    });
  }

  // ---- bind ----------------------------------------------------------------

  bind(port?: number | BindOptions | (() => void) | null, address?: string | (() => void), callback?: () => void): this;
  bind(...args: unknown[]): this {
    const sk = this.healthCheck();
    if (this.bound) throw ERR.SOCKET_ALREADY_BOUND();
    const last = args.length > 0 ? args[args.length - 1] : undefined;
    let port: unknown = args[0];
    let address: unknown;
    if (port !== null && typeof port === 'object') {
      const o = port as BindOptions;
      address = o.address || '';
      port = o.port;
    } else {
      address = typeof args[1] === 'function' ? '' : args[1];
    }
    if (typeof port === 'function') port = 0;
    // dgram lets any value through here (the port wraps around in C++); refuse bad ones.
    const p = port === undefined || port === null ? 0 : validatePort(port, 'Port', true);
    if (address !== undefined && address !== null && typeof address !== 'string') {
      throw ERR.INVALID_ARG_TYPE('address', 'of type string', address);
    }

    if (typeof last === 'function') {
      const cb = last as () => void;
      const onListening = (): void => {
        this.removeListener('error', onError);
        cb.call(this);
      };
      const onError = (): void => {
        this.removeListener('listening', onListening);
      };
      this.once('listening', onListening);
      this.once('error', onError);
    }

    const addrStr = (address as string | undefined) || '0.0.0.0';
    const ip = resolve(addrStr);
    if (ip === null) {
      this.emitSoon('error', dnsException(addrStr));
      return this;
    }
    const e = this.udp.bind(sk, ip, p);
    if (e) {
      this.emitSoon('error', exceptionWithHostPort(e, 'bind', ipv4ToString(ip), p));
      return this;
    }
    this.startListening();
    return this;
  }

  /** startListening: bound, buffer sizes from the options, 'listening' on the next tick. */
  private startListening(): void {
    this.bound = true;
    if (this.opts.recvBufferSize !== undefined) this.setRecvBufferSize(this.opts.recvBufferSize);
    if (this.opts.sendBufferSize !== undefined) this.setSendBufferSize(this.opts.sendBufferSize);
    this.emitSoon('listening');
  }

  /** dgram's implicit bind({ port: 0 }) before the first send or connect. */
  private autobind(sk: UdpSock): UdpErrno | null {
    const e = this.udp.bind(sk, 0, 0);
    if (e) return e;
    this.startListening();
    return null;
  }

  // ---- connect -----------------------------------------------------------------

  connect(port: number, address?: string | (() => void), callback?: (err?: Error) => void): void {
    const p = validatePort(port, 'Port', false);
    let addr: unknown = address;
    if (typeof addr === 'function') {
      callback = addr as (err?: Error) => void;
      addr = '';
    } else if (addr === undefined) {
      addr = '';
    }
    if (typeof addr !== 'string') throw ERR.INVALID_ARG_TYPE('address', 'of type string', addr);
    if (this.isConnected) throw ERR.SOCKET_DGRAM_IS_CONNECTED();
    const sk = this.healthCheck();

    const fail = (ex: Error): void => {
      this.rt.soon(() => {
        if (!this.sk) return;
        if (callback) callback.call(this, ex);
        else this.emit('error', ex);
      });
    };
    if (!this.bound) {
      const e = this.autobind(sk);
      if (e) return fail(exceptionWithHostPort(e, 'bind', '0.0.0.0', 0));
    }
    const ip = resolve(addr);
    if (ip === null) return fail(dnsException(addr));
    const e = this.udp.connect(sk, ip, p);
    if (e) return fail(exceptionWithHostPort(e, 'connect', ipv4ToString(ip), p));
    this.isConnected = true;
    if (callback) this.once('connect', callback);
    this.emitSoon('connect');
  }

  disconnect(): void {
    if (!this.isConnected) throw ERR.SOCKET_DGRAM_NOT_CONNECTED();
    const sk = this.healthCheck();
    this.udp.disconnect(sk);
    this.isConnected = false;
  }

  // ---- send ------------------------------------------------------------------------

  send(msg: Data, port?: number, address?: string, callback?: SendCallback): void;
  send(msg: Data, port?: number, callback?: SendCallback): void;
  send(msg: Data, callback?: SendCallback): void;
  send(msg: Data, offset: number, length: number, port?: number, address?: string, callback?: SendCallback): void;
  send(msg: Data, offset: number, length: number, port?: number, callback?: SendCallback): void;
  send(msg: Data, offset: number, length: number, callback?: SendCallback): void;
  send(...args: unknown[]): void {
    // Argument juggling exactly as dgram's Socket.prototype.send.
    let [buffer, offset, length, port, address, callback] = args;
    const connected = this.isConnected;
    if (!connected) {
      if (address || (port && typeof port !== 'function')) {
        buffer = sliceBuffer(buffer, offset, length);
      } else {
        callback = port;
        port = offset;
        address = length;
      }
    } else {
      if (typeof length === 'number') {
        buffer = sliceBuffer(buffer, offset, length);
        if (typeof port === 'function') {
          callback = port;
          port = null;
        }
      } else {
        callback = offset;
      }
      if (port || address) throw ERR.SOCKET_DGRAM_IS_CONNECTED();
    }
    const list = toList(buffer);
    let dport = 0;
    if (!connected) dport = validatePort(port, 'Port', false);
    let cb = typeof callback === 'function' ? (callback as SendCallback) : undefined;
    if (typeof address === 'function') {
      cb = address as SendCallback;
      address = undefined;
    } else if (address != null && typeof address !== 'string') {
      throw ERR.INVALID_ARG_TYPE('address', 'of type string', address);
    }
    const sk = this.healthCheck();
    if (!this.bound) {
      const e = this.autobind(sk);
      if (e) {
        if (cb) this.rt.soon(() => cb(exceptionWithHostPort(e, 'bind', '0.0.0.0', 0)));
        return;
      }
    }

    let daddr: Ipv4Addr;
    if (connected) {
      daddr = sk.raddr;
      dport = sk.rport;
    } else {
      const ip = resolve(address as string | undefined);
      if (ip === null) {
        // A failed lookup goes to the callback, else to 'error' (dgram's doSend).
        const ex = dnsException(address as string);
        if (cb) this.rt.soon(() => cb(ex));
        else this.emitSoon('error', ex);
        return;
      }
      daddr = ip;
    }
    let len = 0;
    for (const b of list) len += b.byteLength;
    const e = this.udp.sendto(sk, daddr, dport, list, len);
    if (!cb) return; // dgram reports send errors only to a callback
    if (e) {
      const ex = connected
        ? exceptionWithHostPort(e, 'send', undefined, undefined)
        : exceptionWithHostPort(e, 'send', (address as string | undefined) || ipv4ToString(daddr), dport);
      this.rt.soon(() => cb(ex));
    } else {
      this.rt.soon(() => cb(null, len));
    }
  }

  // ---- receive -----------------------------------------------------------------------

  /** sk_data_ready: the queue went from empty to not empty; read it after this turn. */
  private readonly onDataReady = (): void => {
    if (this.draining) return;
    this.draining = true;
    this.rt.defer(this.drain);
  };

  /** Reads up to RECV_BATCH datagrams off the queue, one 'message' each (copy to user). */
  private readonly drain = (): void => {
    this.draining = false;
    const sk = this.sk;
    if (!sk) return;
    for (let i = 0; i < RECV_BATCH && this.sk === sk; i++) {
      const pb = this.udp.recv(sk);
      if (!pb) return;
      const b = pb.buf;
      const h = pb.head;
      const size = pb.len - UDP_HLEN;
      const msg = Buffer.allocUnsafe(size);
      msg.set(b.subarray(h + UDP_HLEN, h + pb.len));
      const rinfo: RemoteInfo = { address: ipv4ToString(pb.saddr), family: 'IPv4', port: (b[h]! << 8) | b[h + 1]!, size };
      pb.free();
      this.emit('message', msg, rinfo);
    }
    if (this.sk === sk && sk.queue.length > 0) this.onDataReady();
  };

  /** sk_error_report: a hard ICMP error for a connected socket, read like recvmsg's. */
  private readonly onErrorReport = (errno: UdpErrno): void => {
    this.rt.defer(() => {
      if (this.sk) this.emit('error', errnoException(errno, 'recvmsg'));
    });
  };

  // ---- addresses, options, close ---------------------------------------------------------

  address(): AddressInfo {
    const sk = this.healthCheck();
    if (!this.bound) throw errnoException('EBADF', 'getsockname');
    return { address: ipv4ToString(sk.laddr), family: 'IPv4', port: sk.lport };
  }

  remoteAddress(): AddressInfo {
    const sk = this.healthCheck();
    if (!this.isConnected) throw ERR.SOCKET_DGRAM_NOT_CONNECTED();
    return { address: ipv4ToString(sk.raddr), family: 'IPv4', port: sk.rport };
  }

  close(callback?: () => void): this {
    if (typeof callback === 'function') this.on('close', callback);
    const sk = this.healthCheck();
    this.udp.unhash(sk);
    this.sk = null;
    this.rt.soon(() => this.emit('close'));
    return this;
  }

  /** SO_RCVBUF: Linux stores twice the value, at least SOCK_MIN_RCVBUF, at most 2 × rmem_max. */
  setRecvBufferSize(size: number): void {
    const sk = this.bufferSocket(size, 'uv_recv_buffer_size');
    if (size > 0) sk.rcvbuf = Math.max(2 * Math.min(size, UDP_RMEM_MAX), SOCK_MIN_RCVBUF);
  }

  getRecvBufferSize(): number {
    return this.bufferSocket(0, 'uv_recv_buffer_size').rcvbuf;
  }

  setSendBufferSize(size: number): void {
    const sk = this.bufferSocket(size, 'uv_send_buffer_size');
    if (size > 0) sk.sndbuf = Math.max(2 * Math.min(size, UDP_WMEM_MAX), SOCK_MIN_SNDBUF);
  }

  getSendBufferSize(): number {
    return this.bufferSocket(0, 'uv_send_buffer_size').sndbuf;
  }

  private bufferSocket(size: number, syscall: string): UdpSock {
    if (size >>> 0 !== size) throw ERR.SOCKET_BAD_BUFFER_SIZE();
    const sk = this.healthCheck();
    if (!this.bound) throw ERR.SOCKET_BUFFER_SIZE(syscall, 'EBADF', 'bad file descriptor');
    return sk;
  }

  /** SO_BROADCAST: without it, sending or connecting to a broadcast address is EACCES. */
  setBroadcast(flag: boolean): void {
    this.healthCheck().broadcast = !!flag;
  }

  /** IP_TTL of the datagrams this socket sends, 1..255. */
  setTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw ERR.INVALID_ARG_TYPE('ttl', 'of type number', ttl);
    const sk = this.healthCheck();
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw errnoException('EINVAL', 'setTTL');
    sk.ttl = ttl;
    return ttl;
  }

  /** Datagrams dropped on this socket because its receive queue was full (sk_drops). */
  get drops(): number {
    return this.sk?.drops ?? 0;
  }

  /** Sends leave at once: nothing ever waits in a send queue. */
  getSendQueueSize(): number {
    return 0;
  }

  getSendQueueCount(): number {
    return 0;
  }

  /** The socket holds no event-loop handle, so there is nothing to ref or unref. */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

/** dgram.createSocket's argument handling: a type string or an options object. */
export function socketOptions(type: UdpSocketType | UdpSocketOptions): UdpSocketOptions {
  const opts = typeof type === 'string' ? { type } : type;
  if (opts === null || typeof opts !== 'object') throw ERR.SOCKET_BAD_TYPE();
  if (opts.type !== 'udp4') throw ERR.SOCKET_BAD_TYPE();
  for (const size of [opts.recvBufferSize, opts.sendBufferSize]) {
    if (size !== undefined && size >>> 0 !== size) throw ERR.SOCKET_BAD_BUFFER_SIZE();
  }
  return opts;
}
