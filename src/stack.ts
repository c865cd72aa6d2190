// stack: one instance of the network stack — the layers built and wired to
// each other once, bottom to top. Each layer registers its receive handler
// with the one below (an ethertype, an IP protocol number); none imports
// the layer above it.
//
//   NIC driver ─▶ EthernetLayer.receive ─▶ DevCore (taps, ptype table)
//                   ├─ ETH_P_ARP ─▶ Arp.rcv ─▶ NeighbourTable
//                   └─ ETH_P_IP  ─▶ Ipv4.rcv ─▶ IPPROTO_ICMP ─▶ Icmp.rcv
//                                              └─ IPPROTO_UDP  ─▶ Udp.rcv ─▶ UdpSocket

import { Net, type DropReason } from './core/net.js';
import { nonZeroRows } from './core/counters.js';
import type { Runtime } from './core/runtime.js';
import type { SoftnetOptions } from './core/softnet.js';
import { DevCore, type PacketTap } from './link/dev.js';
import { EthernetLayer } from './link/ethernet.js';
import { Arp } from './link/arp.js';
import { DEFAULT_NEIGH_PARAMS, NeighbourTable, type NeighParams } from './link/neighbour.js';
import { Fib } from './ipv4/route.js';
import { Ipv4 } from './ipv4/ip.js';
import type { Netfilter } from './ipv4/netfilter.js';
import { Icmp } from './ipv4/icmp.js';
import { PingSocket } from './ipv4/ping.js';
import { TcpProto, type TcpConfig } from './tcp/tcp.js';
import { TcpSocket, errnoError, tuningOptions, type TcpSocketOptions, type TcpTuning } from './socket/tcpSocket.js';
import { TcpServer, type TcpServerOptions } from './socket/tcpServer.js';
import { Udp } from './udp/udp.js';
import { socketOptions, UdpSocket, type RemoteInfo, type UdpSocketOptions, type UdpSocketType } from './udp/socket.js';
import { IFF_LOOPBACK, IFF_UP, NetDevice } from './nic/device.js';
import { loopbackDriver } from './nic/loopback.js';
import type { DriverFactory } from './nic/ringNic.js';
import { parseCidr, parseIpv4, parseMac, type Ipv4Addr, type MacAddr } from './wire/address.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4 } from './wire/ethernet.js';
import { IPV4_MIN_MTU } from './wire/ipv4.js';

export interface StackOptions {
  runtime: Runtime;
  softnet?: SoftnetOptions;
  neigh?: Partial<NeighParams>;
  tcp?: Partial<TcpConfig>;
}

export interface ConnectOptions extends TcpSocketOptions, TcpTuning {
  port: number;
  host?: string;
  localAddress?: string;
  localPort?: number;
}

/** Socket options, and the TCP tuning its connections inherit from the listener (as on Linux). */
export type ServerOptions = TcpServerOptions;

export interface InterfaceOptions {
  name: string;
  mac: MacAddr | string;
  mtu?: number;
  /** Addresses in CIDR notation, e.g. "10.0.0.2/24". */
  addresses?: string[];
  /** Default gateway, e.g. "10.0.0.1". */
  gateway?: string;
  txQueueLen?: number;
  driver: DriverFactory;
}

function invalid(msg: string): Error {
  return Object.assign(new Error(msg), { code: 'EINVAL' });
}

export class Stack {
  readonly net: Net;
  readonly core: DevCore;
  readonly eth: EthernetLayer;
  readonly neigh: NeighbourTable;
  readonly arp: Arp;
  readonly fib = new Fib();
  readonly ip: Ipv4;
  readonly icmp: Icmp;
  /** The netfilter hooks and their rule chains (iptables of this stack). */
  readonly netfilter: Netfilter;
  readonly tcp: TcpProto;
  readonly udp: Udp;
  readonly lo: NetDevice;
  private devices: NetDevice[] = [];
  private nextEchoIdent: number;

