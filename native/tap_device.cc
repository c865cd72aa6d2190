// tap_device.cc: opening a TAP (optionally in another network namespace), the
// RX thread, and the TX kick. See tap_device.h for the shape, ring.h for the
// memory layout, and docs/native.md for the protocol with the JS driver.
#include "tap_device.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <system_error>

namespace ustack {
namespace {

// Largest frame a TAP without IFF_VNET_HDR can hand us: the TAP's maximum
// MTU (65521) plus Ethernet and VLAN headers, rounded up. Without a vnet
// header the kernel never gives a TAP GSO super-frames.
constexpr std::size_t kScratchBytes = 65536 + 64;

const char* kNeedNetAdmin = "Opening the TAP device needs CAP_NET_ADMIN: run as root (sudo)";

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* name = strerrorname_np(err)) return name;
#endif
  return "E" + std::to_string(err);
}

// A system call failed in a way we have no better advice for: say what we were
// doing and what the kernel said, with the errno name as the code.
[[noreturn]] void SysFail(int err, const char* syscall, const std::string& what) {
  throw TapError(ErrnoName(err), what + ": " + std::strerror(err), syscall);
}

[[noreturn]] void NeedNetAdmin(const char* syscall) { throw TapError("EPERM", kNeedNetAdmin, syscall); }

bool IsPermissionError(int err) { return err == EPERM || err == EACCES; }

// Moves the calling thread into a network namespace for the guard's lifetime.
//
// setns() switches only the calling thread (here: the JS main thread, which
// is blocked in open() meanwhile, so no JS runs in the foreign namespace).
// Sockets and tun fds remember the namespace they were created in, so the TAP
// and the configuration socket made inside stay there after we switch back.
class NetnsGuard {
 public:
  explicit NetnsGuard(const std::string& netns) {
    const bool isPath = netns[0] == '/';
    const std::string path = isPath ? netns : "/var/run/netns/" + netns;  // where `ip netns add` mounts them

    Fd target(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!target) {
      const int err = errno;
      if (err == ENOENT) {
        throw TapError("ENOENT",
                       isPath ? "network namespace file '" + netns + "' does not exist"
                              : "network namespace '" + netns +
                                    "' does not exist (create it with: ip netns add " + netns + ")",
                       "open");
      }
      if (IsPermissionError(err)) {
        throw TapError("EPERM", "Opening network namespace '" + netns + "' needs root: run as root (sudo)",
                       "open");
      }
      SysFail(err, "open", "opening network namespace '" + netns + "' (" + path + ") failed");
    }

    // Remember where we are so we can come back: thread-self, not self, since
    // only this thread moves.
    saved_ = Fd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!saved_) SysFail(errno, "open", "saving the current network namespace failed");

    if (setns(target.get(), CLONE_NEWNET) != 0) {
      const int err = errno;
      if (err == EINVAL) throw TapError("EINVAL", "'" + netns + "' is not a network namespace", "setns");
      if (IsPermissionError(err)) {
        throw TapError("EPERM",
                       "Entering network namespace '" + netns + "' needs CAP_SYS_ADMIN: run as root (sudo)",
                       "setns");
      }
      SysFail(err, "setns", "entering network namespace '" + netns + "' failed");
    }
    entered_ = true;
  }

  ~NetnsGuard() {
    if (entered_ && setns(saved_.get(), CLONE_NEWNET) != 0) {
      // We hold an fd to the namespace we came from and were just allowed to
      // setns, so this does not happen. If it did, Node's main thread would
      // silently live on in the wrong namespace; crashing loudly is better.
      std::fprintf(stderr, "ustack_tap: FATAL: cannot return to the original network namespace: %s\n",
                   std::strerror(errno));
      std::abort();
    }
  }

  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

 private:
  Fd saved_;
  bool entered_ = false;
};

void CopyName(ifreq* ifr, const std::string& name) {
  // The binding checked name.size() < IFNAMSIZ; ifr is zeroed, so the name
  // stays NUL-terminated.
  std::memcpy(ifr->ifr_name, name.data(), name.size());
}

