// tap.cc: the Node-API face of the TAP NIC (module `ustack_tap`).
//
//   open(options) -> TapDevice { name, rx, tx, hostMac, txKick(), stats(), close() }
//   layout        -> the ring constants compiled into this addon (ring.h), so
//                    JS can check they match src/nic/ringLayout.ts
//
// Everything about sockets, threads and rings lives in tap_device.cc; this file
// validates options, turns TapError into JS errors with a .code, exposes the
// rings as external ArrayBuffers, and connects the RX and TX interrupts to a
// JS callback through a ThreadSafeFunction. Typed in src/nic/tapAddon.ts.
#include <napi.h>
#include <net/if.h>

#include <cmath>
#include <memory>
#include <string>

#include "ring.h"
#include "tap_device.h"

namespace {

using ustack::TapConfig;
using ustack::TapDevice;
using ustack::TapError;

// ---- errors ----------------------------------------------------------------

Napi::Error ToJsError(Napi::Env env, const TapError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, e.code));
  if (!e.syscall.empty()) err.Set("syscall", Napi::String::New(env, e.syscall));
  return err;
}

// Invalid options: TypeError for the wrong kind of value, RangeError for a
// value out of range; both carry code EINVAL like the kernel would.
[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& msg, bool typeError) {
  Napi::Error err = typeError ? static_cast<Napi::Error>(Napi::TypeError::New(env, msg))
                              : static_cast<Napi::Error>(Napi::RangeError::New(env, msg));
  err.Set("code", Napi::String::New(env, "EINVAL"));
  throw err;
}

// ---- option validation (all before any system call) -----------------------

std::string GetString(Napi::Object o, const char* key, bool optional, bool* present) {
  Napi::Value v = o.Get(key);
  *present = !v.IsUndefined();
  if (!*present && optional) return {};
  if (!v.IsString()) ThrowInvalid(o.Env(), std::string("open(): options.") + key + " must be a string", true);
  return v.As<Napi::String>().Utf8Value();
}

std::uint32_t GetInteger(Napi::Object o, const char* key, double min, double max, const char* range) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) ThrowInvalid(o.Env(), std::string("open(): options.") + key + " must be a number", true);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < min || d > max) {
    ThrowInvalid(o.Env(),
                 std::string("open(): options.") + key + " must be " + range + ", got " +
                     v.ToString().Utf8Value(),
                 false);
  }
  return static_cast<std::uint32_t>(d);
}

// The kernel's dev_valid_name(): 1..IFNAMSIZ-1 bytes, not "." or "..", no
// '/', ':' or whitespace. Checked here so the user gets EINVAL with a reason
// instead of whatever TUNSETIFF makes of it.
void ValidateIfName(Napi::Env env, const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    ThrowInvalid(env,
                 "open(): options.name '" + name + "' must be 1 to " + std::to_string(IFNAMSIZ - 1) +
                     " bytes long (IFNAMSIZ)",
                 false);
  }
  if (name == "." || name == "..") ThrowInvalid(env, "open(): options.name cannot be '" + name + "'", false);
  for (unsigned char c : name) {
    if (c == '/' || c == ':' || c <= ' ' || c == 0x7f) {
      ThrowInvalid(env,
                   "open(): options.name '" + name + "' contains a character not allowed in an interface name "
                   "('/', ':', whitespace or a control character)",
                   false);
    }
  }
}

// A name resolves under /var/run/netns (like `ip netns`); an absolute path is
// used as is (e.g. /proc/<pid>/ns/net). Anything else with a '/' is ambiguous.
void ValidateNetns(Napi::Env env, const std::string& netns) {
  if (netns.empty()) ThrowInvalid(env, "open(): options.netns must not be empty (omit it for the current namespace)", false);
  if (netns.find('\0') != std::string::npos) ThrowInvalid(env, "open(): options.netns contains a NUL byte", false);
  if (netns[0] == '/') {
    if (netns.size() >= 4096) ThrowInvalid(env, "open(): options.netns path is too long", false);
    return;
  }
  if (netns.find('/') != std::string::npos || netns == "." || netns == ".." || netns.size() > 255) {
    ThrowInvalid(env,
                 "open(): options.netns '" + netns +
                     "' must be a namespace name (as in `ip netns list`) or an absolute path",
                 false);
  }
}

