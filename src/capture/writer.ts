// writer: the packet tap's sink. The device layer hands every frame it
// receives or sends to a CaptureSink, as tcpdump's AF_PACKET socket sees
// them; a capture writer encodes each one as a pcap or pcapng record into a
// large preallocated buffer and writes the buffer to a file in chunks, off
// the stack's path (fs.writev on libuv's thread pool, one write at a time).
//
// Memory is bounded: when the file falls behind by more than `maxBuffered`
// bytes the frame is counted in `stats.dropped` instead of being queued,
// as libpcap drops when its ring is full.
//
// Time is passed as two integers, whole seconds and nanoseconds since the
// Unix epoch, because a double cannot hold epoch nanoseconds exactly
// (1.7e18 > 2^53) and a bigint per frame costs an allocation. The helpers
// `timeFromNs` and `timeFromMs` convert from the usual clock shapes.

import * as fs from 'node:fs';
import { LINKTYPE_ETHERNET, PcapEncoder } from './pcap.js';
import { PcapngEncoder } from './pcapng.js';

export { LINKTYPE_ETHERNET };

/** Which way a frame crossed the interface: received ('in') or sent ('out'). */
export type CaptureDirection = 'in' | 'out';

/** The file format: libpcap classic, or pcapng (directions and comments). */
export type CaptureFormat = 'pcap' | 'pcapng';

/** Timestamp resolution written to the file: microseconds or nanoseconds. */
export type TimestampResolution = 'us' | 'ns';

/** The default snapshot length, libpcap's and Wireshark's maximum (256 KiB). */
export const DEFAULT_SNAPLEN = 262144;

/** The largest snapshot length accepted: readers reject longer records. */
export const MAX_SNAPLEN = 262144;

/** Counters of a capture sink; live (the object is updated in place). */
export interface CaptureStats {
  /** Frames recorded (accepted into the buffer). */
  frames: number;
  /** Sum of the original (on-the-wire) lengths of the recorded frames. */
  bytes: number;
  /** Frames not recorded: the writer was too far behind, failed, or closed. */
  dropped: number;
  /** Bytes written to the file so far (headers and records). */
  written: number;
}

/**
 * A packet tap's sink. `record` is called on the stack's hot path and never
 * blocks: it copies the frame and returns.
 */
export interface CaptureSink {
  /**
   * Records one Ethernet frame, frame[off, off+len). The bytes are copied
   * before return (the caller reuses its buffer); frames longer than the
   * snapshot length are truncated (the record keeps the original length).
   *
   * The timestamp is `sec` whole seconds plus `nsec` nanoseconds since the
   * Unix epoch: integers, 0 <= sec < 2^32, 0 <= nsec < 1e9 (a RangeError
   * otherwise). With microsecond resolution nsec is truncated to µs.
   *
   * `comment` is free text shown with the frame (pcapng only; e.g. a drop
   * reason or a netfilter verdict). Classic pcap keeps neither the
   * direction nor the comment.
   *
   * Returns true if the frame was recorded, false if it was dropped (the
   * writer is too far behind, has failed, or is closed).
   */
  record(
    frame: Uint8Array,
    off: number,
    len: number,
    sec: number,
    nsec: number,
    dir: CaptureDirection,
    comment?: string,
  ): boolean;
  /**
   * Hands everything recorded so far to the file and resolves once it has
   * been written (to the kernel, not fsynced). Rejects with the first write
   * error. Calling it periodically is the caller's job.
   */
  flush(): Promise<void>;
  /**
   * Flushes, appends the format's trailer (pcapng: an Interface Statistics
   * Block with the received and dropped counts) and closes the file.
   * Later records are dropped. Idempotent: returns the same promise.
   * Rejects with the first write error, after closing the file.
   */
  close(): Promise<void>;
  readonly stats: Readonly<CaptureStats>;
}

/**
 * A capture file format, as pure encoding: the writer asks for the size of
 * a record, reserves room for it and has the encoder fill it in.
 */
