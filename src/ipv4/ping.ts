// ping: an ICMP echo client — Linux's ping socket (SOCK_DGRAM, IPPROTO_ICMP)
// in miniature: it owns an echo identifier, sends requests and hears the
// replies that carry it. Used by stack-to-stack tests and the benchmark.

import type { Ipv4Addr } from '../wire/address.js';
import type { Icmp } from './icmp.js';

export interface EchoReply {
  from: Ipv4Addr;
  seq: number;
  data: Uint8Array;
  ttl: number;
}

export class PingSocket {
  private replyHandler: ((r: EchoReply) => void) | null = null;

  constructor(
    private readonly icmp: Icmp,
    readonly ident: number,
  ) {
    if (!icmp.bindEcho(ident, (from, seq, data, ttl) => this.replyHandler?.({ from, seq, data: data.slice(), ttl }))) {
      throw Object.assign(new Error(`echo identifier ${ident} is in use`), { code: 'EADDRINUSE' });
    }
  }

  onReply(h: (r: EchoReply) => void): void {
    this.replyHandler = h;
  }

  /** Sends one echo request; throws with the errno code if it cannot leave the host. */
  send(dst: Ipv4Addr, seq: number, data: Uint8Array): void {
    const err = this.icmp.sendEcho(dst, this.ident, seq & 0xffff, data);
    if (err) throw Object.assign(new Error(`ping: ${err}`), { code: err });
  }

  close(): void {
    this.icmp.unbindEcho(this.ident);
  }
}

/** The payload `ping -s size` sends after its timestamp: bytes counting up from 0x10 (iputils). */
export function pingPayload(size: number, seq: number): Uint8Array {
  const d = new Uint8Array(size);
  for (let i = 0; i < size; i++) d[i] = (i + 0x10 + seq) & 0xff;
  return d;
}