void CheckRingSize(Napi::Env env, const char* key, std::uint32_t n) {
  if (!ustack::ring::IsValidRingSize(n)) {
    ThrowInvalid(env,
                 std::string("open(): options.") + key + " must be a power of two from " +
                     std::to_string(ustack::ring::kMinSlots) + " to " + std::to_string(ustack::ring::kMaxSlots) +
                     ", got " + std::to_string(n),
                 false);
  }
}

constexpr double kMinMtu = 68;      // IPv4's minimum, and the kernel's for a TAP
constexpr double kMaxMtu = 65521;   // 65535 - Ethernet header: a TAP's max_mtu

TapConfig ParseOptions(const Napi::CallbackInfo& info, Napi::Function* onIrq) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) ThrowInvalid(env, "open(options): options must be an object", true);
  Napi::Object o = info[0].As<Napi::Object>();
  TapConfig cfg;
  bool present = false;

  cfg.name = GetString(o, "name", false, &present);
  ValidateIfName(env, cfg.name);
  cfg.netns = GetString(o, "netns", true, &present);
  if (present) ValidateNetns(env, cfg.netns);

  cfg.mtu = GetInteger(o, "mtu", kMinMtu, kMaxMtu, "an integer from 68 to 65521");
  cfg.rxSlots = GetInteger(o, "rxSlots", 0, 1 << 30, "a power of two from 8 to 4096");
  CheckRingSize(env, "rxSlots", cfg.rxSlots);
  cfg.txSlots = GetInteger(o, "txSlots", 0, 1 << 30, "a power of two from 8 to 4096");
  CheckRingSize(env, "txSlots", cfg.txSlots);

  // Any multiple of 64 up to the largest frame a TAP can carry. It is not
  // tied to the MTU: a slot smaller than slotSizeFor(mtu) is legal and simply
  // counts longer frames as rx_length_errors (the tests use that).
  const double maxSlot = static_cast<double>(ustack::ring::SlotSizeFor(static_cast<std::uint32_t>(kMaxMtu)));
  cfg.slotSize = GetInteger(o, "slotSize", 64, maxSlot, "an integer from 64 to 65600");
  if (cfg.slotSize % 64 != 0) {
    ThrowInvalid(env, "open(): options.slotSize must be a multiple of 64, got " + std::to_string(cfg.slotSize),
                 false);
  }

  Napi::Value irq = o.Get("onIrq");
  if (!irq.IsFunction()) ThrowInvalid(env, "open(): options.onIrq must be a function", true);
  *onIrq = irq.As<Napi::Function>();
  return cfg;
}

// ---- rings as ArrayBuffers -------------------------------------------------

// An external ArrayBuffer over the ring. It holds its own reference to the
// memory, so the buffer stays valid after close() and after the device is
// collected; the memory is freed when the last of the two lets go.
Napi::ArrayBuffer ExposeRing(Napi::Env env, const std::shared_ptr<ustack::RingMemory>& mem) {
  auto keep = std::make_unique<std::shared_ptr<ustack::RingMemory>>(mem);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, mem->data(), mem->size(),
      [](Napi::BasicEnv, void*, std::shared_ptr<ustack::RingMemory>* hint) { delete hint; }, keep.get());
  keep.release();  // now owned by the ArrayBuffer's finalizer
  return ab;
}

// ---- the device object -----------------------------------------------------

// Lives as long as the ThreadSafeFunction might; tells the device whether the
// TSFN has already been destroyed (e.g. by environment teardown), in which
// case it must not be released again.
struct IrqLine {
  bool finalized = false;  // main thread only
};

// Private token so JS cannot construct a TapDevice without open().
int kConstructToken;