// Creates the TAP in the calling thread's network namespace. Returns the fd
// and the actual name (the kernel expands templates such as "tap%d").
Fd OpenTap(const std::string& name, std::string* actualName) {
  // Non-blocking so the RX thread can drain with read() until EAGAIN and the
  // TX kick never stalls the JS thread; CLOEXEC so child processes do not
  // keep the interface alive.
  Fd tun(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!tun) {
    const int err = errno;
    if (err == ENOENT) {
      throw TapError("ENOENT", "no /dev/net/tun: load the tun module (modprobe tun) or run where TUN/TAP is available",
                     "open");
    }
    if (err == ENODEV || err == ENXIO) {
      throw TapError("ENODEV",
                     "/dev/net/tun exists but has no driver: load the tun module (modprobe tun) or run where "
                     "TUN/TAP is available",
                     "open");
    }
    if (IsPermissionError(err)) NeedNetAdmin("open");
    SysFail(err, "open", "opening /dev/net/tun failed");
  }

  ifreq ifr{};
  CopyName(&ifr, name);
  // IFF_TAP: Ethernet frames. IFF_NO_PI: no 4-byte packet-info prefix, so a
  // read() is exactly one frame and lands at offset 0 of the slot. No
  // IFF_VNET_HDR: we want plain frames, no offload metadata.
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(tun.get(), TUNSETIFF, &ifr) != 0) {
    const int err = errno;
    if (IsPermissionError(err)) NeedNetAdmin("ioctl");
    // EBUSY: a TAP of that name already has a reader. EINVAL (the name itself
    // was validated): the name belongs to a device that is not a TAP of ours.
    if (err == EBUSY || err == EEXIST || err == EINVAL) {
      throw TapError("EBUSY", "interface name '" + name + "' is in use", "ioctl");
    }
    SysFail(err, "ioctl", "creating TAP interface '" + name + "' (TUNSETIFF) failed");
  }
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  *actualName = ifr.ifr_name;
  return tun;
}

// Sets the MTU, brings the interface up and reads its MAC, with ioctls on a
// socket made in the current (possibly foreign) network namespace: interface
// names are looked up in the namespace of the socket.
void ConfigureInterface(const std::string& name, std::uint32_t mtu, std::string* hostMac) {
  Fd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) SysFail(errno, "socket", "creating a socket to configure '" + name + "' failed");

  ifreq ifr{};
  CopyName(&ifr, name);
  ifr.ifr_mtu = static_cast<int>(mtu);
  if (ioctl(sock.get(), SIOCSIFMTU, &ifr) != 0) {
    const int err = errno;
    if (IsPermissionError(err)) NeedNetAdmin("ioctl");
    SysFail(err, "ioctl", "setting MTU " + std::to_string(mtu) + " on '" + name + "' failed");
  }

  ifr = ifreq{};
  CopyName(&ifr, name);
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) SysFail(errno, "ioctl", "reading the flags of '" + name + "' failed");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) {
    const int err = errno;
    if (IsPermissionError(err)) NeedNetAdmin("ioctl");
    SysFail(err, "ioctl", "bringing '" + name + "' up failed");
  }

  ifr = ifreq{};
  CopyName(&ifr, name);
  if (ioctl(sock.get(), SIOCGIFHWADDR, &ifr) != 0) SysFail(errno, "ioctl", "reading the MAC of '" + name + "' failed");
  const auto* mac = reinterpret_cast<const unsigned char*>(ifr.ifr_hwaddr.sa_data);
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  *hostMac = text;
}

}  // namespace

// ---------------------------------------------------------------------------

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    Reset();
    fd_ = o.Release();
  }
  return *this;
}

void Fd::Reset() {
  // No EINTR retry: on Linux the fd is released even when close() reports
  // EINTR, and retrying could close an fd another thread just opened.
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

RingMemory::RingMemory(ring::Geometry g) : g_(g) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, g.byteLength) != 0) {
    throw TapError("ENOMEM", "allocating a " + std::to_string(g.byteLength) + "-byte ring failed");
  }
  std::memset(p, 0, g.byteLength);
  data_ = static_cast<std::uint8_t*>(p);
}

