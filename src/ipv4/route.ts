// route: the interface addresses (Linux in_device/in_ifaddr) and the routing
// table (the FIB). Lookups pick the longest matching prefix, then the lowest
// metric. Adding an address adds, as Linux does, a local route for it and an
// on-link route for its prefix; a default route names a gateway.
//
//   ip route               ip route get 10.0.0.1
//   10.0.0.0/24 dev tap0   → { type: unicast, dev: tap0, gateway: 0 (on-link) }
//   default via 10.0.0.1   → the next hop for everything else

import type { NetDevice } from '../nic/device.js';
import { ipv4ToString, prefixMask, type Ipv4Addr } from '../wire/address.js';

export interface InetAddress {
  addr: Ipv4Addr;
  prefixLen: number;
  /** The subnet broadcast address (all host bits set); 0 for /31 and /32. */
  broadcast: Ipv4Addr;
  dev: NetDevice;
}

export type RouteType = 'unicast' | 'local' | 'broadcast';

export interface Route {
  dst: Ipv4Addr;
  prefixLen: number;
  mask: number;
  dev: NetDevice;
  /** Next hop; 0 means the destination is on the link. */
  gateway: Ipv4Addr;
  type: RouteType;
  /** Preferred source address ("src" in `ip route`). */
  prefsrc: Ipv4Addr;
  metric: number;
}

export class Fib {
  private routes: Route[] = [];
  private addrs: InetAddress[] = [];

  get addresses(): readonly InetAddress[] {
    return this.addrs;
  }

  get table(): readonly Route[] {
    return this.routes;
  }

  /** `ip addr add A/len dev D`: the address, its local route and its on-link prefix route. */
  addAddress(dev: NetDevice, addr: Ipv4Addr, prefixLen: number): InetAddress {
    const mask = prefixMask(prefixLen);
    const broadcast = prefixLen >= 31 ? 0 : ((addr & mask) | ~mask) >>> 0;
    const ifa: InetAddress = { addr, prefixLen, broadcast, dev };
    this.addrs.push(ifa);
    this.addRoute({ dst: addr, prefixLen: 32, dev, gateway: 0, type: 'local', prefsrc: addr, metric: 0 });
    if (broadcast !== 0) this.addRoute({ dst: broadcast, prefixLen: 32, dev, gateway: 0, type: 'broadcast', prefsrc: addr, metric: 0 });
    if (prefixLen < 32) this.addRoute({ dst: (addr & mask) >>> 0, prefixLen, dev, gateway: 0, type: 'unicast', prefsrc: addr, metric: 0 });
    return ifa;
  }

  addRoute(r: Omit<Route, 'mask'>): Route {
    const mask = prefixMask(r.prefixLen);
    const route: Route = { ...r, dst: (r.dst & mask) >>> 0, mask };
    this.routes.push(route);
    // Longest prefix first, then lowest metric: lookup takes the first match.
    this.routes.sort((a, b) => b.prefixLen - a.prefixLen || a.metric - b.metric);
    return route;
  }

  /** Longest-prefix match over the whole table. */
  lookup(dst: Ipv4Addr): Route | null {
    for (const r of this.routes) if (((dst & r.mask) >>> 0) === r.dst) return r;
    return null;
  }

  /**
   * True if `a` is one of this host's addresses (on any device: the weak host
   * model, RFC 1122 §3.3.4.2) — all of 127/8 once a loopback address is
   * configured, as Linux's "local 127.0.0.0/8 dev lo".
   */
  isLocal(a: Ipv4Addr): boolean {
    const loopback = a >>> 24 === 127;
    for (const ifa of this.addrs) if (ifa.addr === a || (loopback && ifa.addr >>> 24 === 127)) return true;
    return false;
  }

  /** The address `a` if it is configured on `dev`. */
  addressOn(dev: NetDevice, a: Ipv4Addr): InetAddress | null {
    for (const ifa of this.addrs) if (ifa.dev === dev && ifa.addr === a) return ifa;
    return null;
  }

  /** True if `a` is the subnet broadcast address of an address on `dev`. */
  isBroadcastOn(dev: NetDevice, a: Ipv4Addr): boolean {
    for (const ifa of this.addrs) if (ifa.dev === dev && ifa.broadcast === a && a !== 0) return true;
    return false;
  }

  /**
   * inet_select_addr: the source address for talking to `dst` out of `dev` —
   * an address on `dev` in the same subnet, else the first address on `dev`,
   * else any address.
   */
  selectSource(dev: NetDevice, dst: Ipv4Addr): Ipv4Addr {
    let first = 0;
    for (const ifa of this.addrs) {
      if (ifa.dev !== dev) continue;
      if (first === 0) first = ifa.addr;
      const mask = prefixMask(ifa.prefixLen);
      if (((ifa.addr ^ dst) & mask) === 0) return ifa.addr;
    }
    return first !== 0 ? first : (this.addrs[0]?.addr ?? 0);
  }

  removeDevice(dev: NetDevice): void {
    this.addrs = this.addrs.filter((a) => a.dev !== dev);
    this.routes = this.routes.filter((r) => r.dev !== dev);
  }

  /** The table as `ip route show table all` prints it, one line a route. */
  show(): string[] {
    return this.routes.map((r) => {
      const dst = r.prefixLen === 0 ? 'default' : `${ipv4ToString(r.dst)}${r.prefixLen === 32 ? '' : `/${r.prefixLen}`}`;
      const type = r.type === 'unicast' ? '' : `${r.type} `;
      const via = r.gateway ? ` via ${ipv4ToString(r.gateway)}` : '';
      const src = r.prefsrc ? ` src ${ipv4ToString(r.prefsrc)}` : '';
      return `${type}${dst}${via} dev ${r.dev.name}${src}${r.metric ? ` metric ${r.metric}` : ''}`;
    });
  }
}