// The interrupt kinds passed to onIrq(kind): 0 RX, 1 TX completion.
int kRxKind = TapDevice::kIrqRx;
int kTxKind = TapDevice::kIrqTx;

class TapDeviceWrap : public Napi::ObjectWrap<TapDeviceWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TapDevice",
                       {
                           InstanceMethod<&TapDeviceWrap::TxKick>("txKick"),
                           InstanceMethod<&TapDeviceWrap::Stats>("stats"),
                           InstanceMethod<&TapDeviceWrap::Close>("close"),
                       });
  }

  explicit TapDeviceWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TapDeviceWrap>(info), env_(info.Env()) {
    if (info.Length() != 1 || !info[0].IsExternal() || info[0].As<Napi::External<int>>().Data() != &kConstructToken) {
      Napi::TypeError err = Napi::TypeError::New(info.Env(), "TapDevice cannot be constructed directly: use open()");
      err.Set("code", Napi::String::New(info.Env(), "ERR_ILLEGAL_CONSTRUCTOR"));
      throw err;
    }
  }

  ~TapDeviceWrap() override { Shutdown(); }

  // Takes ownership of an opened device, wires its IRQ to onIrq and starts it.
  void Attach(Napi::Object self, std::unique_ptr<TapDevice> dev, Napi::Function onIrq) {
    dev_ = std::move(dev);
    try {
      Wire(self, onIrq);
    } catch (...) {
      Shutdown();  // do not leave a half-wired device holding the loop open
      throw;
    }
  }

 private:
  void Wire(Napi::Object self, Napi::Function onIrq) {
    Napi::Env env = self.Env();

    // The TSFN is the IRQ line: the RX and TX threads post, the JS thread calls
    // onIrq(kind). Unlimited queue, so neither thread blocks on JS (and there
    // is at most one IRQ of each kind in flight: the NIC masks it as it fires).
    // While it exists it keeps the event loop alive, as a live NIC should.
    auto line = std::make_shared<IrqLine>();
    tsfn_ = Napi::ThreadSafeFunction::New(
        env, onIrq, "ustack_tap.irq", 0, 1,
        [](Napi::Env, std::shared_ptr<IrqLine>* l) {
          (*l)->finalized = true;
          delete l;
        },
        new std::shared_ptr<IrqLine>(line));
    irq_ = line;

    // Env teardown (worker exit, process.exit) may come before GC finalizes
    // us. Hooks run newest first, so ours runs before the TSFN's own cleanup:
    // the RX and TX threads are joined while the TSFN they post to still exists.
    napi_status status = napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
    NAPI_THROW_IF_FAILED_VOID(env, status);
    hookRegistered_ = true;

    self.DefineProperties({
        Napi::PropertyDescriptor::Value("name", Napi::String::New(env, dev_->name()), napi_enumerable),
        Napi::PropertyDescriptor::Value("rx", ExposeRing(env, dev_->rxMemory()), napi_enumerable),
        Napi::PropertyDescriptor::Value("tx", ExposeRing(env, dev_->txMemory()), napi_enumerable),
        Napi::PropertyDescriptor::Value("hostMac", Napi::String::New(env, dev_->hostMac()), napi_enumerable),
    });

    Napi::ThreadSafeFunction tsfn = tsfn_;
    try {
      // NonBlockingCall only fails once the TSFN is closing, i.e. during
      // teardown, when a lost interrupt does not matter.
      // The kind (RX or TX interrupt) travels as a pointer to one of two
      // static ints, so posting allocates nothing.
      dev_->Start([tsfn](int kind) mutable {
        tsfn.NonBlockingCall(kind == TapDevice::kIrqTx ? &kTxKind : &kRxKind,
                             [](Napi::Env env, Napi::Function fn, int* k) { fn.Call({Napi::Number::New(env, *k)}); });
      });
    } catch (const TapError& e) {
      throw ToJsError(env, e);
    }
  }

  // Only open() hands out these objects, and only after Attach(); the check
  // is for a failed Attach(), whose object JS never sees but might in theory.
  TapDevice& Device(Napi::Env env) {
    if (!dev_) throw ToJsError(env, TapError("ERR_TAP_CLOSED", "the TAP device was never opened"));
    return *dev_;
  }

  Napi::Value TxKick(const Napi::CallbackInfo& info) {
    TapDevice& dev = Device(info.Env());
    try {
      dev.TxKick();
      return info.Env().Undefined();
    } catch (const TapError& e) {
      throw ToJsError(info.Env(), e);
    }
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ustack::TapStats s = Device(env).Stats();
    Napi::Object o = Napi::Object::New(env);
    auto set = [&](const char* key, std::uint64_t v) { o.Set(key, Napi::Number::New(env, static_cast<double>(v))); };
    set("rxFrames", s.rxFrames);
    set("rxBytes", s.rxBytes);
    set("rxFifoErrors", s.rxFifoErrors);
    set("rxLengthErrors", s.rxLengthErrors);
    set("irqs", s.irqs);
    set("txFrames", s.txFrames);
    set("txBytes", s.txBytes);
    set("txErrors", s.txErrors);
    set("txBusy", s.txBusy);
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  // close(), env teardown and GC all end here; only the first does anything.
  void Shutdown() {
    if (!dev_ || dev_->closed()) return;
    dev_->Close();  // joins both threads: nothing posts to the TSFN after this
    if (irq_ && !irq_->finalized) {
      // Abort rather than Release: an IRQ still queued is dropped, so onIrq
      // never runs after close(); and the TSFN stops holding the loop open.
      tsfn_.Abort();
    }
    if (hookRegistered_) {
      hookRegistered_ = false;
      napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
    }
  }

  static void OnEnvCleanup(void* arg) {
    auto* self = static_cast<TapDeviceWrap*>(arg);
    self->hookRegistered_ = false;  // being run is being removed
    self->Shutdown();
  }

  napi_env env_;
  std::unique_ptr<TapDevice> dev_;
  Napi::ThreadSafeFunction tsfn_;
  std::shared_ptr<IrqLine> irq_;
  bool hookRegistered_ = false;
};