RingMemory::~RingMemory() { std::free(data_); }

// ---------------------------------------------------------------------------

std::unique_ptr<TapDevice> TapDevice::Open(const TapConfig& cfg) {
  std::unique_ptr<TapDevice> dev(new TapDevice());

  // Memory first: it needs no cleanup beyond the destructor and cannot leave
  // an interface behind if it fails.
  dev->rx_ = std::make_shared<RingMemory>(ring::GeometryFor(cfg.rxSlots, cfg.slotSize));
  dev->tx_ = std::make_shared<RingMemory>(ring::GeometryFor(cfg.txSlots, cfg.slotSize));
  dev->scratch_.resize(kScratchBytes);
  // The NIC comes out of reset with its RX interrupt enabled. Nobody else
  // sees the memory yet, so relaxed is enough.
  dev->rx_->view().Store(ring::kCtrlIrq, 1, __ATOMIC_RELAXED);

  {
    std::optional<NetnsGuard> inNetns;
    if (!cfg.netns.empty()) inNetns.emplace(cfg.netns);
    dev->tun_ = OpenTap(cfg.name, &dev->name_);
    ConfigureInterface(dev->name_, cfg.mtu, &dev->hostMac_);
  }  // Back in our own namespace here, on success and on every throw.

  dev->wake_ = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!dev->wake_) SysFail(errno, "eventfd", "creating the RX thread's wake-up eventfd failed");
  dev->txWake_ = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!dev->txWake_) SysFail(errno, "eventfd", "creating the TX doorbell eventfd failed");
  return dev;
}

TapDevice::~TapDevice() { Close(); }

void TapDevice::Start(RaiseIrq raise) {
  raise_ = std::move(raise);
  // Start the thread with every signal blocked (it inherits our mask), so
  // process-directed signals such as SIGINT are delivered to Node's threads,
  // which have handlers for them, and never interrupt the RX loop.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    rxThread_ = std::thread(&TapDevice::RxLoop, this);
    txThread_ = std::thread(&TapDevice::TxLoop, this);
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw TapError("EAGAIN", std::string("starting the RX/TX threads failed: ") + e.what(), "pthread_create");
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void TapDevice::Close() {
  if (closed_) return;
  closed_ = true;
  if (rxThread_.joinable() || txThread_.joinable()) {
    // Wake both threads out of poll(): neither reads wake_, so one write makes
    // it readable for both. An eventfd write only fails on counter overflow,
    // which one write per device cannot cause.
    const std::uint64_t one = 1;
    while (::write(wake_.get(), &one, sizeof one) < 0 && errno == EINTR) {
    }
    if (rxThread_.joinable()) rxThread_.join();
    if (txThread_.joinable()) txThread_.join();
  }
  // Only after the joins: the threads may be inside read()/write() on tun_.
  tun_.Reset();
  wake_.Reset();
  txWake_.Reset();
  raise_ = nullptr;
}

// The RX thread: the NIC's receive engine. It sleeps in poll() until the
// kernel queues a frame on the TAP (or Close() signals the eventfd), then
// drains the TAP into the ring.
void TapDevice::RxLoop() {
  pthread_setname_np(pthread_self(), "ustack-rx");  // visible in top -H, gdb
  const ring::View r = rx_->view();
  pollfd fds[2] = {{tun_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR || errno == ENOMEM) continue;  // transient
      return;  // EFAULT/EINVAL: a bug; stop receiving rather than spin
    }
    if (fds[1].revents != 0) return;  // Close()
    if (fds[0].revents & POLLIN) {
      if (!Drain(r)) fds[0].fd = -1;
    } else if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      // The interface went away under us (e.g. `ip link del`). A negative fd
      // makes poll() ignore it; we wait for Close() instead of spinning.
      fds[0].fd = -1;
    }
  }
}

