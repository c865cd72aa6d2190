// address: the two address kinds of this stack as plain numbers, so that
// comparing and hashing them costs nothing and parsing allocates nothing.
//   IPv4 address: an unsigned 32-bit integer (10.0.0.2 === 0x0a000002).
//   MAC address:  a 48-bit integer in a double (exact below 2^53).

export type Ipv4Addr = number;
export type MacAddr = number;

export const IPV4_ANY: Ipv4Addr = 0;
export const IPV4_BROADCAST: Ipv4Addr = 0xffffffff;
export const MAC_BROADCAST: MacAddr = 0xffff_ffff_ffff;
export const MAC_ZERO: MacAddr = 0;

/** Reads a big-endian IPv4 address at buf[off]. */
export function readIpv4(buf: Uint8Array, off: number): Ipv4Addr {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

export function writeIpv4(buf: Uint8Array, off: number, a: Ipv4Addr): void {
  buf[off] = a >>> 24;
  buf[off + 1] = (a >>> 16) & 0xff;
  buf[off + 2] = (a >>> 8) & 0xff;
  buf[off + 3] = a & 0xff;
}

/** Reads a 6-byte MAC address at buf[off]. */
export function readMac(buf: Uint8Array, off: number): MacAddr {
  const hi = (buf[off]! << 8) | buf[off + 1]!;
  const lo = ((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0;
  return hi * 0x1_0000_0000 + lo;
}

export function writeMac(buf: Uint8Array, off: number, m: MacAddr): void {
  const hi = Math.floor(m / 0x1_0000_0000);
  const lo = m >>> 0;
  buf[off] = hi >>> 8;
  buf[off + 1] = hi & 0xff;
  buf[off + 2] = lo >>> 24;
  buf[off + 3] = (lo >>> 16) & 0xff;
  buf[off + 4] = (lo >>> 8) & 0xff;
  buf[off + 5] = lo & 0xff;
}

/** True for group (multicast and broadcast) MACs: the I/G bit of the first octet. */
export function isMulticastMac(m: MacAddr): boolean {
  return (Math.floor(m / 0x100_0000_0000) & 1) === 1;
}

export function ipv4ToString(a: Ipv4Addr): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** Parses dotted-quad notation strictly (four decimal octets); null if invalid. */
export function parseIpv4(s: string): Ipv4Addr | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let a = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    a = a * 256 + n;
  }
  return a >>> 0;
}

/** Parses "a.b.c.d/len"; null if invalid. */
export function parseCidr(s: string): { addr: Ipv4Addr; prefixLen: number } | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const addr = parseIpv4(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (addr === null || !/^[0-9]{1,2}$/.test(lenText)) return null;
  const prefixLen = Number(lenText);
  if (prefixLen > 32) return null;
  return { addr, prefixLen };
}

/** The netmask of a prefix length as a uint32 (24 → 0xffffff00). */
export function prefixMask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

export function macToString(m: MacAddr): string {
  const b = new Uint8Array(6);
  writeMac(b, 0, m);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with '-'); null if invalid. */
export function parseMac(s: string): MacAddr | null {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6) return null;
  let m = 0;
  for (const p of parts) {
    if (!/^[0-9a-fA-F]{2}$/.test(p)) return null;
    m = m * 256 + parseInt(p, 16);
  }
  return m;
}
