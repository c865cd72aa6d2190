// isn: the stack's keyed hash and the numbers it derives from a connection's
// addresses, so an off-path attacker cannot guess them: initial sequence
// numbers (RFC 6528; Linux secure_tcp_seq), TSval offsets (Linux
// secure_tcp_ts_off, since 4.10) and the two hashes in a SYN cookie
// (syncookies.ts). The secret is a per-stack random key (TcpProto.secret).

import { createHmac } from 'node:crypto';

/**
 * HMAC-SHA256 under `secret` over the 4-tuple, `count` and `c` — which keeps
 * the uses apart: 0 and 1 for SYN cookies, 2 for ISNs, 3 for TSval offsets —
 * cut to its first 32 bits.
 */
export function keyedHash(secret: Buffer, laddr: number, lport: number, raddr: number, rport: number, count: number, c: number): number {
  const h = createHmac('sha256', secret);
  const b = Buffer.allocUnsafe(17);
  b.writeUInt32BE(laddr >>> 0, 0);
  b.writeUInt32BE(raddr >>> 0, 4);
  b.writeUInt16BE(lport, 8);
  b.writeUInt16BE(rport, 10);
  b.writeUInt32BE(count >>> 0, 12);
  b[16] = c;
  return h.update(b).digest().readUInt32BE(0);
}

/**
 * The TSval offset of a connection (Linux secure_tcp_ts_off): a keyed hash
 * of the addresses, so every segment of a connection — the SYN-ACK built
 * before the endpoint exists included — uses the same clock.
 */
export function secureTsOffset(secret: Buffer, laddr: number, raddr: number): number {
  return keyedHash(secret, laddr, 0, raddr, 0, 0, 3);
}

/** RFC 6528: ISN = M + F(4-tuple, secret), M a 4 µs clock (`now` in ms). */
export function secureTcpSeq(secret: Buffer, now: number, laddr: number, lport: number, raddr: number, rport: number): number {
  const m = Math.floor(now * 250);
  return (m + keyedHash(secret, laddr, lport, raddr, rport, 0, 2)) >>> 0;
}
