// ring.h: the descriptor ring layout shared between this addon and JS.
//
// THIS FILE MIRRORS src/nic/ringLayout.ts. Every constant below has the same
// name and value as there; if you change one side, change the other (the
// static_asserts only check this file's internal consistency, the host tests
// check that JS and native agree at run time).
//
//   offset 0                                  kCtrlBytes
//   +-------------------------------+---------------------------+
//   | producer line (64 B)          | consumer line (64 B)      |
//   |  prod  irq  fifo  lenErr ...  |  cons  ...                |
//   +-------------------------------+---------------------------+
//   | desc[0] desc[1] ... desc[N-1]  (uint32 frame length each)  |
//   +-------------------------------------------------------------+ slotsOffset (64-aligned)
//   | slot[0] (slotSize bytes) | slot[1] | ... | slot[N-1]        |
//   +-------------------------------------------------------------+
//
// Indices are free-running uint32 counters; slot = index & (N - 1).
// prod == cons: empty; prod - cons == N: full. The producer alone writes prod
// (and, on RX, fifo/lenErr), the consumer alone writes cons; both may write
// irq (the producer clears it as it raises an interrupt, JS sets it again).
//
// JS accesses the control words with Atomics.* on an Int32Array, which are
// sequentially consistent 32-bit operations on plain memory. The C++ side uses
// the __atomic builtins on the same 32-bit words (std::atomic_ref would need
// C++20); a lock-free 32-bit atomic has the same representation as the plain
// word, so the two sides interoperate.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ustack {
namespace ring {

// Int32 word indices into the control block (ringLayout.ts CTRL_*).
constexpr std::size_t kCtrlProd = 0;          // CTRL_PROD: producer index
constexpr std::size_t kCtrlIrq = 1;           // CTRL_IRQ: RX interrupt enable, 1 = enabled
constexpr std::size_t kCtrlFifoErrors = 2;    // CTRL_FIFO_ERRORS: dropped, ring full
constexpr std::size_t kCtrlLengthErrors = 3;  // CTRL_LENGTH_ERRORS: dropped, frame > slot
constexpr std::size_t kCtrlCons = 16;         // CTRL_CONS: consumer index (byte offset 64)

constexpr std::size_t kCtrlBytes = 128;     // CTRL_BYTES
constexpr std::uint32_t kMinSlots = 8;      // MIN_RING_SLOTS
constexpr std::uint32_t kMaxSlots = 4096;   // MAX_RING_SLOTS
constexpr std::uint32_t kFrameOverhead = 18;  // FRAME_OVERHEAD: Ethernet header + VLAN tag

// The producer and consumer words must sit on different cache lines so the
// two sides do not false-share; this is why cons is word 16, not word 4.
static_assert(kCtrlCons * 4 == 64, "cons must start the second cache line");
static_assert(kCtrlLengthErrors * 4 < 64, "producer words must fit the first line");
static_assert((kCtrlCons + 1) * 4 <= kCtrlBytes, "cons must fit the control block");

constexpr std::size_t Align64(std::size_t n) { return (n + 63) & ~static_cast<std::size_t>(63); }

// slotSizeFor(mtu): the largest frame for that MTU, 64-byte aligned.
constexpr std::size_t SlotSizeFor(std::uint32_t mtu) { return Align64(mtu + kFrameOverhead); }

constexpr bool IsValidRingSize(std::uint32_t n) {
  return n >= kMinSlots && n <= kMaxSlots && (n & (n - 1)) == 0;
}

// ringGeometry(slots, slotSize).
struct Geometry {
  std::uint32_t slots;
  std::size_t slotSize;
  std::size_t descOffset;
  std::size_t slotsOffset;
  std::size_t byteLength;
};

constexpr Geometry GeometryFor(std::uint32_t slots, std::size_t slotSize) {
  return Geometry{slots, slotSize, kCtrlBytes, Align64(kCtrlBytes + slots * 4u),
                  Align64(kCtrlBytes + slots * 4u) + slots * slotSize};
}

static_assert(GeometryFor(8, 1536).slotsOffset == 192, "8 slots: desc fits in one line");
static_assert(GeometryFor(256, 1536).slotsOffset == 1152, "256 slots: 128 + 1024");
static_assert(SlotSizeFor(1500) == 1536, "slotSizeFor(1500)");

// A non-owning view of one ring in memory. It only knows offsets and memory
// ordering; who is producer and who is consumer is up to the caller.
class View {
 public:
  View() = default;
  View(std::uint8_t* base, Geometry g) : base_(base), g_(g) {}

  const Geometry& geometry() const { return g_; }
  std::uint32_t mask() const { return g_.slots - 1; }

  // Control words. Acquire on loads of the other side's index makes the
  // frame bytes and descriptor it published visible; release on stores of our
  // own index publishes ours (or hands the slots back).
  std::uint32_t Load(std::size_t word, int order = __ATOMIC_ACQUIRE) const {
    return __atomic_load_n(Word(word), order);
  }
  void Store(std::size_t word, std::uint32_t v, int order = __ATOMIC_RELEASE) const {
    __atomic_store_n(Word(word), v, order);
  }
  std::uint32_t Exchange(std::size_t word, std::uint32_t v) const {
    return __atomic_exchange_n(Word(word), v, __ATOMIC_SEQ_CST);
  }
  void Increment(std::size_t word) const {
    // Relaxed: these are statistics, nothing is published through them.
    __atomic_fetch_add(Word(word), 1u, __ATOMIC_RELAXED);
  }

  // Descriptor of the slot holding index i: the frame length in bytes.
  std::uint32_t Desc(std::uint32_t i) const {
    return __atomic_load_n(DescWord(i), __ATOMIC_RELAXED);
  }
  void SetDesc(std::uint32_t i, std::uint32_t len) const {
    // Relaxed is enough: the release store of prod that follows publishes it.
    __atomic_store_n(DescWord(i), len, __ATOMIC_RELAXED);
  }

  std::uint8_t* Slot(std::uint32_t i) const {
    return base_ + g_.slotsOffset + static_cast<std::size_t>(i & mask()) * g_.slotSize;
  }

 private:
  std::uint32_t* Word(std::size_t word) const {
    return reinterpret_cast<std::uint32_t*>(base_) + word;
  }
  std::uint32_t* DescWord(std::uint32_t i) const {
    return reinterpret_cast<std::uint32_t*>(base_ + g_.descOffset) + (i & mask());
  }

  std::uint8_t* base_ = nullptr;
  Geometry g_{};
};

}  // namespace ring
}  // namespace ustack
