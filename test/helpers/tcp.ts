// TCP test helpers: a decoder for the segments a stack sends (a packet tap
// that reads TCP headers and options, timestamped on the virtual clock), a
// builder of hand-made segments, and RawPeer — a TCP "peer" driven by segment
// templates (smoltcp's and gVisor's state-machine tests) that talks to stack
// B from an address of its own, 10.0.0.3. B reaches that address through a
// permanent neighbour entry pointing at A's MAC: A's stack drops what B sends
// there (not its address), so only the test answers B.
import { createHash } from 'node:crypto';
import type { ServerOptions, Stack } from '../../src/stack.js';
import type { TcpSocket } from '../../src/socket/tcpSocket.js';
import type { TcpEndpoint } from '../../src/tcp/endpoint.js';
import { parseIpv4, type Ipv4Addr } from '../../src/wire/address.js';
import { ETH_HLEN, ETHERTYPE_IPV4, EthernetFrame } from '../../src/wire/ethernet.js';
import { IPPROTO_TCP, Ipv4Packet } from '../../src/wire/ipv4.js';
import { emitTcp, TCP_ACK, TCP_FIN, TCP_HLEN, TCP_RST, TCP_SYN, TcpSegment, createTcpRepr } from '../../src/wire/tcp.js';
import { copyTcpOptions, parseTcpOptions, TcpOptions, tcpOptionsLength } from '../../src/wire/tcpOptions.js';
import { ipFrame } from './frames.js';
import { A_IP, A_MAC, B_IP, B_MAC, type Pair } from './pair.js';

export const PEER_IP = parseIpv4('10.0.0.3')!;

export interface Seg {
  /** Virtual time the frame crossed the tap. */
  t: number;
  src: Ipv4Addr;
  dst: Ipv4Addr;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  /** The raw (unscaled) window field. */
  window: number;
  opts: TcpOptions;
  /** Payload bytes (a copy). */
  data: Uint8Array;
  /** IP total length. */
  ipLen: number;
}

/** Decodes a TCP segment out of an Ethernet frame, or null if it is not one. */
export function decodeTcp(frame: Uint8Array, t = 0): Seg | null {
  const eth = new EthernetFrame().wrap(frame);
  if (frame.length < ETH_HLEN || eth.ethertype !== ETHERTYPE_IPV4) return null;
  const ip = new Ipv4Packet().wrap(frame, ETH_HLEN);
  if (ip.check() !== null || ip.protocol !== IPPROTO_TCP || ip.fragOffset !== 0) return null;
  const seg = new TcpSegment().wrap(frame, ip.payloadOffset, ip.payloadLen);
  if (seg.check() !== null) return null;
  const opts = new TcpOptions();
  parseTcpOptions(frame, seg.optionsOffset, seg.optionsLen, opts);
  return {
    t,
    src: ip.src,
    dst: ip.dst,
    sport: seg.srcPort,
    dport: seg.dstPort,
    seq: seg.seq,
    ack: seg.ack,
    flags: seg.flags,
    window: seg.window,
    opts,
    data: frame.slice(seg.payloadOffset, seg.off + seg.len),
    ipLen: ip.totalLength,
  };
}

/** Records every TCP segment `stack` sends (or receives, dir 'in'), with the virtual time. */
export function tcpSniff(stack: Stack, dir: 'in' | 'out' = 'out'): Seg[] {
  const seen: Seg[] = [];
  stack.addTap((_dev, buf, off, len, d) => {
    if (d !== dir) return;
    const s = decodeTcp(buf.slice(off, off + len), stack.rt.clock.now());
    if (s) seen.push(s);
  });
  return seen;
}

