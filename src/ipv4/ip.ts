// ip: IPv4 input and output (Linux net/ipv4/ip_input.c, ip_output.c).
//
//   ipRcv ─ validate (each failure its own counter) ─ trim link padding
//         ─ PREROUTING hook
//         ─ route input: local? broadcast? else not for us (no forwarding)
//         ─ ipLocalDeliver ─ defrag ─ INPUT hook ─ protocol handler (ICMP | UDP | TCP)
//   output ─ route ─ source address ─ IPv4 header ─ OUTPUT hook ─ POSTROUTING hook
//         ─ fragment if > MTU
//         ─ finishOutput: neighbour (ARP) → Ethernet → device queue
//   (hooks: netfilter.ts; an empty chain costs one `active` check)

import type { Net } from '../core/net.js';
import { MAX_HEADER, PktType, type PacketBuffer } from '../core/packetBuffer.js';
import type { NetDevice } from '../nic/device.js';
import type { EthernetLayer } from '../link/ethernet.js';
import type { NeighbourTable } from '../link/neighbour.js';
import { MAC_BROADCAST, MAC_ZERO, type Ipv4Addr } from '../wire/address.js';
import { ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import {
  emitIpv4,
  IPOPT_LSRR,
  IPOPT_SSRR,
  IPV4_DEFAULT_TTL,
  IPV4_HEADER_LEN,
  Ipv4Packet,
  isFragment,
  isLimitedBroadcast,
  isLoopbackIpv4,
  isMulticastIpv4,
  isReservedClassE,
  type Ipv4Repr,
} from '../wire/ipv4.js';
import { ipFragment } from './fragment.js';
import { IpIdents } from './ident.js';
import { Netfilter, NF_INPUT, NF_OUTPUT, NF_POSTROUTING, NF_PREROUTING } from './netfilter.js';
import { IpReassembly } from './reassembly.js';
import type { Fib, Route } from './route.js';

/**
 * A transport's receive handler (net_protocol.handler). `pb.head` is at the
 * transport header; pb.networkHeader, saddr and daddr are set. It owns `pb`.
 */
export type IpProtocolHandler = (pb: PacketBuffer) => void;

export interface IpSendOptions {
  /** Source address; 0 picks one (route's preferred source, else the device's). */
  saddr?: Ipv4Addr;
  daddr: Ipv4Addr;
  protocol: number;
  ttl?: number;
  tos?: number;
  /** Set DF: the datagram is never fragmented (PMTU discovery, RFC 1191). */
  dontFrag?: boolean;
}

/** Why a send failed, as the errno a socket would see (EPERM: a netfilter hook dropped it, as Linux's nf_hook). */
export type IpSendError = 'EHOSTUNREACH' | 'ENETUNREACH' | 'EMSGSIZE' | 'EPERM' | null;

export class Ipv4 {
  private readonly protocols: Array<IpProtocolHandler | undefined> = new Array(256);
  private readonly view = new Ipv4Packet();
  private readonly repr: Ipv4Repr = {
    src: 0, dst: 0, protocol: 0, ttl: IPV4_DEFAULT_TTL, payloadLen: 0, ident: 0,
    dontFrag: false, moreFrags: false, fragOffset: 0, dscp: 0, ecn: 0,
  };
  private readonly idents: IpIdents;
  readonly reasm: IpReassembly;
  /** The netfilter hooks (PREROUTING, INPUT, OUTPUT, POSTROUTING) and their rules. */
  readonly netfilter: Netfilter;
  /** The loopback device: output to a local address goes through it, never the NIC. */
  loopback: NetDevice | null = null;
  /** Sends an ICMP error about `pb` (set by the ICMP layer, which sits above). */
  icmpError: (pb: PacketBuffer, type: number, code: number, info?: number) => void = () => {};

  constructor(
    private readonly net: Net,
    readonly fib: Fib,
    private readonly eth: EthernetLayer,
    private readonly neigh: NeighbourTable,
  ) {
    this.idents = new IpIdents(net.rt.random);
    this.reasm = new IpReassembly(net);
    this.netfilter = new Netfilter(net, this);
  }

  /** inet_add_protocol. */
  addProtocol(protocol: number, handler: IpProtocolHandler): void {
    this.protocols[protocol] = handler;
  }

  /** ip_rcv: the ETH_P_IP handler. */
  readonly rcv = (pb: PacketBuffer, dev: NetDevice): void => {
    const snmp = this.net.snmp;
    snmp.IpInReceives++;
    const ip = this.view.wrap(pb.buf, pb.head, pb.len);
    let err = ip.check();
    // Linux (ip_rcv_core) verifies the header checksum before the total length:
    // a datagram whose length field was damaged is a checksum error, not a truncated one.
    if ((err === 'truncated' || err === 'total-length') && pb.len >= IPV4_HEADER_LEN && pb.len >= ip.headerLen && !ip.verifyChecksum()) {
      err = 'checksum';
    }
    if (err !== null) {
      if (err === 'checksum') {
        snmp.IpExtInCsumErrors++;
        snmp.IpInHdrErrors++;
        this.net.drop(pb, 'ip-csum');
      } else if (err === 'truncated' && pb.len >= IPV4_HEADER_LEN && pb.len >= ip.headerLen) {
        snmp.IpExtInTruncatedPkts++;
        this.net.drop(pb, 'ip-truncated');
      } else {
        snmp.IpInHdrErrors++;
        this.net.drop(pb, 'ip-inhdr');
      }
      return;
    }
    pb.trim(ip.totalLength); // Ethernet padding of short frames
    pb.networkHeader = pb.head;
    const src = (pb.saddr = ip.src);
    const dst = (pb.daddr = ip.dst);

    // NF_INET_PRE_ROUTING: after the header checks, before routing (ip_rcv → NF_HOOK → ip_rcv_finish).
    const nf = this.netfilter;
    if (nf.chains[NF_PREROUTING]!.active && !nf.hook(NF_PREROUTING, pb, dev, null)) return;

    // Martian sources (RFC 1122 §3.2.1.3): never a valid sender on the wire.
    if (isMulticastIpv4(src) || isLimitedBroadcast(src) || isReservedClassE(src) ||
        (isLoopbackIpv4(src) && dev !== this.loopback) || this.fib.isBroadcastOn(dev, src)) {
      snmp.IpInAddrErrors++;
      this.net.drop(pb, 'ip-invalid-source');
      return;
    }

    if (this.fib.isLocal(dst)) {
      // Loopback addresses are only ever reached through lo (RFC 1122 §3.2.1.3(g)).
      if (isLoopbackIpv4(dst) && dev !== this.loopback) {
        snmp.IpInAddrErrors++;
        this.net.drop(pb, 'ip-invalid-dest');
        return;
      }
    } else if (isLimitedBroadcast(dst) || this.fib.isBroadcastOn(dev, dst)) {
      if (pb.pktType === PktType.Host) pb.pktType = PktType.Broadcast;
      snmp.IpExtInBcastPkts++;
    } else {
      // Not ours, and this host does not forward (ip_forward=0): Linux's ip_error.
      snmp.IpInAddrErrors++;
      this.net.drop(pb, isMulticastIpv4(dst) ? 'ip-invalid-dest' : 'ip-not-for-us');
      return;
    }
    // Source routing is refused (Linux accept_source_route = 0; RFC 7126 §4.3-4.4),
    // where Linux's ip_rcv_options does it: after PREROUTING and the route
    // lookup, and without an SNMP counter (only the drop).
    const hlen = this.view.wrap(pb.buf, pb.head, pb.len).headerLen;
    if (hlen > IPV4_HEADER_LEN && hasSourceRoute(pb.buf, pb.head + IPV4_HEADER_LEN, pb.head + hlen)) {
      this.net.drop(pb, 'ip-source-route');
      return;
    }
    this.localDeliver(pb, dev);
  };

  /** ip_local_deliver: reassemble, then hand to the transport. */
  private localDeliver(pb: PacketBuffer, dev: NetDevice): void {
    let ip = this.view.wrap(pb.buf, pb.head, pb.len);
    if (isFragment(ip)) {
      const whole = this.reasm.defrag(pb);
      if (!whole) return;
      pb = whole;
      ip = this.view.wrap(pb.buf, pb.head, pb.len);
    }
    // NF_INET_LOCAL_IN: on the whole datagram (ip_local_deliver → NF_HOOK → ip_local_deliver_finish).
    // A REJECT sends from inside the hook and reuses this.view: wrap it again after.
    const nf = this.netfilter;
    if (nf.chains[NF_INPUT]!.active) {
      if (!nf.hook(NF_INPUT, pb, dev, null)) return;
      ip = this.view.wrap(pb.buf, pb.head, pb.len);
    }
    const protocol = ip.protocol;
    const handler = this.protocols[protocol];
    if (!handler) {
      this.net.snmp.IpInUnknownProtos++;
      // RFC 1122 §3.2.2.1: protocol unreachable — not for broadcasts (icmpError checks).
      this.icmpError(pb, 3, 2);
      this.net.drop(pb, 'ip-noproto');
      return;
    }
    this.net.snmp.IpInDelivers++;
    pb.pull(ip.headerLen);
    pb.transportHeader = pb.head;
    handler(pb);
  }

  /** Route lookup for output: the route, or null (IpOutNoRoutes). */
  route(daddr: Ipv4Addr): Route | null {
    return this.fib.lookup(daddr);
  }

  /**
   * ip_queue_xmit / ip_send_skb: `pb` holds the transport header and payload
   * at pb.head with room in front; prepends the IPv4 header and sends it on.
   * Consumes `pb`; returns the error a socket would report, or null.
   */
  output(pb: PacketBuffer, o: IpSendOptions): IpSendError {
    const snmp = this.net.snmp;
    // The total length field has 16 bits: a bigger datagram cannot be sent,
    // fragmented or not (Linux ip_append_data's EMSGSIZE). Cut into fragments
    // anyway it would be a "ping of death" for the receiver.
    if (pb.len > 0xffff - IPV4_HEADER_LEN) {
      this.net.drop(pb, 'pkt-too-big');
      return 'EMSGSIZE';
    }
    snmp.IpOutRequests++;
    const rt = this.fib.lookup(o.daddr);
    if (!rt && !isLimitedBroadcast(o.daddr)) {
      snmp.IpOutNoRoutes++;
      this.net.drop(pb, 'ip-outnoroutes');
      return 'ENETUNREACH';
    }
    // A local destination leaves through lo; 255.255.255.255 through the first real device.
    const dev = rt?.type === 'local' ? (this.loopback ?? rt.dev) : rt ? rt.dev : this.firstDevice();
    if (!dev) {
      snmp.IpOutNoRoutes++;
      this.net.drop(pb, 'ip-outnoroutes');
      return 'ENETUNREACH';
    }
    const saddr = o.saddr || (rt && rt.prefsrc) || this.fib.selectSource(dev, o.daddr);
    const r = this.repr;
    r.src = saddr;
    r.dst = o.daddr;
    r.protocol = o.protocol;
    r.ttl = o.ttl ?? IPV4_DEFAULT_TTL;
    r.payloadLen = pb.len;
    r.ident = this.idents.next(o.daddr, saddr, o.protocol);
    r.dontFrag = o.dontFrag ?? false;
    r.dscp = (o.tos ?? 0) >>> 2;
    r.ecn = (o.tos ?? 0) & 3;
    const at = pb.push(IPV4_HEADER_LEN);
    emitIpv4(r, this.view.wrap(pb.buf, at, IPV4_HEADER_LEN));
    pb.networkHeader = at;
    pb.saddr = saddr;
    pb.daddr = o.daddr;
    pb.protocol = o.protocol;
    pb.nexthop = rt && rt.gateway ? rt.gateway : o.daddr;
    const broadcast = isLimitedBroadcast(o.daddr) || rt?.type === 'broadcast';
    if (broadcast) snmp.IpExtOutBcastPkts++;
    // NF_INET_LOCAL_OUT (__ip_local_out), then NF_INET_POST_ROUTING (ip_output), before
    // fragmentation. A drop there is EPERM to the sender, as Linux's nf_hook returns.
    const dontFrag = r.dontFrag; // a REJECT in a hook sends, reusing this.repr
    const nf = this.netfilter;
    if (nf.chains[NF_OUTPUT]!.active && !nf.hook(NF_OUTPUT, pb, null, dev)) return 'EPERM';
    if (nf.chains[NF_POSTROUTING]!.active && !nf.hook(NF_POSTROUTING, pb, null, dev)) return 'EPERM';
    if (pb.len > dev.mtu) {
      if (dontFrag) {
        snmp.IpFragFails++;
        this.net.drop(pb, 'ip-frag-needed');
        return 'EMSGSIZE';
      }
      ipFragment(this.net, pb, dev.mtu, (f) => this.finishOutput(f, dev, broadcast));
      return null;
    }
    this.finishOutput(pb, dev, broadcast);
    return null;
  }

  /** ip_finish_output2: to the neighbour layer (or straight out for broadcast and lo). */
  private finishOutput(pb: PacketBuffer, dev: NetDevice, broadcast: boolean): void {
    if (dev === this.loopback) this.eth.xmit(pb, dev, MAC_ZERO, ETHERTYPE_IPV4);
    else if (broadcast) this.eth.xmit(pb, dev, MAC_BROADCAST, ETHERTYPE_IPV4);
    else this.neigh.output(pb, dev, pb.nexthop);
  }

  private firstDevice(): NetDevice | null {
    for (const a of this.fib.addresses) if (a.dev !== this.loopback) return a.dev;
    return null;
  }

  /** A buffer for an IPv4 payload of `len` bytes, with room for every header in front. */
  allocPayload(len: number): PacketBuffer {
    return this.net.pool.alloc(len, MAX_HEADER);
  }
}

/** True if the (well-formed) options in buf[from, to) hold a loose or strict source route. */
function hasSourceRoute(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; ) {
    const kind = buf[i]!;
    if (kind === 0) return false; // end of options
    if (kind === 1) {
      i++; // no-operation
      continue;
    }
    if (kind === IPOPT_LSRR || kind === IPOPT_SSRR) return true;
    i += Math.max(2, buf[i + 1] ?? 2);
  }
  return false;
}
