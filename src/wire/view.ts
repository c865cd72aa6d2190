// view: what every header view shares — a window buf[off, off+len) over
// bytes it does not own. `wrap` re-targets the window, so a layer keeps one
// view object and allocates nothing per packet (smoltcp's `Packet<T>`).

const EMPTY = new Uint8Array(0);

export class WireView {
  buf: Uint8Array = EMPTY;
  off = 0;
  /** Bytes available to the view: never past the end of `buf`. */
  len = 0;

  /** Points the view at buf[off, off+len); len is clamped to the buffer. */
  wrap(buf: Uint8Array, off = 0, len = buf.length - off): this {
    const avail = buf.length - off;
    this.buf = buf;
    this.off = off;
    this.len = len > avail ? (avail > 0 ? avail : 0) : len < 0 ? 0 : len;
    return this;
  }
}
