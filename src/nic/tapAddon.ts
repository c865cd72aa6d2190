// tapAddon: the typed face of the native TAP addon (build/Release/ustack_tap.node,
// built from native/ by node-gyp during `npm install`). The addon opens a Linux
// TAP interface and moves frames between it and two descriptor rings whose
// layout is defined in ringLayout.ts; docs/native.md describes the contract.
//
// Loading is lazy: importing this module never touches the .node file, so code
// that only uses the memory link runs where the addon was not built. The first
// open() (or loadTapAddon()) loads it and throws ERR_USTACK_ADDON if it can't.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TapOpenOptions {
  /** Interface name, e.g. "ustack0" (1..15 bytes; a template like "tap%d" is expanded by the kernel). */
  name: string;
  /** A network namespace name (/var/run/netns/NAME) or an absolute path to a netns file; the TAP is created inside it. */
  netns?: string;
  /** 68..65521, set on the TAP interface. */
  mtu: number;
  /** Ring sizes: powers of two 8..4096. */
  rxSlots: number;
  txSlots: number;
  /** Bytes per slot, a multiple of 64 (normally slotSizeFor(mtu)). */
  slotSize: number;
  /**
   * The "hard IRQ", called on the JS main thread: kind 0 when the RX ring got a
   * frame while its irq word was 1, kind 1 when TX descriptors completed while
   * the TX ring's irq word was 1. Each masks its word as it fires.
   */
  onIrq: (kind: number) => void;
}

export interface TapStats {
  rxFrames: number;
  rxBytes: number;
  rxFifoErrors: number;
  rxLengthErrors: number;
  irqs: number;
  txFrames: number;
  txBytes: number;
  txErrors: number;
  txBusy: number;
}

export interface TapDevice {
  /** The actual interface name. */
  readonly name: string;
  /** The RX ring (native produces, JS consumes), layout from ringLayout.ts. */
  readonly rx: ArrayBuffer;
  /** The TX ring (JS produces, native consumes on txKick()). */
  readonly tx: ArrayBuffer;
  /** MAC of the TAP interface on the kernel side, "aa:bb:cc:dd:ee:ff". */
  readonly hostMac: string;
  /**
   * The TX doorbell: wakes the native TX thread, which writes frames
   * tx[cons..prod) to the TAP and advances cons; if the TX ring's irq word is
   * 1 it then raises onIrq(1) (a TX completion interrupt), masking it.
   */
  txKick(): void;
  stats(): TapStats;
  /** Idempotent. Stops the RX and TX threads, closes the TAP; rx/tx stay readable. */
  close(): void;
}

/** The ring constants compiled into the addon (native/ring.h), to check against ringLayout.ts. */
export interface NativeRingLayout {
  readonly CTRL_PROD: number;
  readonly CTRL_IRQ: number;
  readonly CTRL_FIFO_ERRORS: number;
  readonly CTRL_LENGTH_ERRORS: number;
  readonly CTRL_CONS: number;
  readonly CTRL_BYTES: number;
  readonly MIN_RING_SLOTS: number;
  readonly MAX_RING_SLOTS: number;
  readonly FRAME_OVERHEAD: number;
}

export interface TapAddon {
  open(opts: TapOpenOptions): TapDevice;
  readonly layout: NativeRingLayout;
}

/** Errors thrown by open()/txKick() carry the errno name or an ERR_TAP_* code. */
export interface TapError extends Error {
  code: string;
  syscall?: string;
}

const ADDON_FILE = 'ustack_tap.node';

/**
 * The package root: the first directory at or above this module's that holds a
 * package.json. This module runs from src/nic/ (tests) and dist/nic/
 * (compiled), both two levels down, but walking up does not depend on that.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw addonError('cannot find the ustack package root (no package.json above ' + fileURLToPath(import.meta.url) + ')');
    dir = parent;
  }
}

/** Where the addon is (or would be): build/Release, or build/Debug after `node-gyp rebuild --debug`. */
export function tapAddonPath(): string {
  const root = packageRoot();
  const release = join(root, 'build', 'Release', ADDON_FILE);
  if (existsSync(release)) return release;
  const debug = join(root, 'build', 'Debug', ADDON_FILE);
  return existsSync(debug) ? debug : release;
}

function addonError(message: string, cause?: unknown): Error {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: string };
  err.code = 'ERR_USTACK_ADDON';
  return err;
}

let cached: TapAddon | undefined;

/** Loads the native addon once. Throws an Error with code ERR_USTACK_ADDON if it is missing or broken. */
export function loadTapAddon(): TapAddon {
  if (cached) return cached;
  const path = tapAddonPath();
  if (!existsSync(path)) {
    throw addonError(`The native TAP addon is not built (no ${path}): run \`npm install\` in the ustack package to build it.`);
  }
  try {
    cached = createRequire(import.meta.url)(path) as TapAddon;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw addonError(`The native TAP addon at ${path} failed to load (${why}): run \`npm install\` to rebuild it.`, cause);
  }
  return cached;
}

/** Creates a TAP interface (inside opts.netns if given) and starts its RX and TX threads. Needs CAP_NET_ADMIN. */
export function open(opts: TapOpenOptions): TapDevice {
  return loadTapAddon().open(opts);
}
