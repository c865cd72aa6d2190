// icmp: the Internet Control Message Protocol (RFC 792; RFC 1122 §3.2.2;
// Linux net/ipv4/icmp.c). Answers echo and timestamp requests, passes errors about our own
// datagrams up to the transport that sent them, and sends errors of its own
// under the RFC 1122 rules and Linux's rate limits:
//   - never about an ICMP error, a broadcast or multicast datagram, a
//     non-initial fragment, or a datagram whose source is not one host
//     (RFC 1122 §3.2.2);
//   - a global token bucket (net.ipv4.icmp_msgs_per_sec 1000, burst 50) and
//     a per-destination one (icmp_ratelimit: one per second, burst 6).

import type { Net } from '../core/net.js';
import { PktType, type PacketBuffer } from '../core/packetBuffer.js';
import type { Ipv4Addr } from '../wire/address.js';
import {
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER_LEN,
  ICMP_PARAM_PROBLEM,
  ICMP_TIME_EXCEEDED,
  ICMP_TIMESTAMP,
  ICMP_TIMESTAMP_REPLY,
  IcmpPacket,
  isIcmpError,
} from '../wire/icmp.js';
import {
  IPPROTO_ICMP,
  IPV4_HEADER_LEN,
  Ipv4Packet,
  isLimitedBroadcast,
  isLoopbackIpv4,
  isMulticastIpv4,
  isZeroNet,
} from '../wire/ipv4.js';
import type { Ipv4 } from './ip.js';

/** What a transport learns of an ICMP error about a datagram it sent. */
export interface IcmpErrorInfo {
  type: number;
  code: number;
  /** Next-hop MTU for "fragmentation needed" (RFC 1191), else 0. */
  mtu: number;
  /** Addresses of the datagram that failed (ours → theirs). */
  saddr: Ipv4Addr;
  daddr: Ipv4Addr;
  /** The failed datagram's transport header, at least 8 bytes: buf[off, off+len). */
  buf: Uint8Array;
  off: number;
  len: number;
}

export type IcmpErrorHandler = (info: IcmpErrorInfo) => void;

/** Receives echo replies for one identifier: a ping socket. */
export type EchoReplyHandler = (src: Ipv4Addr, seq: number, data: Uint8Array, ttl: number) => void;

/** Bytes of the offending datagram quoted in an error: fill 576 bytes (RFC 1812 §4.3.2.3, Linux). */
const ICMP_ERROR_MAX = 576 - 20 - ICMP_HEADER_LEN;

/** A timestamp message: the header, then originate, receive and transmit times (RFC 792). */
const ICMP_TIMESTAMP_LEN = ICMP_HEADER_LEN + 12;
const MS_PER_DAY = 86_400_000;

export interface IcmpRateParams {
  msgsPerSec: number; // icmp_msgs_per_sec
  msgsBurst: number; // icmp_msgs_burst
  ratelimitMs: number; // icmp_ratelimit (per destination)
  perHostBurst: number; // XRLIM_BURST_FACTOR
}

export const DEFAULT_ICMP_RATE: IcmpRateParams = { msgsPerSec: 1000, msgsBurst: 50, ratelimitMs: 1000, perHostBurst: 6 };

export class Icmp {
  private readonly view = new IcmpPacket();
  private readonly inner = new Ipv4Packet();
  private readonly errorHandlers: Array<IcmpErrorHandler | undefined> = new Array(256);
  private readonly echoHandlers = new Map<number, EchoReplyHandler>();
  // Global token bucket: tokens in messages, refilled continuously.
  private tokens: number;
  private tokensAt: number;
  // Per-destination buckets (inet_peer): tokens in ms of credit; bounded map.
  private peers = new Map<Ipv4Addr, { tokens: number; at: number }>();
  /** icmp_echo_ignore_broadcasts (Linux default 1: smurf amplification). */
  ignoreBroadcastEcho = true;

