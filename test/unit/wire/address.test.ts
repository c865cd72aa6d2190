import { describe, expect, it } from 'vitest';
import {
  IPV4_BROADCAST,
  MAC_BROADCAST,
  ipv4ToString,
  isMulticastMac,
  macToString,
  parseCidr,
  parseIpv4,
  parseMac,
  prefixMask,
  readIpv4,
  readMac,
  writeIpv4,
  writeMac,
} from '../../../src/wire/address.js';

describe('IPv4 addresses', () => {
  it('parses dotted quads to uint32', () => {
    expect(parseIpv4('10.0.0.2')).toBe(0x0a000002);
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('192.168.0.199')).toBe(0xc0a800c7);
    expect(parseIpv4('128.0.0.1')).toBe(0x80000001); // positive, not a negative int32
  });

  it('round trips through ipv4ToString', () => {
    for (const s of ['0.0.0.0', '1.2.3.4', '10.0.0.1', '127.0.0.1', '192.168.5.190', '224.0.0.251', '255.255.255.255']) {
      const a = parseIpv4(s);
      expect(a).not.toBeNull();
      expect(ipv4ToString(a!)).toBe(s);
    }
    expect(ipv4ToString(IPV4_BROADCAST)).toBe('255.255.255.255');
  });

  it('rejects malformed addresses', () => {
    for (const s of [
      '256.0.0.1',
      '1.2.3.256',
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '1.2.3.04',
      '00.0.0.0',
      '1..3.4',
      '',
      '1.2.3.',
      '.1.2.3',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '1.2.3.-4',
      '+1.2.3.4',
      '0x1.2.3.4',
      '1.2.3.1e2',
      '1.2.3.4/24',
      '1000.2.3.4',
    ]) {
      expect(parseIpv4(s), s).toBeNull();
    }
  });

  it('reads and writes big-endian at any offset', () => {
    const b = new Uint8Array(9);
    writeIpv4(b, 3, 0xc0a80001);
    expect(Array.from(b)).toEqual([0, 0, 0, 0xc0, 0xa8, 0x00, 0x01, 0, 0]);
    expect(readIpv4(b, 3)).toBe(0xc0a80001);
    writeIpv4(b, 5, 0xffffffff);
    expect(readIpv4(b, 5)).toBe(0xffffffff);
  });

  it('parses CIDR and computes masks', () => {
    expect(parseCidr('10.0.0.1/24')).toEqual({ addr: 0x0a000001, prefixLen: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ addr: 0, prefixLen: 0 });
    expect(parseCidr('1.2.3.4/32')).toEqual({ addr: 0x01020304, prefixLen: 32 });
    for (const s of ['1.2.3.4/33', '1.2.3.4', '1.2.3.4/', '1.2.3.4/-1', '1.2.3.4/100', '1.2.3/8', '01.2.3.4/8', '/8', '1.2.3.4/8/8']) {
      expect(parseCidr(s), s).toBeNull();
    }
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(1)).toBe(0x80000000);
    expect(prefixMask(8)).toBe(0xff000000);
    expect(prefixMask(24)).toBe(0xffffff00);
    expect(prefixMask(31)).toBe(0xfffffffe);
    expect(prefixMask(32)).toBe(0xffffffff);
  });
});

describe('MAC addresses', () => {
  it('parses with colons or dashes, any case', () => {
    expect(parseMac('52:54:00:12:34:56')).toBe(0x5254_0012_3456);
    expect(parseMac('BC-EE-7B-9D-EE-02')).toBe(0xbcee_7b9d_ee02);
    expect(parseMac('ff:ff:ff:ff:ff:ff')).toBe(MAC_BROADCAST);
    expect(parseMac('00:00:00:00:00:00')).toBe(0);
  });

  it('round trips through macToString', () => {
    for (const s of ['00:00:00:00:00:00', '52:54:00:12:34:56', 'bc:ee:7b:9d:ee:02', 'ff:ff:ff:ff:ff:ff', '80:00:00:00:00:01']) {
      expect(macToString(parseMac(s)!)).toBe(s);
    }
  });

  it('rejects malformed MACs', () => {
    for (const s of [
      '',
      '52:54:00:12:34',
      '52:54:00:12:34:56:78',
      '52:54:00:12:34:5g',
      '52:54:00:12:34:5',
      '052:54:00:12:34:56',
      '5254.0012.3456',
      '525400123456',
      '52:54:00:12:34:56:',
      ' 52:54:00:12:34:56',
      '52::00:12:34:56',
    ]) {
      expect(parseMac(s), s).toBeNull();
    }
  });

  it('reads and writes 48 bits exactly at any offset', () => {
    const b = new Uint8Array(10);
    for (const m of [0, 1, 0xffff_ffff_ffff, 0x8000_0000_0000, 0x0000_ffff_ffff, 0xffff_0000_0000, 0xbcee_7b9d_ee02]) {
      for (const off of [0, 1, 4]) {
        b.fill(0xa5);
        writeMac(b, off, m);
        expect(readMac(b, off)).toBe(m);
        if (off > 0) expect(b[off - 1]).toBe(0xa5);
        if (off + 6 < b.length) expect(b[off + 6]).toBe(0xa5);
      }
    }
    writeMac(b, 0, 0x0102_0304_0506);
    expect(Array.from(b.subarray(0, 6))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('classifies group addresses by the I/G bit', () => {
    expect(isMulticastMac(MAC_BROADCAST)).toBe(true);
    expect(isMulticastMac(parseMac('01:00:5e:00:00:fb')!)).toBe(true);
    expect(isMulticastMac(parseMac('33:33:00:00:00:01')!)).toBe(true);
    expect(isMulticastMac(parseMac('52:54:00:12:34:56')!)).toBe(false);
    expect(isMulticastMac(parseMac('02:00:00:00:00:01')!)).toBe(false);
    expect(isMulticastMac(parseMac('fe:ff:ff:ff:ff:ff')!)).toBe(false);
    expect(isMulticastMac(0)).toBe(false);
  });
});
