// ringLayout: the byte layout of one descriptor ring in memory shared by a
// producer and a consumer. The native TAP addon (native/ring.h mirrors these
// numbers) and the memory link both build rings with this layout, so the same
// JS code (RxRing, TxRing in ring.ts) drives a real TAP and a test cable.
//
//   offset 0                                  CTRL_BYTES
//   +-------------------------------+---------------------------+
//   | producer line (64 B)          | consumer line (64 B)      |
//   |  prod  irq  fifo  lenErr ...  |  cons  ...                |
//   +-------------------------------+---------------------------+
//   | desc[0] desc[1] ... desc[N-1]  (uint32 frame length each)  |
//   +-------------------------------------------------------------+ slotsOffset (64-aligned)
//   | slot[0] (slotSize bytes) | slot[1] | ... | slot[N-1]        |
//   +-------------------------------------------------------------+
//
// Indices are free-running uint32 counters (they wrap at 2^32); a slot is
// index & (N - 1), N a power of two. prod === cons means empty,
// prod - cons === N means full. Only the producer writes prod, only the
// consumer writes cons, so each index lives on its own cache line: this is the
// single-producer/single-consumer ring of a NIC and its driver.
//
// irq (RX only) is the interrupt mask: 1 = enabled. The producer, after
// publishing a frame, atomically swaps it to 0 and raises an interrupt only if
// it was 1 — the NIC masks its own IRQ as it fires, and NAPI unmasks it when a
// poll ends under budget (napiComplete).

/** Int32 word indices into the control block. */
export const CTRL_PROD = 0; // producer index (written by producer)
export const CTRL_IRQ = 1; // RX: 1 = interrupt enabled
export const CTRL_FIFO_ERRORS = 2; // frames dropped because the ring was full (rx_fifo_errors)
export const CTRL_LENGTH_ERRORS = 3; // frames longer than a slot (rx_length_errors)
export const CTRL_CONS = 16; // consumer index (written by consumer), byte offset 64

export const CTRL_BYTES = 128;
export const MIN_RING_SLOTS = 8;
export const MAX_RING_SLOTS = 4096; // like `ethtool -G` maximums on common NICs
export const DEFAULT_RING_SLOTS = 256;

/** Ethernet header (14) + one VLAN tag (4): what a frame needs beyond the MTU. */
export const FRAME_OVERHEAD = 18;

export function align64(n: number): number {
  return (n + 63) & ~63;
}

export interface RingGeometry {
  slots: number;
  slotSize: number;
  descOffset: number;
  slotsOffset: number;
  byteLength: number;
}

/** The size of each slot for a device MTU: the largest frame, 64-byte aligned. */
export function slotSizeFor(mtu: number): number {
  return align64(mtu + FRAME_OVERHEAD);
}

export function ringGeometry(slots: number, slotSize: number): RingGeometry {
  const descOffset = CTRL_BYTES;
  const slotsOffset = align64(descOffset + slots * 4);
  return { slots, slotSize, descOffset, slotsOffset, byteLength: slotsOffset + slots * slotSize };
}

export function isValidRingSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_RING_SLOTS && n <= MAX_RING_SLOTS && (n & (n - 1)) === 0;
}