  constructor(
    private readonly net: Net,
    private readonly ip: Ipv4,
    readonly rate: IcmpRateParams = { ...DEFAULT_ICMP_RATE },
  ) {
    this.tokens = rate.msgsBurst;
    this.tokensAt = net.now();
    ip.addProtocol(IPPROTO_ICMP, this.rcv);
    ip.icmpError = (pb, type, code, info) => this.send(pb, type, code, info ?? 0);
    ip.reasm.onTimeout = (first) => this.send(first, ICMP_TIME_EXCEEDED, 1, 0);
  }

  /** Registers the handler of ICMP errors about datagrams of `protocol` (err_handler). */
  addErrorHandler(protocol: number, h: IcmpErrorHandler): void {
    this.errorHandlers[protocol] = h;
  }

  /** Binds an echo identifier to a handler (a ping socket); returns false if it is taken. */
  bindEcho(ident: number, h: EchoReplyHandler): boolean {
    if (this.echoHandlers.has(ident)) return false;
    this.echoHandlers.set(ident, h);
    return true;
  }

  unbindEcho(ident: number): void {
    this.echoHandlers.delete(ident);
  }

  /** icmp_rcv. `pb.head` is at the ICMP header. */
  readonly rcv = (pb: PacketBuffer): void => {
    const snmp = this.net.snmp;
    snmp.IcmpInMsgs++;
    const m = this.view.wrap(pb.buf, pb.head, pb.len);
    const err = m.check();
    if (err !== null) {
      if (err === 'checksum') snmp.IcmpInCsumErrors++;
      snmp.IcmpInErrors++;
      this.net.drop(pb, err === 'checksum' ? 'icmp-csum' : 'icmp-inhdr');
      return;
    }
    switch (m.type) {
      case ICMP_ECHO_REQUEST:
        snmp.IcmpInEchos++;
        if (pb.pktType !== PktType.Host && this.ignoreBroadcastEcho) {
          this.net.drop(pb, 'icmp-broadcast-echo');
          return;
        }
        this.echoReply(pb);
        return;
      case ICMP_TIMESTAMP:
        snmp.IcmpInTimestamps++;
        // Linux icmp_rcv: broadcast timestamp requests are ignored like echoes.
        if (pb.pktType !== PktType.Host && this.ignoreBroadcastEcho) {
          this.net.drop(pb, 'icmp-broadcast-echo');
          return;
        }
        // icmp_timestamp: at least the originate time must be there.
        if (pb.len < ICMP_HEADER_LEN + 4) {
          snmp.IcmpInErrors++;
          this.net.drop(pb, 'icmp-too-small');
          return;
        }
        this.timestampReply(pb);
        return;
      case ICMP_TIMESTAMP_REPLY:
        snmp.IcmpInTimestampReps++;
        pb.free();
        return;
      case ICMP_ECHO_REPLY: {
        snmp.IcmpInEchoReps++;
        const h = this.echoHandlers.get(m.echoIdent);
        if (h) {
          const ttl = this.inner.wrap(pb.buf, pb.networkHeader, IPV4_HEADER_LEN).ttl;
          h(pb.saddr, m.echoSeq, pb.buf.subarray(m.dataOffset, pb.head + pb.len), ttl);
        }
        pb.free();
        return;
      }
      case ICMP_DEST_UNREACH:
        snmp.IcmpInDestUnreachs++;
        this.deliverError(pb, m);
        return;
      case ICMP_TIME_EXCEEDED:
        snmp.IcmpInTimeExcds++;
        this.deliverError(pb, m);
        return;
      case ICMP_PARAM_PROBLEM:
        snmp.IcmpInParmProbs++;
        this.deliverError(pb, m);
        return;
      default:
        pb.free();
    }
  };

  /** icmp_reply to an echo: same identifier, sequence and data, from the address that was asked. */
  private echoReply(req: PacketBuffer): void {
    const len = req.len;
    const pb = this.ip.allocPayload(len);
    const at = pb.put(len);
    pb.buf.set(req.buf.subarray(req.head, req.head + len), at);
    const m = this.view.wrap(pb.buf, at, len);
    m.type = ICMP_ECHO_REPLY;
    m.fillChecksum();
    const saddr = req.pktType === PktType.Host ? req.daddr : 0;
    const daddr = req.saddr;
    req.free();
    this.net.snmp.IcmpOutMsgs++;
    this.net.snmp.IcmpOutEchoReps++;
    this.ip.output(pb, { saddr, daddr, protocol: IPPROTO_ICMP });
  }

