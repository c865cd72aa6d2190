# The native half of ustack: a TAP device driven through shared descriptor
# rings (native/, typed in src/nic/tapAddon.ts, documented in docs/native.md).
{
  "targets": [
    {
      "target_name": "ustack_tap",
      "sources": ["native/tap.cc", "native/tap_device.cc"],
      # node -p evaluates as CommonJS even though package.json says "module".
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # C++ exceptions on, consistently: node-addon-api reports JS errors as
      # Napi::Error exceptions and the device code throws TapError.
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      # -O2 instead of common.gypi's -O3 for Release: nothing here is compute-bound.
      "cflags!": ["-fno-exceptions", "-O3"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": ["-O2"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2"]
    }
  ]
}
