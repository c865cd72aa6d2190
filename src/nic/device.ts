// device: the net_device of this stack — a named interface with an MTU, a
// MAC, counters as `ip -s link` and `ethtool -S` print them, a transmit
// queue, and the driver that moves its frames. The layer above installs the
// receive function (netif_receive_skb); the device never imports it.

import type { PacketBuffer } from '../core/packetBuffer.js';
import type { MacAddr } from '../wire/address.js';
import { PfifoQdisc } from './qdisc.js';

/** struct rtnl_link_stats64 plus the NIC's own counters (ethtool -S). */
export class DeviceStats {
  rx_packets = 0;
  rx_bytes = 0;
  rx_errors = 0;
  rx_dropped = 0;
  rx_fifo_errors = 0; // no free RX descriptor: the ring was full (ifconfig "overruns")
  rx_length_errors = 0;
  rx_missed_errors = 0;
  rx_nohandler = 0; // no protocol handler for the ethertype
  multicast = 0;
  tx_packets = 0;
  tx_bytes = 0;
  tx_errors = 0;
  tx_dropped = 0;
  // ethtool -S style NIC counters
  interrupts = 0;
  napi_polls = 0;
  tx_doorbells = 0;
  tx_busy = 0; // TX ring full when the qdisc tried to hand a frame over
  tx_completions = 0; // TX completion interrupts (the ring had been full)
}

/** What a driver provides to its device. */
export interface NetDriver {
  /**
   * ndo_start_xmit: copies the frame into the TX ring. Returns false when the
   * ring is full (NETDEV_TX_BUSY): the frame stays with the caller.
   */
  startXmit(pb: PacketBuffer): boolean;
  /** Rings the TX doorbell: the frames handed over since the last kick go to the wire. */
  kick(): void;
  /** Stops the hardware. */
  close(): void;
}

export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;

export class NetDevice {
  readonly stats = new DeviceStats();
  readonly qdisc: PfifoQdisc;
  flags = 0;
  /** netif_receive_skb of the layer above; set when the device is attached to a stack. */
  receive: (pb: PacketBuffer) => void = (pb) => {
    this.stats.rx_nohandler++;
    pb.free();
  };
  driver: NetDriver | null = null;

  constructor(
    readonly name: string,
    readonly ifindex: number,
    public mtu: number,
    public mac: MacAddr,
    txQueueLen = 1000,
  ) {
    this.qdisc = new PfifoQdisc(txQueueLen);
  }

  get up(): boolean {
    return (this.flags & IFF_UP) !== 0;
  }
}
