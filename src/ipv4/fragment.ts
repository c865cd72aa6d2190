// fragment: ip_fragment — cuts an outgoing datagram larger than the device
// MTU into fragments (RFC 791 §2.3, "Fragmentation and reassembly"). Every
// fragment but the last carries a multiple of 8 payload bytes and MF; each
// copies the original header (this stack sends no options, so none need
// filtering) with its own offset, length and checksum.

import type { Net } from '../core/net.js';
import { MAX_HEADER, type PacketBuffer } from '../core/packetBuffer.js';
import { Ipv4Packet } from '../wire/ipv4.js';

const view = new Ipv4Packet();

/**
 * Splits `pb` (an IPv4 datagram at pb.head, header checksummed) into
 * fragments of at most `mtu` bytes and hands each to `out`. `pb` is consumed.
 */
export function ipFragment(net: Net, pb: PacketBuffer, mtu: number, out: (frag: PacketBuffer) => void): void {
  const ip = view.wrap(pb.buf, pb.head, pb.len);
  const hlen = ip.headerLen;
  const payload = pb.len - hlen;
  const maxChunk = (mtu - hlen) & ~7;
  const baseOffset = ip.fragOffset; // a fragment can be fragmented again
  const lastHadMf = ip.moreFrags;
  const frags: PacketBuffer[] = [];
  for (let done = 0; done < payload; done += maxChunk) {
    const chunk = Math.min(maxChunk, payload - done);
    const f = net.pool.alloc(hlen + chunk, MAX_HEADER);
    const at = f.put(hlen + chunk);
    f.buf.set(pb.buf.subarray(pb.head, pb.head + hlen), at);
    f.buf.set(pb.buf.subarray(pb.head + hlen + done, pb.head + hlen + done + chunk), at + hlen);
    const fv = view.wrap(f.buf, at, hlen + chunk);
    fv.totalLength = hlen + chunk;
    const more = done + chunk < payload || lastHadMf;
    fv.moreFrags = more;
    fv.fragOffset = baseOffset + done;
    fv.fillChecksum();
    f.networkHeader = at;
    f.saddr = pb.saddr;
    f.daddr = pb.daddr;
    f.nexthop = pb.nexthop;
    f.protocol = pb.protocol;
    frags.push(f);
  }
  net.snmp.IpFragOKs++;
  net.snmp.IpFragCreates += frags.length;
  pb.free();
  for (const f of frags) out(f);
}