  constructor(opts: StackOptions) {
    this.net = new Net(opts.runtime, { softnet: opts.softnet });
    this.core = new DevCore(this.net);
    this.eth = new EthernetLayer(this.net, this.core);
    this.neigh = new NeighbourTable(this.net, { ...DEFAULT_NEIGH_PARAMS, ...opts.neigh });
    this.arp = new Arp(this.net, this.eth, this.neigh, {
      isAddressOn: (dev, a) => this.fib.addressOn(dev, a) !== null,
      selectSource: (dev, dst) => this.fib.selectSource(dev, dst),
    });
    this.ip = new Ipv4(this.net, this.fib, this.eth, this.neigh);
    this.netfilter = this.ip.netfilter;
    this.icmp = new Icmp(this.net, this.ip);
    // A failed resolution reaches the local sender as ICMP host unreachable.
    this.neigh.onFailure = (pb) => this.icmp.send(pb, 3, 1, 0);
    this.tcp = new TcpProto(this.net, this.ip, this.icmp, opts.tcp);
    this.udp = new Udp(this.net, this.ip, this.icmp);
    this.core.addProtocol(ETHERTYPE_ARP, this.arp.rcv);
    this.core.addProtocol(ETHERTYPE_IPV4, this.ip.rcv);
    this.net.softnet.setBacklogReceiver((pb) => {
      const dev = this.devices[pb.ifindex];
      if (dev) dev.receive(pb);
      else pb.free();
    });
    this.nextEchoIdent = opts.runtime.random.u32() & 0xffff;

    this.lo = this.attach('lo', 0, 65536, loopbackDriver, 1000);
    this.lo.flags |= IFF_LOOPBACK | IFF_UP;
    this.ip.loopback = this.lo;
    this.fib.addAddress(this.lo, 0x7f000001, 8);
  }

  get rt(): Runtime {
    return this.net.rt;
  }

  private attach(name: string, mac: MacAddr, mtu: number, driver: DriverFactory, txQueueLen: number): NetDevice {
    const dev = new NetDevice(name, this.devices.length || 1, mtu, mac, txQueueLen);
    if (this.devices.length === 0) this.devices.push(dev); // ifindex 0 is never used: lo is 1
    this.devices[dev.ifindex] = dev;
    dev.receive = (pb) => this.eth.receive(pb, dev);
    dev.driver = driver(dev, { rt: this.net.rt, softnet: this.net.softnet, pool: this.net.pool });
    return dev;
  }

  /** Adds an Ethernet interface, brings it up and announces its addresses (gratuitous ARP). */
  addInterface(o: InterfaceOptions): NetDevice {
    const mac = typeof o.mac === 'string' ? parseMac(o.mac) : o.mac;
    if (mac === null) throw invalid(`invalid MAC address '${o.mac}'`);
    const mtu = o.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < IPV4_MIN_MTU || mtu > 65521) throw invalid(`MTU must be an integer from ${IPV4_MIN_MTU} to 65521, got ${mtu}`);
    if (this.devices.some((d) => d?.name === o.name)) throw Object.assign(new Error(`interface '${o.name}' exists`), { code: 'EEXIST' });
    const cidrs = (o.addresses ?? []).map((s) => {
      const c = parseCidr(s);
      if (!c) throw invalid(`invalid address '${s}': expected a.b.c.d/len`);
      return c;
    });
    const gw = o.gateway === undefined ? null : parseIpv4(o.gateway);
    if (o.gateway !== undefined && gw === null) throw invalid(`invalid gateway '${o.gateway}'`);