export interface CaptureEncoder {
  readonly format: CaptureFormat;
  readonly snaplen: number;
  readonly resolution: TimestampResolution;
  /** Whether records carry comments (the writer skips measuring them if not). */
  readonly comments: boolean;
  /** The bytes that open the file. */
  header(): Buffer;
  /**
   * The size of the record of a frame with `caplen` captured bytes and a
   * comment of `commentBytes` UTF-8 bytes (0: none).
   */
  recordSize(caplen: number, commentBytes: number): number;
  /**
   * Writes that record at dst[pos], which has recordSize() bytes of room,
   * and returns the position after it.
   */
  writeRecord(
    dst: Buffer,
    pos: number,
    frame: Uint8Array,
    off: number,
    caplen: number,
    origLen: number,
    sec: number,
    nsec: number,
    dir: CaptureDirection,
    comment: string | undefined,
    commentBytes: number,
  ): number;
  /**
   * The bytes that close the file (or null), given the final counters and
   * the timestamp of the last recorded frame.
   */
  trailer(stats: Readonly<CaptureStats>, sec: number, nsec: number): Buffer | null;
}

/** Options of `createCaptureWriter`. */
export interface CaptureWriterOptions {
  /** 'pcapng' (default; keeps directions and comments) or 'pcap'. */
  format?: CaptureFormat;
  /** 'ns' (default) or 'us'. */
  resolution?: TimestampResolution;
  /** Bytes kept of each frame, 1..262144 (default 262144). */
  snaplen?: number;
  /** pcapng interface name (if_name); default 'ustack0'. */
  ifName?: string;
  /** pcapng interface description (if_description); none by default. */
  ifDescription?: string;
  /** Size of each buffer chunk handed to the file (default 256 KiB, min 4 KiB). */
  bufferSize?: number;
  /**
   * The most bytes buffered but not yet written before frames are dropped
   * (default 16 MiB). Memory stays within about this plus two chunks.
   */
  maxBuffered?: number;
  /** File mode when the file is created (default 0o644, less the umask). */
  mode?: number;
}

export const DEFAULT_BUFFER_SIZE = 256 * 1024;
export const DEFAULT_MAX_BUFFERED = 16 * 1024 * 1024;
const MIN_BUFFER_SIZE = 4096;
/** Buffers per writev: below IOV_MAX (1024). */
const MAX_IOV = 512;
/** Free chunks kept for reuse. */
const MAX_FREE_CHUNKS = 4;

/** A time in the form `record` takes. */
export interface CaptureTime {
  sec: number;
  nsec: number;
}

/** Splits nanoseconds since the epoch (e.g. a clock's bigint) into sec + nsec. */
export function timeFromNs(ns: bigint): CaptureTime {
  const sec = ns / 1_000_000_000n;
  return { sec: Number(sec), nsec: Number(ns - sec * 1_000_000_000n) };
}

/**
 * Splits milliseconds since the epoch (Date.now(), or performance.timeOrigin
 * + performance.now(), possibly fractional) into sec + nsec. Exact to the
 * double's precision: about 0.2 µs for current dates.
 */
export function timeFromMs(ms: number): CaptureTime {
  const sec = Math.floor(ms / 1000);
  let nsec = Math.round((ms - sec * 1000) * 1e6);
  if (nsec >= 1e9) return { sec: sec + 1, nsec: nsec - 1e9 };
  if (nsec < 0) nsec = 0;
  return { sec, nsec };
}

/** Validates a snapshot length option; returns the default for undefined. */
export function checkSnaplen(snaplen: number | undefined): number {
  if (snaplen === undefined) return DEFAULT_SNAPLEN;
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > MAX_SNAPLEN) {
    throw new RangeError(`capture: snaplen must be an integer in 1..${MAX_SNAPLEN}, got ${snaplen}`);
  }
  return snaplen;
}

