// The send buffer: bytes from SND.UNA on, copied out by offset, dropped from the front on ACK.
import { describe, expect, it } from 'vitest';
import { SendBuffer } from '../../../src/tcp/sendBuffer.js';

const bytes = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

function out(b: SendBuffer, off: number, len: number): number[] {
  const dst = new Uint8Array(len + 4).fill(0xee);
  b.copyOut(off, len, dst, 2);
  expect(dst[0]).toBe(0xee);
  expect(dst[len + 2]).toBe(0xee); // nothing written outside [at, at+len)
  return [...dst.subarray(2, 2 + len)];
}

describe('SendBuffer', () => {
  it('copies out across chunk boundaries', () => {
    const b = new SendBuffer();
    b.append(bytes(0, 10));
    b.append(bytes(10, 5));
    b.append(bytes(15, 20));
    expect(b.length).toBe(35);
    expect(out(b, 8, 10)).toEqual([...bytes(8, 10)]);
    expect(out(b, 0, 35)).toEqual([...bytes(0, 35)]);
    expect(out(b, 34, 1)).toEqual([34]);
  });

  it('consumes acknowledged bytes from the front, within and across chunks', () => {
    const b = new SendBuffer();
    b.append(bytes(0, 10));
    b.append(bytes(10, 10));
    b.consume(3);
    expect(b.length).toBe(17);
    expect(out(b, 0, 5)).toEqual([...bytes(3, 5)]);
    b.consume(9);
    expect(b.length).toBe(8);
    expect(out(b, 0, 8)).toEqual([...bytes(12, 8)]);
    b.append(bytes(20, 4));
    expect(out(b, 6, 6)).toEqual([...bytes(18, 6)]);
  });

  it('consuming more than it holds empties it; empty appends are ignored', () => {
    const b = new SendBuffer();
    b.append(new Uint8Array(0));
    expect(b.length).toBe(0);
    b.append(bytes(0, 5));
    b.consume(50);
    expect(b.length).toBe(0);
    b.append(bytes(100, 3));
    expect(out(b, 0, 3)).toEqual([100, 101, 102]);
  });

  it('copyOut past the end copies what there is', () => {
    const b = new SendBuffer();
    b.append(bytes(0, 4));
    const dst = new Uint8Array(8);
    b.copyOut(2, 6, dst, 0);
    expect([...dst]).toEqual([2, 3, 0, 0, 0, 0, 0, 0]);
  });

  it('clear drops everything', () => {
    const b = new SendBuffer();
    b.append(bytes(0, 4));
    b.consume(1);
    b.clear();
    expect(b.length).toBe(0);
    b.append(bytes(7, 2));
    expect(out(b, 0, 2)).toEqual([7, 8]);
  });
});
