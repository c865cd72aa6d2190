// dev: the device-independent core of receive and transmit (Linux
// net/core/dev.c).
//   receive     (__netif_receive_skb) hands a received frame to the protocol
//               registered for its ethertype. The packet taps saw the frame
//               just before, in EthernetLayer.receive (tcpdump sees everything,
//               before any filter).
//   queueXmit   (dev_queue_xmit) every frame to send: the packet taps, then
//               the device's qdisc, then the driver's TX ring.

import type { Net } from '../core/net.js';
import { PktType, type PacketBuffer } from '../core/packetBuffer.js';
import type { NetDevice } from '../nic/device.js';
import { qdiscRun } from '../nic/ringNic.js';

export type PacketDirection = 'in' | 'out';

/**
 * A packet tap (ptype_all, AF_PACKET): sees each frame's bytes on a device in
 * both directions. It must copy what it keeps; the buffer is reused.
 */
export type PacketTap = (dev: NetDevice, frame: Uint8Array, off: number, len: number, dir: PacketDirection) => void;

/** A protocol receive handler (struct packet_type's func): owns the buffer from then on. */
export type ProtocolHandler = (pb: PacketBuffer, dev: NetDevice) => void;

export class DevCore {
  private taps: PacketTap[] = [];
  /** ptype_base: ethertype → handler. */
  private handlers = new Map<number, ProtocolHandler>();

  constructor(private readonly net: Net) {}

  addTap(tap: PacketTap): () => void {
    this.taps.push(tap);
    return () => {
      this.taps = this.taps.filter((t) => t !== tap);
    };
  }

  get tapCount(): number {
    return this.taps.length;
  }

  /** dev_add_pack. */
  addProtocol(ethertype: number, handler: ProtocolHandler): void {
    this.handlers.set(ethertype, handler);
  }

  /** Delivers a frame to every tap. */
  tap(dev: NetDevice, pb: PacketBuffer, dir: PacketDirection): void {
    for (let i = 0; i < this.taps.length; i++) this.taps[i]!(dev, pb.buf, pb.head, pb.len, dir);
  }

  /**
   * __netif_receive_skb: `pb` has had its link header parsed and pulled by
   * EthernetLayer.receive (pb.protocol set), after the taps saw the whole frame.
   */
  receive(pb: PacketBuffer, dev: NetDevice): void {
    const handler = this.handlers.get(pb.protocol);
    if (!handler) {
      dev.stats.rx_nohandler++;
      this.net.drop(pb, 'unhandled-protocol');
      return;
    }
    if (pb.pktType === PktType.OtherHost) {
      // Linux hands PACKET_OTHERHOST frames to protocols, which drop them; do it once here.
      this.net.drop(pb, 'otherhost');
      return;
    }
    handler(pb, dev);
  }

  /** dev_queue_xmit: taps, then the qdisc, then the driver. `pb` holds a whole frame. */
  queueXmit(pb: PacketBuffer, dev: NetDevice): void {
    if (!dev.up || !dev.driver) {
      dev.stats.tx_dropped++;
      this.net.drop(pb, 'dev-down');
      return;
    }
    if (this.taps.length > 0) this.tap(dev, pb, 'out');
    if (!dev.qdisc.enqueue(pb)) {
      dev.stats.tx_dropped++;
      this.net.drop(pb, 'qdisc-drop');
      return;
    }
    qdiscRun(dev);
  }
}