function checkBuffering(options: CaptureWriterOptions): { chunkSize: number; maxBuffered: number } {
  const chunkSize = options.bufferSize ?? DEFAULT_BUFFER_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_BUFFER_SIZE) {
    throw new RangeError(`capture: bufferSize must be an integer >= ${MIN_BUFFER_SIZE}, got ${chunkSize}`);
  }
  const maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED;
  if (!(maxBuffered > 0)) {
    throw new RangeError(`capture: maxBuffered must be positive, got ${maxBuffered}`);
  }
  return { chunkSize, maxBuffered };
}

/** Creates the encoder for a format. */
export function createEncoder(options: CaptureWriterOptions = {}): CaptureEncoder {
  const format = options.format ?? 'pcapng';
  const resolution = options.resolution ?? 'ns';
  if (resolution !== 'us' && resolution !== 'ns') {
    throw new RangeError(`capture: resolution must be 'us' or 'ns', got ${String(resolution)}`);
  }
  const snaplen = checkSnaplen(options.snaplen);
  switch (format) {
    case 'pcap':
      return new PcapEncoder({ snaplen, resolution });
    case 'pcapng':
      return new PcapngEncoder({
        snaplen,
        resolution,
        ifName: options.ifName,
        ifDescription: options.ifDescription,
      });
    default:
      throw new RangeError(`capture: format must be 'pcap' or 'pcapng', got ${String(format)}`);
  }
}

/**
 * Opens (creating or truncating) a capture file and returns its writer.
 * The file is opened synchronously, so a bad path throws here: an Error
 * whose message names the path and whose `code` is Node's (ENOENT, EACCES,
 * EISDIR, ...). The file header is queued for writing at once.
 */
export function createCaptureWriter(path: string, options: CaptureWriterOptions = {}): CaptureWriter {
  // Bad options throw before the file is touched.
  const encoder = createEncoder(options);
  checkBuffering(options);
  let fd: number;
  try {
    fd = fs.openSync(path, 'w', options.mode ?? 0o644);
  } catch (e) {
    const cause = e as NodeJS.ErrnoException;
    const err = new Error(`capture: cannot open '${path}' for writing: ${cause.code ?? cause.message}`, {
      cause,
    }) as NodeJS.ErrnoException;
    if (cause.code !== undefined) err.code = cause.code;
    if (cause.errno !== undefined) err.errno = cause.errno;
    err.syscall = 'open';
    err.path = path;
    throw err;
  }
  return new CaptureWriter(fd, encoder, options, true);
}

/** One buffer chunk; recycled once every region handed to the file is written. */
interface Chunk {
  buf: Buffer;
  /** Regions of this chunk queued or in flight. */
  refs: number;
  /** No longer the chunk being filled. */
  retired: boolean;
}

/** A region queued for writing; `chunk` is null for one-off buffers. */
interface Region {
  buf: Buffer;
  chunk: Chunk | null;
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * A CaptureSink writing to a file descriptor. Records go into the current
 * chunk; a full chunk, or the filled part of one on flush(), is queued and
 * written with fs.writev, one write in flight at a time so the file keeps
 * the order. `stats.dropped` counts frames refused because more than
 * `maxBuffered` bytes were waiting, because a write failed, or after close.
 */
export class CaptureWriter implements CaptureSink {
  private readonly counters: CaptureStats = { frames: 0, bytes: 0, dropped: 0, written: 0 };
  readonly encoder: CaptureEncoder;
  readonly fd: number;

  private readonly chunkSize: number;
  private readonly maxBuffered: number;
  private readonly ownsFd: boolean;
  private readonly commentsSupported: boolean;

  private cur: Chunk;
  /** First byte of `cur` not yet queued. */
  private start = 0;
  /** End of the data in `cur`. */
  private end = 0;
  private readonly free: Chunk[] = [];
  private queue: Region[] = [];
  private inFlight = false;
  /** Bytes buffered (current chunk's unqueued part + queued + in flight). */
  private pending = 0;
  /** Bytes ever queued, and bytes ever written: flush() waits for the former. */
  private queuedTotal = 0;
  private writtenTotal = 0;
  private waiters: Waiter[] = [];
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;
  private lastSec = 0;
  private lastNsec = 0;