export const isSyn = (s: Seg) => (s.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
export const isSynAck = (s: Seg) => (s.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
export const isRst = (s: Seg) => (s.flags & TCP_RST) !== 0;
export const isFin = (s: Seg) => (s.flags & TCP_FIN) !== 0;
/** A bare ACK: no data, no SYN/FIN/RST. */
export const isPureAck = (s: Seg) => s.flags & TCP_ACK && !(s.flags & (TCP_SYN | TCP_FIN | TCP_RST)) && s.data.length === 0;

export interface SegTemplate {
  src?: Ipv4Addr;
  dst?: Ipv4Addr;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  /** Options as an object, or raw option bytes (padded to a multiple of 4 here). */
  options?: Partial<Omit<TcpOptions, 'sackBlocks'>> & { sack?: Array<[number, number]> } | Uint8Array;
  payload?: Uint8Array;
  /** Spoil the checksum. */
  badChecksum?: boolean;
}

/** The TCP segment of `t` (header, options, payload; checksum over the pseudo-header). */
export function tcpBytes(t: SegTemplate): Uint8Array {
  const src = t.src ?? A_IP;
  const dst = t.dst ?? B_IP;
  const payload = t.payload ?? new Uint8Array(0);
  const r = createTcpRepr();
  r.srcPort = t.sport;
  r.dstPort = t.dport;
  r.seq = t.seq >>> 0;
  r.ack = (t.ack ?? 0) >>> 0;
  r.flags = t.flags;
  r.window = t.window ?? 65535;
  r.payloadLen = payload.length;
  let raw: Uint8Array | null = null;
  if (t.options instanceof Uint8Array) {
    raw = new Uint8Array((t.options.length + 3) & ~3);
    raw.set(t.options);
  } else if (t.options) {
    const o = t.options;
    r.options.mss = o.mss ?? 0;
    r.options.wscale = o.wscale ?? -1;
    r.options.sackPermitted = o.sackPermitted ?? false;
    r.options.timestamps = o.timestamps ?? false;
    r.options.tsVal = o.tsVal ?? 0;
    r.options.tsEcr = o.tsEcr ?? 0;
    (o.sack ?? []).forEach(([l, rr], i) => {
      r.options.sackBlocks[2 * i] = l >>> 0;
      r.options.sackBlocks[2 * i + 1] = rr >>> 0;
    });
    r.options.sackCount = o.sack?.length ?? 0;
  }
  const hlen = raw ? TCP_HLEN + raw.length : TCP_HLEN + tcpOptionsLength(r.options);
  const out = new Uint8Array(hlen + payload.length);
  const seg = new TcpSegment().wrap(out);
  if (raw) {
    const copy = new TcpOptions();
    copyTcpOptions(copy, r.options);
    r.options = copy; // emit without options, then write the raw bytes and the data offset
    emitTcp(r, seg);
    out.set(raw, TCP_HLEN);
    seg.dataOffset = hlen;
    seg.flags = t.flags;
  } else emitTcp(r, seg);
  out.set(payload, hlen);
  seg.fillChecksum(src, dst);
  if (t.badChecksum) seg.checksum = seg.checksum ^ 0x5a5a;
  return out;
}

/** An Ethernet frame A→B carrying the segment of `t`. */
export function tcpFrame(t: SegTemplate): Uint8Array {
  return ipFrame(B_MAC, A_MAC, { src: t.src ?? A_IP, dst: t.dst ?? B_IP, protocol: IPPROTO_TCP, dontFrag: true }, tcpBytes(t));
}

/** An Ethernet frame B→A carrying the segment of `t` (src/dst default to B and A). */
export function tcpFrameToA(t: SegTemplate): Uint8Array {
  const src = t.src ?? B_IP;
  const dst = t.dst ?? A_IP;
  return ipFrame(A_MAC, B_MAC, { src, dst, protocol: IPPROTO_TCP, dontFrag: true }, tcpBytes({ ...t, src, dst }));
}

export interface PeerSend {
  flags: number;
  seq?: number;
  ack?: number;
  window?: number;
  options?: SegTemplate['options'];
  payload?: Uint8Array;
  badChecksum?: boolean;
}

/**
 * A hand-driven TCP peer at PEER_IP:port talking to stack B. It keeps
 * SND.NXT and RCV.NXT of its side so templates need say only what differs.
 */
export class RawPeer {
  /** Every segment B sent to this peer. */
  readonly seen: Seg[] = [];
  sndNxt: number;
  rcvNxt = 0;

  constructor(
    readonly p: Pair,
    readonly port = 40000,
    readonly iss = 0x1000_0000,
  ) {
    this.sndNxt = iss;
    p.b.neigh.addPermanent(PEER_IP, p.devB, A_MAC);
    p.b.addTap((_dev, buf, off, len, d) => {
      if (d !== 'out') return;
      const s = decodeTcp(buf.slice(off, off + len), p.rt.clock.now());
      if (s && s.dst === PEER_IP && s.dport === this.port) this.seen.push(s);
    });
  }

  /** Injects one segment into B and lets B process it (and answer). */
  send(lport: number, s: PeerSend): void {
    const seq = s.seq ?? this.sndNxt;
    const frame = tcpFrame({
      src: PEER_IP,
      sport: this.port,
      dport: lport,
      seq,
      ack: s.ack ?? this.rcvNxt,
      flags: s.flags,
      window: s.window,
      options: s.options,
      payload: s.payload,
      badChecksum: s.badChecksum,
    });
    if (s.seq === undefined) this.sndNxt = (this.sndNxt + (s.payload?.length ?? 0) + (s.flags & TCP_SYN ? 1 : 0) + (s.flags & TCP_FIN ? 1 : 0)) >>> 0;
    this.p.link.inject(1, frame);
    this.p.rt.run();
  }

  /** The last segment B sent, failing if there is none. */
  last(): Seg {
    const s = this.seen[this.seen.length - 1];
    if (!s) throw new Error('B sent nothing to the peer');
    return s;
  }

  /** Segments B sent after the first `from`. */
  since(from: number): Seg[] {
    return this.seen.slice(from);
  }

  /**
   * Opens a connection to B's listener on `lport` with a three-way handshake
   * (no options unless given) and returns B's endpoint.
   */
  connect(lport: number, options?: SegTemplate['options']): TcpEndpoint {
    const n = this.seen.length;
    this.send(lport, { flags: TCP_SYN, options });
    const synAck = this.seen.slice(n).find(isSynAck);
    if (!synAck) throw new Error('no SYN-ACK');
    this.rcvNxt = (synAck.seq + 1) >>> 0;
    const ts = options && !(options instanceof Uint8Array) && options.timestamps;
    this.send(lport, { flags: TCP_ACK, options: ts ? { timestamps: true, tsVal: options.tsVal ?? 0, tsEcr: synAck.opts.tsVal } : undefined });
    const ep = this.endpoint(lport);
    if (!ep) throw new Error('no endpoint after the handshake');
    return ep;
  }

  /** B's endpoint for this peer on local port `lport`. */
  endpoint(lport: number): TcpEndpoint | undefined {
    return this.p.b.tcp.lookup(B_IP, lport, PEER_IP, this.port);
  }
}

/** Deterministic bytes. */
export function pattern(n: number, salt = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3 + salt + (i >>> 11)) & 0xff;
  return b;
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Collects the codes of every 'error' a socket emits (and keeps Node from throwing them). */
export function errorCodes(s: NodeJS.EventEmitter): Array<string | undefined> {
  const e: Array<string | undefined> = [];
  s.on('error', (err: NodeJS.ErrnoException) => e.push(err.code));
  return e;
}

/** A server on B:port collecting its sockets, half-open allowed so each side closes on its own. */
export function serve(p: Pair, port: number, opts: ServerOptions = {}, backlog?: number): TcpSocket[] {
  const socks: TcpSocket[] = [];
  const server = p.b.createServer({ allowHalfOpen: true, ...opts }, (s) => {
    errorCodes(s);
    socks.push(s);
  });
  server.listen(port, '0.0.0.0', backlog);
  p.rt.run();
  return socks;
}

/**
 * A switch on one direction of the wire (side 0: A→B, 1: B→A) that, while
 * `on`, loses every TCP frame and lets the rest (ARP) through: "the peer went
 * silent" without the neighbour entry failing. The taps still see what the
 * sender sent.
 */
export function tcpBlackhole(p: Pair, side: 0 | 1, on = true): { on: boolean; lost: number } {
  const wire = p.link.wires[side];
  const send = wire.send.bind(wire);
  const state = { on, lost: 0 };
  wire.send = (frame: Uint8Array) => {
    if (state.on && frame.length >= ETH_HLEN + 20 && frame[12] === 0x08 && frame[13] === 0x00 && frame[ETH_HLEN + 9] === IPPROTO_TCP) {
      state.lost++;
      return;
    }
    send(frame);
  };
  return state;
}