  /**
   * icmp_timestamp (RFC 792; RFC 1122 §3.2.2.8): the request's identifier,
   * sequence and originate time, and our receive and transmit times — the same
   * instant, in milliseconds since midnight UT, as Linux fills them.
   */
  private timestampReply(req: PacketBuffer): void {
    const q = this.view.wrap(req.buf, req.head, req.len);
    const ident = q.echoIdent;
    const seq = q.echoSeq;
    const originate = q.originateTime;
    const pb = this.ip.allocPayload(ICMP_TIMESTAMP_LEN);
    const at = pb.put(ICMP_TIMESTAMP_LEN);
    pb.buf.fill(0, at, at + ICMP_TIMESTAMP_LEN);
    const m = this.view.wrap(pb.buf, at, ICMP_TIMESTAMP_LEN);
    m.type = ICMP_TIMESTAMP_REPLY;
    m.code = 0;
    m.echoIdent = ident;
    m.echoSeq = seq;
    const now = Math.floor(this.net.now()) % MS_PER_DAY;
    m.originateTime = originate;
    m.receiveTime = now;
    m.transmitTime = now;
    m.fillChecksum();
    const saddr = req.pktType === PktType.Host ? req.daddr : 0;
    const daddr = req.saddr;
    req.free();
    this.net.snmp.IcmpOutMsgs++;
    this.net.snmp.IcmpOutTimestampReps++;
    this.ip.output(pb, { saddr, daddr, protocol: IPPROTO_ICMP });
  }

  /** Sends an echo request (a ping socket's send). Returns the IP layer's error, if any. */
  sendEcho(daddr: Ipv4Addr, ident: number, seq: number, data: Uint8Array): string | null {
    const len = ICMP_HEADER_LEN + data.length;
    const pb = this.ip.allocPayload(len);
    const at = pb.put(len);
    const m = this.view.wrap(pb.buf, at, len);
    m.type = ICMP_ECHO_REQUEST;
    m.code = 0;
    m.echoIdent = ident;
    m.echoSeq = seq;
    pb.buf.set(data, at + ICMP_HEADER_LEN);
    m.fillChecksum();
    this.net.snmp.IcmpOutMsgs++;
    this.net.snmp.IcmpOutEchos++;
    return this.ip.output(pb, { daddr, protocol: IPPROTO_ICMP });
  }

  /** icmp_unreach's upcall: finds the transport of the quoted datagram and tells it. */
  private deliverError(pb: PacketBuffer, m: IcmpPacket): void {
    const inner = this.inner.wrap(pb.buf, m.dataOffset, m.dataLen);
    // The quote must hold a whole IPv4 header and 8 bytes of its payload (RFC 792).
    if (inner.len < 20 || inner.version !== 4 || inner.headerLen < 20 || inner.len < inner.headerLen + 8) {
      this.net.snmp.IcmpInErrors++;
      this.net.drop(pb, 'icmp-inhdr');
      return;
    }
    const h = this.errorHandlers[inner.protocol];
    if (h) {
      h({
        type: m.type,
        code: m.code,
        mtu: m.type === ICMP_DEST_UNREACH && m.code === 4 ? m.nextHopMtu : 0,
        saddr: inner.src,
        daddr: inner.dst,
        buf: pb.buf,
        off: inner.off + inner.headerLen,
        len: inner.len - inner.headerLen,
      });
    }
    pb.free();
  }