  /**
   * Writes to an open file descriptor, starting with the encoder's header
   * (queued at once). Closes the descriptor on close() if `ownsFd`.
   */
  constructor(fd: number, encoder: CaptureEncoder, options: CaptureWriterOptions = {}, ownsFd = true) {
    this.fd = fd;
    this.encoder = encoder;
    this.ownsFd = ownsFd;
    this.commentsSupported = encoder.comments;
    const { chunkSize, maxBuffered } = checkBuffering(options);
    this.chunkSize = chunkSize;
    this.maxBuffered = maxBuffered;
    this.cur = { buf: Buffer.allocUnsafe(chunkSize), refs: 0, retired: false };
    // The header is written whatever the budget: a file without one is unreadable.
    const header = encoder.header();
    this.enqueue({ buf: header, chunk: null });
    this.pending += header.length;
    this.pump();
  }

  record(
    frame: Uint8Array,
    off: number,
    len: number,
    sec: number,
    nsec: number,
    dir: CaptureDirection,
    comment?: string,
  ): boolean {
    if (!(off >= 0 && len >= 0 && off + len <= frame.length) || !Number.isInteger(off) || !Number.isInteger(len)) {
      throw new RangeError(`capture: frame region [${off}, ${off}+${len}) outside a buffer of ${frame.length}`);
    }
    if (
      !(sec >= 0 && sec <= 0xffffffff && nsec >= 0 && nsec < 1e9) ||
      !Number.isInteger(sec) ||
      !Number.isInteger(nsec)
    ) {
      throw new RangeError(`capture: bad timestamp ${sec} s + ${nsec} ns`);
    }
    if (this.closing !== null || this.failure !== null) {
      this.counters.dropped++;
      return false;
    }
    const enc = this.encoder;
    const caplen = len < enc.snaplen ? len : enc.snaplen;
    const commentBytes = comment && this.commentsSupported ? Buffer.byteLength(comment, 'utf8') : 0;
    const size = enc.recordSize(caplen, commentBytes);
    if (this.pending + size > this.maxBuffered) {
      this.counters.dropped++;
      return false;
    }
    let dst: Buffer;
    let pos: number;
    if (this.end + size <= this.chunkSize) {
      dst = this.cur.buf;
      pos = this.end;
      this.end = enc.writeRecord(dst, pos, frame, off, caplen, len, sec, nsec, dir, comment, commentBytes);
    } else if (size <= this.chunkSize) {
      this.nextChunk();
      dst = this.cur.buf;
      this.end = enc.writeRecord(dst, 0, frame, off, caplen, len, sec, nsec, dir, comment, commentBytes);
    } else {
      // Larger than a chunk (a long comment, or a tiny bufferSize): its own buffer.
      this.queueCurrent();
      dst = Buffer.allocUnsafe(size);
      enc.writeRecord(dst, 0, frame, off, caplen, len, sec, nsec, dir, comment, commentBytes);
      this.enqueue({ buf: dst, chunk: null });
      this.pump();
    }
    this.pending += size;
    this.lastSec = sec;
    this.lastNsec = nsec;
    this.counters.frames++;
    this.counters.bytes += len;
    return true;
  }

  flush(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    this.queueCurrent();
    this.pump();
    return this.waitFor(this.queuedTotal);
  }

  close(): Promise<void> {
    if (this.closing === null) this.closing = this.doClose();
    return this.closing;
  }

  /** Live counters (updated in place). */
  get stats(): Readonly<CaptureStats> {
    return this.counters;
  }

  /** The first write error, if any: the capture has stopped. */
  get error(): Error | null {
    return this.failure;
  }

