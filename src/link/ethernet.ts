// ethernet: the link header of every device here (the loopback device too,
// with all-zero MACs, as Linux's lo). Receive: classify the frame by its
// destination MAC (PACKET_HOST, BROADCAST, MULTICAST, OTHERHOST — Linux
// eth_type_trans) and pull the header. Transmit: prepend the header, padding
// short frames to the 60-byte Ethernet minimum as a NIC would.

import type { Net } from '../core/net.js';
import { PktType, type PacketBuffer } from '../core/packetBuffer.js';
import type { NetDevice } from '../nic/device.js';
import { isMulticastMac, MAC_BROADCAST, type MacAddr } from '../wire/address.js';
import { ETH_HLEN, ETH_ZLEN, EthernetFrame } from '../wire/ethernet.js';
import type { DevCore } from './dev.js';

export class EthernetLayer {
  private readonly view = new EthernetFrame();

  constructor(
    private readonly net: Net,
    private readonly core: DevCore,
  ) {}

  /** The receive function installed on an Ethernet device: netif_receive_skb. */
  receive(pb: PacketBuffer, dev: NetDevice): void {
    if (this.core.tapCount > 0) this.core.tap(dev, pb, 'in');
    const eth = this.view.wrap(pb.buf, pb.head, pb.len);
    if (eth.check() !== null) {
      dev.stats.rx_length_errors++;
      dev.stats.rx_errors++;
      this.net.drop(pb, 'pkt-too-small');
      return;
    }
    const dst = eth.dst;
    if (dst === dev.mac) pb.pktType = PktType.Host;
    else if (dst === MAC_BROADCAST) pb.pktType = PktType.Broadcast;
    else if (isMulticastMac(dst)) {
      // No multicast group is joined: the NIC's filter would not pass it.
      dev.stats.multicast++;
      this.net.drop(pb, 'mac-multicast');
      return;
    } else pb.pktType = PktType.OtherHost;
    pb.macHeader = pb.head;
    pb.protocol = eth.ethertype;
    pb.pull(ETH_HLEN);
    this.core.receive(pb, dev);
  }

  /**
   * Prepends the Ethernet header and queues the frame on the device. The
   * source is the device's MAC; frames shorter than ETH_ZLEN are zero-padded.
   */
  xmit(pb: PacketBuffer, dev: NetDevice, dst: MacAddr, ethertype: number): void {
    const eth = this.view.wrap(pb.buf, pb.push(ETH_HLEN), ETH_HLEN);
    eth.dst = dst;
    eth.src = dev.mac;
    eth.ethertype = ethertype;
    pb.macHeader = pb.head;
    if (pb.len < ETH_ZLEN && pb.tailroom >= ETH_ZLEN - pb.len) {
      const at = pb.put(ETH_ZLEN - pb.len);
      pb.buf.fill(0, at, pb.head + pb.len);
    }
    this.core.queueXmit(pb, dev);
  }
}