  /**
   * icmp_send: an error of `type`/`code` about the datagram in `orig`
   * (orig.networkHeader at its IP header). `orig` is not consumed.
   */
  send(orig: PacketBuffer, type: number, code: number, info: number): void {
    const snmp = this.net.snmp;
    const ip = this.inner.wrap(orig.buf, orig.networkHeader, orig.head + orig.len - orig.networkHeader);
    if (ip.len < 20) return;
    const src = ip.src;
    const dst = ip.dst;
    // RFC 1122 §3.2.2: no error about a broadcast/multicast, a non-initial fragment,
    // a non-unicast source, or another ICMP error.
    // Reassembly timeouts included: Linux's ip_expire goes through the same check.
    if (orig.pktType !== PktType.Host) return;
    if (isLimitedBroadcast(dst) || isMulticastIpv4(dst) || this.isBroadcastFor(orig, dst)) return;
    if (isZeroNet(src) || isLimitedBroadcast(src) || isMulticastIpv4(src) || (isLoopbackIpv4(src) && !isLoopbackIpv4(dst))) return;
    if (ip.fragOffset !== 0) return;
    if (ip.protocol === IPPROTO_ICMP) {
      const ihl = ip.headerLen;
      const t = ip.len > ihl ? orig.buf[orig.networkHeader + ihl]! : ICMP_ECHO_REQUEST;
      if (isIcmpError(t)) return;
    }
    if (!this.allow(src, type, code)) return;

    const quote = Math.min(ip.len, ICMP_ERROR_MAX);
    const len = ICMP_HEADER_LEN + quote;
    const pb = this.ip.allocPayload(len);
    const at = pb.put(len);
    pb.buf.set(orig.buf.subarray(orig.networkHeader, orig.networkHeader + quote), at + ICMP_HEADER_LEN);
    const m = this.view.wrap(pb.buf, at, len);
    m.type = type;
    m.code = code;
    m.rest = 0;
    if (type === ICMP_DEST_UNREACH && code === 4) m.nextHopMtu = info;
    if (type === ICMP_PARAM_PROBLEM) m.pointer = info;
    m.fillChecksum();
    snmp.IcmpOutMsgs++;
    if (type === ICMP_DEST_UNREACH) snmp.IcmpOutDestUnreachs++;
    else if (type === ICMP_TIME_EXCEEDED) snmp.IcmpOutTimeExcds++;
    // The error comes from the address the datagram was sent to, when it is ours.
    const saddr = this.ip.fib.isLocal(dst) ? dst : 0;
    this.ip.output(pb, { saddr, daddr: src, protocol: IPPROTO_ICMP, tos: 0xc0 });
  }

  /** True if `dst` is a subnet broadcast address of the device `pb` came in on. */
  private isBroadcastFor(pb: PacketBuffer, dst: Ipv4Addr): boolean {
    for (const a of this.ip.fib.addresses) if (a.dev.ifindex === pb.ifindex && a.broadcast === dst && dst !== 0) return true;
    return false;
  }

  /** icmpv4_global_allow + icmpv4_xrlim_allow: both buckets must have a token. */
  /**
   * icmpv4_global_allow + icmpv4_xrlim_allow. Fragmentation-needed is never
   * limited (PMTU discovery depends on it; icmpv4_mask_allow), and the
   * per-destination bucket does not apply to our own addresses (a route
   * through lo): errors to ourselves are only under the global limit.
   */
  private allow(dst: Ipv4Addr, type: number, code: number): boolean {
    if (type === ICMP_DEST_UNREACH && code === 4) return true;
    const now = this.net.now();
    const r = this.rate;
    this.tokens = Math.min(r.msgsBurst, this.tokens + ((now - this.tokensAt) * r.msgsPerSec) / 1000);
    this.tokensAt = now;
    if (this.tokens < 1) {
      this.net.snmp.IcmpOutRateLimitGlobal++;
      return false;
    }
    if (this.ip.fib.lookup(dst)?.type === 'local') {
      this.tokens -= 1;
      return true;
    }
    let peer = this.peers.get(dst);
    if (!peer) {
      if (this.peers.size >= 4096) this.peers.clear(); // inet_peer pool pressure: start over
      peer = { tokens: r.ratelimitMs * r.perHostBurst, at: now };
      this.peers.set(dst, peer);
    }
    peer.tokens = Math.min(r.ratelimitMs * r.perHostBurst, peer.tokens + (now - peer.at));
    peer.at = now;
    if (peer.tokens < r.ratelimitMs) {
      this.net.snmp.IcmpOutRateLimitHost++;
      return false;
    }
    peer.tokens -= r.ratelimitMs;
    this.tokens -= 1;
    return true;
  }
}