// ---- module ----------------------------------------------------------------

struct AddonData {
  Napi::FunctionReference tapDevice;
};

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Function onIrq;
  const TapConfig cfg = ParseOptions(info, &onIrq);

  std::unique_ptr<TapDevice> dev;
  try {
    dev = TapDevice::Open(cfg);
  } catch (const TapError& e) {
    throw ToJsError(env, e);
  } catch (const std::bad_alloc&) {
    throw ToJsError(env, TapError("ENOMEM", "out of memory allocating the rings"));
  }

  Napi::Object self =
      env.GetInstanceData<AddonData>()->tapDevice.New({Napi::External<int>::New(env, &kConstructToken)});
  TapDeviceWrap::Unwrap(self)->Attach(self, std::move(dev), onIrq);
  return self;
}

Napi::Object Layout(Napi::Env env) {
  namespace r = ustack::ring;
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* key, double v) { o.Set(key, Napi::Number::New(env, v)); };
  set("CTRL_PROD", r::kCtrlProd);
  set("CTRL_IRQ", r::kCtrlIrq);
  set("CTRL_FIFO_ERRORS", r::kCtrlFifoErrors);
  set("CTRL_LENGTH_ERRORS", r::kCtrlLengthErrors);
  set("CTRL_CONS", r::kCtrlCons);
  set("CTRL_BYTES", r::kCtrlBytes);
  set("MIN_RING_SLOTS", r::kMinSlots);
  set("MAX_RING_SLOTS", r::kMaxSlots);
  set("FRAME_OVERHEAD", r::kFrameOverhead);
  o.Freeze();
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Per-environment (main thread or worker) data: the addon is context-aware.
  auto* data = new AddonData{Napi::Persistent(TapDeviceWrap::Define(env))};
  env.SetInstanceData(data);
  exports.Set("open", Napi::Function::New<Open>(env, "open"));
  exports.Set("layout", Layout(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(ustack_tap, Init)
