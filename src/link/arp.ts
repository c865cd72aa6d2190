// arp: the Address Resolution Protocol for IPv4 over Ethernet (RFC 826;
// Linux net/ipv4/arp.c). It answers requests for this host's addresses on
// the device they came in on, feeds the neighbour table from what it hears,
// sends the table's requests and probes, and announces an address when an
// interface comes up (gratuitous ARP, RFC 5227 §3).

import type { Net } from '../core/net.js';
import type { PacketBuffer } from '../core/packetBuffer.js';
import { MAX_HEADER } from '../core/packetBuffer.js';
import type { NetDevice } from '../nic/device.js';
import { isMulticastMac, MAC_BROADCAST, MAC_ZERO, type Ipv4Addr, type MacAddr } from '../wire/address.js';
import { ARP_LEN, ARP_OP_REPLY, ARP_OP_REQUEST, ArpPacket, emitArp, parseArp, type ArpRepr } from '../wire/arp.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import type { EthernetLayer } from './ethernet.js';
import type { Neighbour, NeighbourTable } from './neighbour.js';

/** What ARP needs to know of the host's IPv4 addresses. */
export interface ArpAddresses {
  /** True if `a` is configured on `dev` (ARP answers per device: arp_ignore=1 style). */
  isAddressOn(dev: NetDevice, a: Ipv4Addr): boolean;
  selectSource(dev: NetDevice, dst: Ipv4Addr): Ipv4Addr;
}

export class Arp {
  private readonly view = new ArpPacket();
  private readonly repr: ArpRepr = { op: ARP_OP_REQUEST, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0 };

  constructor(
    private readonly net: Net,
    private readonly eth: EthernetLayer,
    private readonly neigh: NeighbourTable,
    private readonly addrs: ArpAddresses,
  ) {
    neigh.ops = {
      solicit: (n, unicast) => this.solicit(n, unicast),
      output: (pb, dev, mac) => this.eth.xmit(pb, dev, mac, ETHERTYPE_IPV4),
    };
  }

  /** arp_rcv + arp_process. */
  readonly rcv = (pb: PacketBuffer, dev: NetDevice): void => {
    const snmp = this.net.snmp;
    const pkt = this.view.wrap(pb.buf, pb.head, pb.len);
    if (pkt.check() !== null) {
      snmp.ArpInErrors++;
      this.net.drop(pb, 'arp-invalid');
      return;
    }
    const r = parseArp(pkt, this.repr);
    if (r.op === ARP_OP_REQUEST) snmp.ArpInRequests++;
    else snmp.ArpInReplies++;
    // A sender claiming a broadcast or multicast MAC, or our own, is bogus (Linux drops these).
    if (r.senderMac === MAC_BROADCAST || r.senderMac === dev.mac || isMulticastMac(r.senderMac)) {
      snmp.ArpInErrors++;
      this.net.drop(pb, 'arp-invalid');
      return;
    }
    const forUs = this.addrs.isAddressOn(dev, r.targetIp);
    if (r.op === ARP_OP_REQUEST && forUs) {
      // The sender will talk to us next: learn it (neigh_event_ns), then answer.
      if (r.senderIp !== 0) this.neigh.update(r.senderIp, dev, r.senderMac, false, true);
      this.send(dev, ARP_OP_REPLY, r.senderMac, r.targetIp, r.senderMac, r.senderIp);
      pb.free();
      return;
    }
    if (r.senderIp !== 0) {
      // A reply to us confirms; anything else (gratuitous ARP, requests for
      // others) only refreshes an entry we already have (arp_accept=0).
      const solicited = r.op === ARP_OP_REPLY && forUs && pkt.targetMac === dev.mac;
      this.neigh.update(r.senderIp, dev, r.senderMac, solicited, false);
    }
    // A reply for us, or an announcement (gratuitous ARP: sender = target,
    // RFC 5227 §2.3), did its work above and is consumed, as Linux's arp_process
    // consumes them; only a request or reply about someone else is a drop.
    if (forUs || r.senderIp === r.targetIp) pb.free();
    else this.net.drop(pb, 'arp-not-for-us');
  };

  /** arp_solicit: asks who has `n.ip`; by broadcast, or unicast to the cached MAC when probing. */
  private solicit(n: Neighbour, unicast: boolean): void {
    const src = this.addrs.selectSource(n.dev, n.ip);
    this.send(n.dev, ARP_OP_REQUEST, unicast ? n.mac : MAC_BROADCAST, src, unicast ? n.mac : MAC_ZERO, n.ip);
  }

  /** Announces `addr` on `dev`: a gratuitous request with sender = target = addr. */
  announce(dev: NetDevice, addr: Ipv4Addr): void {
    this.send(dev, ARP_OP_REQUEST, MAC_BROADCAST, addr, MAC_ZERO, addr);
  }

  private send(dev: NetDevice, op: number, ethDst: MacAddr, senderIp: Ipv4Addr, targetMac: MacAddr, targetIp: Ipv4Addr): void {
    const pb = this.net.pool.alloc(ARP_LEN + 32, MAX_HEADER);
    const at = pb.put(ARP_LEN);
    const r = this.repr;
    r.op = op as ArpRepr['op'];
    r.senderMac = dev.mac;
    r.senderIp = senderIp;
    r.targetMac = targetMac;
    r.targetIp = targetIp;
    emitArp(r, this.view.wrap(pb.buf, at, ARP_LEN));
    if (op === ARP_OP_REQUEST) this.net.snmp.ArpOutRequests++;
    else this.net.snmp.ArpOutReplies++;
    this.eth.xmit(pb, dev, ethDst, ETHERTYPE_ARP);
  }
}