  private async doClose(): Promise<void> {
    let err: Error | null = this.failure;
    if (err === null) {
      const trailer = this.encoder.trailer(this.stats, this.lastSec, this.lastNsec);
      this.queueCurrent();
      if (trailer !== null) {
        this.enqueue({ buf: trailer, chunk: null });
        this.pending += trailer.length;
      }
      this.pump();
      try {
        await this.waitFor(this.queuedTotal);
      } catch (e) {
        err = e as Error;
      }
    }
    if (this.ownsFd) {
      await new Promise<void>((resolve) => {
        fs.close(this.fd, (e) => {
          if (e && err === null) err = e;
          resolve();
        });
      });
    }
    // Drop the buffers.
    this.free.length = 0;
    if (err !== null) throw err;
  }

  /** Queues the unqueued part of the current chunk and starts a new chunk. */
  private nextChunk(): void {
    this.queueCurrent();
    const old = this.cur;
    old.retired = true;
    if (old.refs === 0) this.release(old);
    this.cur = this.free.pop() ?? { buf: Buffer.allocUnsafe(this.chunkSize), refs: 0, retired: false };
    this.cur.retired = false;
    this.start = 0;
    this.end = 0;
  }

  /** Queues cur[start, end) and starts the write if none is in flight. */
  private queueCurrent(): void {
    if (this.end > this.start) {
      this.cur.refs++;
      this.enqueue({ buf: this.cur.buf.subarray(this.start, this.end), chunk: this.cur });
      this.start = this.end;
      this.pump();
    }
  }

  /** Adds a region to the queue; `pending` is the caller's to account. */
  private enqueue(region: Region): void {
    this.queue.push(region);
    this.queuedTotal += region.buf.length;
  }

  private release(chunk: Chunk): void {
    if (this.free.length < MAX_FREE_CHUNKS && this.closing === null) this.free.push(chunk);
  }

  private pump(): void {
    if (this.inFlight || this.queue.length === 0 || this.failure !== null) return;
    const batch = this.queue.length <= MAX_IOV ? this.queue : this.queue.slice(0, MAX_IOV);
    this.queue = this.queue.length <= MAX_IOV ? [] : this.queue.slice(MAX_IOV);
    this.inFlight = true;
    fs.writev(
      this.fd,
      batch.map((r) => r.buf),
      (err, written) => this.onWritten(batch, err, written),
    );
  }

  private onWritten(batch: Region[], err: NodeJS.ErrnoException | null, written: number): void {
    this.inFlight = false;
    if (err === null && written === 0) {
      err = Object.assign(new Error('capture: write wrote nothing'), { code: 'EIO' });
    }
    if (err !== null) {
      this.fail(err);
      return;
    }
    let left = written;
    let i = 0;
    for (; i < batch.length; i++) {
      const r = batch[i]!;
      const n = r.buf.length;
      if (n > left) {
        // A short write (a pipe, a signal): requeue the rest in front.
        if (left > 0) {
          r.buf = r.buf.subarray(left);
          this.account(left);
        }
        break;
      }
      left -= n;
      this.account(n);
      this.done(r);
    }
    if (i < batch.length) this.queue = batch.slice(i).concat(this.queue);
    this.wake();
    this.pump();
  }

  private account(n: number): void {
    this.writtenTotal += n;
    this.counters.written += n;
    this.pending -= n;
  }

  private done(r: Region): void {
    const chunk = r.chunk;
    if (chunk !== null && --chunk.refs === 0 && chunk.retired) this.release(chunk);
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.writtenTotal >= w.target) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  private waitFor(target: number): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.writtenTotal >= target) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
    });
  }

  private fail(cause: NodeJS.ErrnoException): void {
    const err = new Error(`capture: write failed: ${cause.code ?? cause.message}`, {
      cause,
    }) as NodeJS.ErrnoException;
    if (cause.code !== undefined) err.code = cause.code;
    if (cause.errno !== undefined) err.errno = cause.errno;
    err.syscall = 'write';
    this.failure = err;
    // Everything still buffered is lost: count nothing more as pending.
    this.queue = [];
    this.pending = 0;
    this.start = this.end;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }
}
