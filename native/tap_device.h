// tap_device.h: a Linux TAP interface driven as a NIC with two descriptor rings.
//
// This half of the addon knows nothing about JavaScript: it opens and
// configures the TAP, runs the RX thread that "DMAs" frames into the RX ring,
// and the TX thread that writes frames from the TX ring when the doorbell rings. tap.cc wraps it for Node-API.
// Keeping the split means the threading and syscall code can be read (and
// reasoned about) without the binding noise around it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ring.h"

namespace ustack {

// A failure the user can act on. `code` becomes the JS error's .code (an errno
// name such as "EPERM", or an "ERR_TAP_*" code); `syscall` names the failing
// call when there is one.
class TapError : public std::runtime_error {
 public:
  TapError(std::string errCode, const std::string& message, std::string sysCall = {})
      : std::runtime_error(message), code(std::move(errCode)), syscall(std::move(sysCall)) {}
  std::string code;
  std::string syscall;
};

// An owned file descriptor: closing on every path (including exceptions) is
// what makes a half-configured TAP disappear when open() fails midway.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.Release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// The memory of one ring: 64-byte aligned (so the control lines and slots are
// cache-line aligned, like DMA memory) and zeroed (indices start at 0).
// Shared between the device, whose RX thread writes into it, and the JS
// ArrayBuffer over it, which may outlive close(): whoever lets go last frees.
class RingMemory {
 public:
  explicit RingMemory(ring::Geometry g);  // throws TapError("ENOMEM")
  ~RingMemory();
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;

  std::uint8_t* data() const { return data_; }
  std::size_t size() const { return g_.byteLength; }
  ring::View view() const { return ring::View(data_, g_); }

 private:
  ring::Geometry g_;
  std::uint8_t* data_ = nullptr;
};

// What to open. The binding validates every field before calling Open().
struct TapConfig {
  std::string name;   // interface name or template ("tap%d"), < IFNAMSIZ bytes
  std::string netns;  // "" = current namespace; a name under /var/run/netns; or an absolute path
  std::uint32_t mtu = 1500;
  std::uint32_t rxSlots = ring::kMinSlots;
  std::uint32_t txSlots = ring::kMinSlots;
  std::size_t slotSize = ring::SlotSizeFor(1500);
};

struct TapStats {
  std::uint64_t rxFrames, rxBytes, rxFifoErrors, rxLengthErrors, irqs;
  std::uint64_t txFrames, txBytes, txErrors, txBusy;
};

class TapDevice {
 public:
  // The interrupt line, called on the RX or TX thread: kIrqRx when a frame
  // arrived with RX interrupts enabled, kIrqTx when a TX drain completed at
  // least one descriptor while JS waited for room (TX ring irq word set).
  // Must not block.
  static constexpr int kIrqRx = 0;
  static constexpr int kIrqTx = 1;
  using RaiseIrq = std::function<void(int kind)>;

  // Creates the TAP (inside cfg.netns when set), sets its MTU, brings it up,
  // reads its MAC, and allocates both rings. Does not start the threads.
  // Throws TapError; on failure nothing is left behind.
  static std::unique_ptr<TapDevice> Open(const TapConfig& cfg);

  ~TapDevice();  // Close()s
  TapDevice(const TapDevice&) = delete;
  TapDevice& operator=(const TapDevice&) = delete;

  // Starts the RX and TX threads. Call once, after whoever receives IRQs is ready.
  void Start(RaiseIrq raise);

  // The TX doorbell: wakes the TX thread, which writes frames tx[cons..prod)
  // to the TAP and advances cons. One eventfd write per batch, whatever its
  // size. Throws TapError ERR_TAP_CLOSED after Close().
  void TxKick();

  TapStats Stats() const;

  // Stops and joins the RX and TX threads, closes the fds. Idempotent. Ring memory
  // stays valid for as long as anyone holds the shared_ptrs.
  void Close();
  bool closed() const { return closed_; }

  const std::string& name() const { return name_; }
  const std::string& hostMac() const { return hostMac_; }
  const std::shared_ptr<RingMemory>& rxMemory() const { return rx_; }
  const std::shared_ptr<RingMemory>& txMemory() const { return tx_; }

 private:
  TapDevice() = default;
  void RxLoop();
  bool Drain(const ring::View& r);
  void MaybeRaiseIrq(const ring::View& r);
  void TxLoop();
  // Writes what JS has published; false if the TAP refused with EAGAIN.
  bool TxDrain(const ring::View& t);

  std::string name_;
  std::string hostMac_;
  Fd tun_;
  Fd wake_;    // eventfd: Close() writes it to get both threads out of poll()
  Fd txWake_;  // eventfd: the TX doorbell (TxKick writes, the TX thread reads)
  std::shared_ptr<RingMemory> rx_;
  std::shared_ptr<RingMemory> tx_;
  std::thread rxThread_;
  std::thread txThread_;
  RaiseIrq raise_;
  bool closed_ = false;  // touched by the owning (JS) thread only

  // Where a frame goes when it cannot go into a slot: dropped because the
  // ring is full, or the part of an over-long frame past the slot. RX thread
  // only. Big enough for any frame a TAP can produce (64 KiB + headers).
  std::vector<std::uint8_t> scratch_;

  // Counters. Each has a single writer (RX thread or owning thread), so the
  // writer bumps with a relaxed load+store instead of a locked add; readers
  // on other threads get a consistent (if slightly stale) value.
  struct Counter {
    std::atomic<std::uint64_t> v{0};
    void Add(std::uint64_t n) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    std::uint64_t Get() const { return v.load(std::memory_order_relaxed); }
  };
  Counter rxFrames_, rxBytes_, rxFifoErrors_, rxLengthErrors_, irqs_;
  Counter txFrames_, txBytes_, txErrors_, txBusy_;
};

}  // namespace ustack
