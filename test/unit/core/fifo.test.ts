import { describe, expect, it } from 'vitest';
import { Fifo } from '../../../src/core/fifo.js';

describe('Fifo', () => {
  it('is first in, first out, with length and peek', () => {
    const q = new Fifo<number>();
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
    q.push(1);
    q.push(2);
    q.push(3);
    expect(q.length).toBe(3);
    expect(q.peek()).toBe(1);
    expect(q.shift()).toBe(1);
    expect([...q]).toEqual([2, 3]);
    expect(q.shift()).toBe(2);
    expect(q.shift()).toBe(3);
    expect(q.shift()).toBeUndefined();
    expect(q.length).toBe(0);
  });

  it('keeps order across compaction of a long-running queue', () => {
    // Interleave pushes and shifts so the head passes the compaction threshold many times.
    const q = new Fifo<number>();
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 300; i++) q.push(next++);
      for (let i = 0; i < 250; i++) expect(q.shift()).toBe(expected++);
      expect(q.length).toBe(next - expected);
    }
    expect([...q]).toEqual(Array.from({ length: next - expected }, (_, i) => expected + i));
    while (q.length > 0) expect(q.shift()).toBe(expected++);
    expect(expected).toBe(next);
  });

  it('clear empties it', () => {
    const q = new Fifo<string>();
    q.push('a');
    q.push('b');
    q.shift();
    q.clear();
    expect(q.length).toBe(0);
    expect([...q]).toEqual([]);
    q.push('c');
    expect(q.shift()).toBe('c');
  });
});