    const dev = this.attach(o.name, mac, mtu, o.driver, o.txQueueLen ?? 1000);
    dev.flags |= IFF_UP;
    for (const c of cidrs) this.fib.addAddress(dev, c.addr, c.prefixLen);
    if (gw !== null) this.fib.addRoute({ dst: 0, prefixLen: 0, dev, gateway: gw, type: 'unicast', prefsrc: 0, metric: 0 });
    for (const c of cidrs) this.arp.announce(dev, c.addr);
    return dev;
  }

  device(name: string): NetDevice | undefined {
    return this.devices.find((d) => d?.name === name);
  }

  get interfaces(): NetDevice[] {
    return this.devices.filter((d, i) => i > 0 && d !== undefined);
  }

  /** Adds a packet tap on every device (both directions, before any filtering). */
  addTap(tap: PacketTap): () => void {
    return this.core.addTap(tap);
  }

  /** Opens an ICMP echo ("ping") socket with a free identifier. */
  createPingSocket(): PingSocket {
    for (let i = 0; i < 0x10000; i++) {
      const ident = (this.nextEchoIdent = (this.nextEchoIdent + 1) & 0xffff);
      try {
        return new PingSocket(this.icmp, ident);
      } catch {
        /* taken: try the next */
      }
    }
    throw Object.assign(new Error('no free echo identifier'), { code: 'EADDRINUSE' });
  }

  /**
   * Opens a UDP socket, like dgram.createSocket: 'udp4' or { type: 'udp4',
   * reuseAddr, recvBufferSize, sendBufferSize }; `listener` is added for 'message'.
   */
  createSocket(type: UdpSocketType | UdpSocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): UdpSocket {
    const sock = new UdpSocket(this.udp, this.net.rt, socketOptions(type));
    if (listener) sock.on('message', listener);
    return sock;
  }

  /** net.createServer: a TCP server whose connections are TcpSockets. */
  createServer(opts?: ServerOptions | ((s: TcpSocket) => void), onConnection?: (s: TcpSocket) => void): TcpServer {
    if (typeof opts === 'function') {
      onConnection = opts;
      opts = {};
    }
    return new TcpServer(this.tcp, this.rt, opts ?? {}, onConnection);
  }

  /** net.connect: an active open. Errors (ECONNREFUSED, ETIMEDOUT, …) arrive as 'error' events. */
  connect(portOrOpts: number | ConnectOptions, host?: string | (() => void), cb?: () => void): TcpSocket {
    const o: ConnectOptions = typeof portOrOpts === 'object' ? portOrOpts : { port: portOrOpts, host: typeof host === 'string' ? host : undefined };
    if (typeof host === 'function') cb = host;
    if (!Number.isInteger(o.port) || o.port <= 0 || o.port > 65535) {
      throw Object.assign(new RangeError(`Port should be > 0 and < 65536. Received ${o.port}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    const raddr = parseIpv4(o.host ?? '127.0.0.1');
    if (raddr === null) throw invalid(`invalid host '${o.host}': expected an IPv4 address`);
    const laddr = o.localAddress ? parseIpv4(o.localAddress) : 0;
    if (laddr === null) throw invalid(`invalid localAddress '${o.localAddress}'`);
    const ep = this.tcp.newEndpoint(tuningOptions(o));
    const sock = new TcpSocket(this.tcp, ep, false, o);
    if (cb) sock.once('connect', cb);
    try {
      this.tcp.connect(ep, raddr, o.port, laddr, o.localPort ?? 0);
    } catch (e) {
      const err = e as Error & { code?: string };
      this.rt.defer(() => sock.destroy(err.code ? errnoError(err.code, 'connect') : err));
    }
    return sock;
  }

  /** Every drop so far, by reason. */
  drops(): Array<[DropReason, number]> {
    return [...this.net.drops.entries()];
  }

  /** A snapshot of every counter, by group, for printing. */
  counters(): Record<string, Array<[string, number]>> {
    const out: Record<string, Array<[string, number]>> = {
      snmp: nonZeroRows(this.net.snmp),
      softnet: nonZeroRows(this.net.softnet.stats),
      tcp: nonZeroRows(this.net.tcp),
      drops: this.drops(),
    };
    for (const d of this.interfaces) out[`dev ${d.name}`] = nonZeroRows(d.stats);
    return out;
  }

  /** Stops every device and timer owned by the stack. */
  close(): void {
    this.tcp.close();
    for (const d of this.interfaces) {
      d.flags &= ~IFF_UP;
      d.driver?.close();
      d.qdisc.purge();
    }
    this.neigh.clear();
    this.ip.reasm.clear();
  }
}