// Reads frames until the TAP queue is empty. Returns false if the TAP is
// unusable (the interface was deleted), true otherwise.
bool TapDevice::Drain(const ring::View& r) {
  const ring::Geometry& g = r.geometry();
  for (;;) {
    // We are the only writer of prod, so a relaxed load of it is exact. cons
    // is acquired: once we see a slot handed back, JS is done reading it and
    // we may overwrite it.
    const std::uint32_t prod = r.Load(ring::kCtrlProd, __ATOMIC_RELAXED);
    const std::uint32_t cons = r.Load(ring::kCtrlCons, __ATOMIC_ACQUIRE);
    // Unsigned arithmetic handles wrap-around; a corrupt cons from JS reads as
    // "full", which drops frames but never overwrites a slot JS still owns.
    const bool full = prod - cons >= g.slots;

    // The "DMA": read() straight into the next free slot. Anything past the
    // slot spills into scratch, so the return value is the true frame length
    // and a frame of exactly slotSize bytes is not mistaken for a truncated one.
    iovec iov[2];
    int iovcnt;
    if (full) {
      iov[0] = {scratch_.data(), scratch_.size()};  // no descriptor: read to drop
      iovcnt = 1;
    } else {
      iov[0] = {r.Slot(prod), g.slotSize};
      iov[1] = {scratch_.data(), scratch_.size()};
      iovcnt = 2;
    }
    const ssize_t n = readv(tun_.get(), iov, iovcnt);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;  // EAGAIN: drained
    }
    if (n == 0) return true;  // a TAP does not do this; do not spin if it did

    if (full) {
      // rx_fifo_errors: the NIC had no descriptor for this frame.
      r.Increment(ring::kCtrlFifoErrors);
      rxFifoErrors_.Add(1);
      continue;
    }
    if (static_cast<std::size_t>(n) > g.slotSize) {
      // rx_length_errors: the frame did not fit the slot. Not published.
      r.Increment(ring::kCtrlLengthErrors);
      rxLengthErrors_.Add(1);
      continue;
    }
    r.SetDesc(prod, static_cast<std::uint32_t>(n));
    // Release: the frame bytes and descriptor become visible before prod does.
    r.Store(ring::kCtrlProd, prod + 1, __ATOMIC_RELEASE);
    rxFrames_.Add(1);
    rxBytes_.Add(static_cast<std::uint64_t>(n));
    MaybeRaiseIrq(r);
  }
}

// The interrupt, masked as it fires: swap the enable word to 0 and interrupt
// only if it was 1. JS re-enables (stores 1) when its poll ends under budget,
// then re-checks prod. Checked after every frame, so a driver that
// re-enables in the middle of a burst is interrupted again promptly.
void TapDevice::MaybeRaiseIrq(const ring::View& r) {
  // This is a store-then-load handshake (Dekker): we store prod then read
  // irq; JS stores irq = 1 then reads prod. The full fence keeps our prod
  // store ahead of our irq read, so at least one side sees the other's write:
  // either we see irq == 1 and interrupt, or JS sees the new frame and polls
  // on. Without it a frame could sit in the ring with interrupts enabled.
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (r.Exchange(ring::kCtrlIrq, 0) == 1) {
    irqs_.Add(1);
    raise_(kIrqRx);
  }
}

