// loopback: the `lo` device (Linux drivers/net/loopback.c). Its transmit is
// its receive: a frame handed to it goes straight into the backlog queue
// (netif_rx) and comes back up the receive path in the next softirq round.
// Traffic between the stack's own addresses flows here and never touches
// the NIC — the seeds' "127.0.0.1 does not go through the network card".

import type { PacketBuffer } from '../core/packetBuffer.js';
import type { NetDevice, NetDriver } from './device.js';
import type { DriverFactory, NicContext } from './ringNic.js';

class LoopbackDriver implements NetDriver {
  constructor(
    private readonly dev: NetDevice,
    private readonly ctx: NicContext,
  ) {}

  startXmit(pb: PacketBuffer): boolean {
    const s = this.dev.stats;
    s.tx_packets++;
    s.tx_bytes += pb.len;
    pb.ifindex = this.dev.ifindex;
    if (this.ctx.softnet.netifRx(pb)) {
      s.rx_packets++;
      s.rx_bytes += pb.len;
    } else s.rx_dropped++;
    return true;
  }

  kick(): void {}
  close(): void {}
}

export const loopbackDriver: DriverFactory = (dev, ctx) => new LoopbackDriver(dev, ctx);
