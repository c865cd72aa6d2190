// sendBuffer: the bytes of a connection from SND.UNA onward — sent but not
// yet acknowledged, then not yet sent — as a list of chunks. A write copies
// the application's data in (copy 1 of the seeds' send path); segments copy
// out of it by offset, so retransmission needs no second copy of the data;
// an ACK drops bytes from the front.
//
//   una                                  nxt                     una+length
//   |<-------- in flight (unacked) ------>|<------- unsent -------->|

export class SendBuffer {
  private chunks: Uint8Array[] = [];
  /** Offset of the first live byte in chunks[0]. */
  private headOff = 0;
  length = 0;

  append(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.length += data.length;
  }

  /** Copies `len` bytes starting `offset` bytes after SND.UNA into dst[at]. */
  copyOut(offset: number, len: number, dst: Uint8Array, at: number): void {
    let i = 0;
    let skip = offset + this.headOff;
    while (i < this.chunks.length && skip >= this.chunks[i]!.length) {
      skip -= this.chunks[i]!.length;
      i++;
    }
    while (len > 0 && i < this.chunks.length) {
      const c = this.chunks[i]!;
      const n = Math.min(len, c.length - skip);
      dst.set(c.subarray(skip, skip + n), at);
      at += n;
      len -= n;
      skip = 0;
      i++;
    }
  }

  /** Drops `n` acknowledged bytes from the front. */
  consume(n: number): void {
    n = Math.min(n, this.length);
    this.length -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      const left = c.length - this.headOff;
      if (n < left) {
        this.headOff += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.headOff = 0;
    }
  }

  clear(): void {
    this.chunks = [];
    this.headOff = 0;
    this.length = 0;
  }
}