void TapDevice::TxKick() {
  if (closed_) throw TapError("ERR_TAP_CLOSED", "txKick() on a closed TAP device");
  const ring::View t = tx_->view();
  const ring::Geometry& g = t.geometry();
  // A sanity check of what JS published, on the JS thread so a bug surfaces
  // as an exception where it was made. cons may be moving (the TX thread owns
  // it); any value it passes through keeps prod - cons within the ring.
  const std::uint32_t cons = t.Load(ring::kCtrlCons, __ATOMIC_ACQUIRE);
  const std::uint32_t prod = t.Load(ring::kCtrlProd, __ATOMIC_ACQUIRE);
  if (prod - cons > g.slots) {
    throw TapError("ERR_TAP_RING", "TX ring indices are inconsistent: prod " + std::to_string(prod) + " is " +
                                       std::to_string(prod - cons) + " ahead of cons " + std::to_string(cons) +
                                       " in a ring of " + std::to_string(g.slots) + " slots");
  }
  // The doorbell: an eventfd counter, so kicks that come faster than the TX
  // thread wakes merge into one wake-up.
  const std::uint64_t one = 1;
  while (::write(txWake_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
}

// The TX thread: the NIC's transmit engine. It sleeps until the doorbell
// rings (or, after EAGAIN, until the TAP can take frames again), writes
// everything JS has published, completes the descriptors, and interrupts JS
// if it asked to hear of completions (the TX ring's irq word).
void TapDevice::TxLoop() {
  pthread_setname_np(pthread_self(), "ustack-tx");
  const ring::View t = tx_->view();
  bool blocked = false;  // the last write met EAGAIN: also wait for POLLOUT
  for (;;) {
    pollfd fds[3] = {{txWake_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}, {blocked ? tun_.get() : -1, POLLOUT, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR || errno == ENOMEM) continue;
      return;
    }
    if (fds[1].revents != 0) return;  // Close()
    if (fds[0].revents & POLLIN) {
      // Read (reset) the doorbell before draining: a kick after this read
      // rings it again, so no published frame waits for a wake-up that
      // already happened.
      std::uint64_t n;
      while (::read(txWake_.get(), &n, sizeof n) < 0 && errno == EINTR) {
      }
    }
    if (fds[2].revents & (POLLERR | POLLHUP | POLLNVAL)) blocked = false;  // gone: stop waiting on it
    blocked = !TxDrain(t);
  }
}

bool TapDevice::TxDrain(const ring::View& t) {
  const ring::Geometry& g = t.geometry();
  // On TX we are the consumer: cons is ours (relaxed is exact), prod is JS's
  // (acquire, so the frames and descriptors it published are visible).
  std::uint32_t cons = t.Load(ring::kCtrlCons, __ATOMIC_RELAXED);
  const std::uint32_t start = cons;
  bool ok = true;
  for (;;) {
    const std::uint32_t prod = t.Load(ring::kCtrlProd, __ATOMIC_ACQUIRE);
    if (cons == prod || prod - cons > g.slots) break;
    const std::uint32_t len = t.Desc(cons);
    if (len == 0 || len > g.slotSize) {
      txErrors_.Add(1);  // a malformed descriptor: drop it, as a NIC would
      ++cons;
      continue;
    }
    // One write() is one frame on a TAP. It succeeds whole or fails whole.
    const ssize_t n = ::write(tun_.get(), t.Slot(cons), len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        txBusy_.Add(1);  // wait for POLLOUT, then go on from this frame
        ok = false;
        break;
      }
      txErrors_.Add(1);  // e.g. EIO when the interface is down: consume it
    } else {
      txFrames_.Add(1);
      txBytes_.Add(len);
    }
    ++cons;
    // Release: JS may reuse the slot once it sees cons move past it.
    t.Store(ring::kCtrlCons, cons, __ATOMIC_RELEASE);
  }
  t.Store(ring::kCtrlCons, cons, __ATOMIC_RELEASE);
  // Nothing completed (the first write met EAGAIN): no interrupt, and the irq
  // word stays armed. Raising anyway would have JS find the ring as full as
  // before, re-arm and ring the doorbell, and the two threads would spin for
  // as long as the TAP refuses writes.
  if (cons == start) return ok;
  // TX completion interrupt, masked as it fires, with the same store-then-load
  // handshake as RX: JS stores irq = 1 then re-reads cons; we store cons then
  // read irq. The fence guarantees one of us sees the other.
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (t.Exchange(ring::kCtrlIrq, 0) == 1) raise_(kIrqTx);
  return ok;
}

TapStats TapDevice::Stats() const {
  return TapStats{rxFrames_.Get(),  rxBytes_.Get(), rxFifoErrors_.Get(), rxLengthErrors_.Get(),
                  irqs_.Get(),      txFrames_.Get(), txBytes_.Get(),     txErrors_.Get(),
                  txBusy_.Get()};
}

}  // namespace ustack
