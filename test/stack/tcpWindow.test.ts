// Flow control: window scaling (RFC 7323 §2) with a tiny and a huge receive
// buffer, a peer that does not scale, the right edge that never moves left
// (RFC 9293 §3.8.6.2.2), and the SACK blocks a receiver reports (RFC 2018 §4).
import { describe, expect, it } from 'vitest';
import { wscaleFor } from '../../src/tcp/endpoint.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../src/wire/tcp.js';
import { makePair, runUntil, type Pair } from '../helpers/pair.js';
import { decodeTcp, errorCodes, isSyn, isSynAck, pattern, RawPeer, serve, sha256, tcpSniff, type Seg } from '../helpers/tcp.js';

const MB = 1024 * 1024;

/** Sends `body` A→B; B reads it all. Returns what B got. */
async function send(p: Pair, body: Buffer, o: { serverRcvBuf?: number; clientRcvBuf?: number; reverse?: boolean } = {}): Promise<Buffer> {
  const socks = serve(p, 80, o.serverRcvBuf ? { rcvBuf: o.serverRcvBuf } : {});
  const c = p.a.connect({ port: 80, host: '10.0.0.2', rcvBuf: o.clientRcvBuf });
  errorCodes(c);
  const got: Buffer[] = [];
  let ended = false;
  if (o.reverse) {
    c.on('data', (d: Buffer) => got.push(d));
    c.on('end', () => (ended = true));
    await runUntil(p.rt, () => socks.length === 1, 100);
    socks[0]!.end(body);
  } else {
    c.end(body);
    await runUntil(p.rt, () => socks.length === 1, 100);
    socks[0]!.on('data', (d: Buffer) => got.push(d));
    socks[0]!.on('end', () => (ended = true));
  }
  await runUntil(p.rt, () => ended, 600_000, 5);
  return Buffer.concat(got);
}

/** The window a segment advertises, in bytes, given the shift its sender announced. */
const bytesOf = (s: Seg, shift: number) => (s.flags & TCP_SYN ? s.window : s.window << shift);

describe('window scaling (RFC 7323)', () => {
  it('a 2 KB receive buffer: no scaling, windows never above 2 KB, 1 MB still arrives', async () => {
    const p = makePair({ seed: 2, faults: { delayMs: 1 } });
    // Both directions in one list, in the order they were sent.
    const all: Array<{ from: 'a' | 'b'; s: Seg }> = [];
    for (const [st, from] of [[p.a, 'a'], [p.b, 'b']] as const) {
      st.addTap((_d, buf, off, len, dir) => {
        const s = dir === 'out' ? decodeTcp(buf.slice(off, off + len)) : null;
        if (s) all.push({ from, s });
      });
    }
    const body = pattern(MB, 1);
    const got = await send(p, body, { serverRcvBuf: 2048 });
    expect(sha256(got)).toBe(sha256(body));
    const fromB = all.filter((x) => x.from === 'b').map((x) => x.s);
    const synAck = fromB.find(isSynAck)!;
    expect(synAck.opts.wscale).toBe(0);
    expect(wscaleFor(2048)).toBe(0);
    expect(Math.max(...fromB.map((s) => s.window))).toBeLessThanOrEqual(2048);
    // The sender never goes past the right edge the receiver last advertised.
    let edge = 0;
    let checked = 0;
    for (const { from, s } of all) {
      if (from === 'b' && s.flags & TCP_ACK) edge = (s.ack + s.window) >>> 0;
      else if (from === 'a' && s.data.length > 0 && edge !== 0) {
        expect(((s.seq + s.data.length - edge) | 0) <= 0).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(MB / 2048);
  });

  it('an 8 MB receive buffer: the SYN offers the shift that covers it and windows above 64 KB are used', async () => {
    const p = makePair({ seed: 3 });
    const sniffA = tcpSniff(p.a);
    const body = pattern(8 * MB, 2);
    const got = await send(p, body, { clientRcvBuf: 8 * MB, reverse: true });
    expect(sha256(got)).toBe(sha256(body));
    const syn = sniffA.find(isSyn)!;
    expect(syn.opts.wscale).toBe(wscaleFor(8 * MB));
    expect(65535 << syn.opts.wscale).toBeGreaterThanOrEqual(8 * MB);
    expect(65535 << (syn.opts.wscale - 1)).toBeLessThan(8 * MB);
    expect(syn.window).toBe(65535); // a SYN's window is never scaled
    const wins = sniffA.filter((s) => !(s.flags & TCP_SYN)).map((s) => bytesOf(s, syn.opts.wscale));
    expect(Math.max(...wins)).toBeGreaterThan(65535);
    expect(Math.max(...wins)).toBeLessThanOrEqual(8 * MB);
  });

  it('against a peer that does not scale, no shift is used either way and the window stays open', () => {
    const p = makePair();
    const peer = new RawPeer(p);
    const c = p.b.connect({ port: peer.port, host: '10.0.0.3', localPort: 7000, rcvBuf: MB });
    errorCodes(c);
    p.rt.run();
    const syn = peer.last();
    expect(syn.opts.wscale).toBe(wscaleFor(MB));
    peer.rcvNxt = syn.seq + 1;
    peer.send(7000, { flags: TCP_SYN | TCP_ACK, options: { mss: 1460 } });
    const ack = peer.last();
    expect(c.ep!.rcvWscale).toBe(0);
    expect(c.ep!.sndWscale).toBe(0);
    expect(ack.window).toBe(65535); // not 1 MB >>> 0 truncated to 16 bits
    peer.send(7000, { flags: TCP_ACK | TCP_PSH, payload: pattern(1000) });
    expect(peer.last().ack).toBe(peer.sndNxt);
    expect(peer.last().window).toBeGreaterThan(60_000);
  });

  it('the right edge of the window never moves left (RFC 9293 §3.8.6.2.2), with a reader that reads in bursts', async () => {
    const p = makePair({ seed: 8, faults: { delayMs: 2 } });
    const socks = serve(p, 80, { rcvBuf: 32_768 });
    const sniffB = tcpSniff(p.b);
    const c = p.a.connect(80, '10.0.0.2');
    const body = pattern(2 * MB, 3);
    c.end(body);
    await runUntil(p.rt, () => socks.length === 1, 100);
    const s = socks[0]!;
    const got: Buffer[] = [];
    let ended = false;
    s.on('end', () => (ended = true));
    s.on('data', (d: Buffer) => {
      got.push(d);
      s.pause(); // read in bursts: one chunk, then 7 ms of nothing
    });
    while (!ended) {
      await runUntil(p.rt, () => false, 7, 1);
      s.resume();
      await runUntil(p.rt, () => false, 1, 1);
    }
    expect(sha256(Buffer.concat(got))).toBe(sha256(body));
    const shift = sniffB.find(isSynAck)!.opts.wscale;
    let right = 0;
    let first = true;
    for (const seg of sniffB) {
      if (seg.flags & TCP_SYN || !(seg.flags & TCP_ACK)) continue;
      const edge = (seg.ack + bytesOf(seg, shift)) >>> 0;
      if (!first) expect(((edge - right) | 0) >= 0).toBe(true);
      right = edge;
      first = false;
    }
  });
});

describe('SACK blocks (RFC 2018 §4)', () => {
  function sackPeer(ts: boolean) {
    const p = makePair();
    serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80, { mss: 1460, sackPermitted: true, ...(ts ? { timestamps: true, tsVal: 100, tsEcr: 0 } : {}) });
    expect(ep.sackOk).toBe(true);
    const base = peer.sndNxt;
    const sendAt = (off: number, len = 100) =>
      peer.send(80, { flags: TCP_ACK, seq: (base + off) >>> 0, payload: pattern(len, off), options: ts ? { timestamps: true, tsVal: 200, tsEcr: 0 } : undefined });
    const blocks = () => {
      const o = peer.last().opts;
      return Array.from({ length: o.sackCount }, (_, i) => [o.sackBlocks[2 * i]! - base, o.sackBlocks[2 * i + 1]! - base]);
    };
    return { p, peer, ep, base, sendAt, blocks };
  }

  it('the block holding the latest segment comes first, then the most recently reported ones', () => {
    const x = sackPeer(false);
    x.sendAt(200);
    expect(x.peer.last().ack).toBe(x.base);
    expect(x.blocks()).toEqual([[200, 300]]);
    x.sendAt(400);
    expect(x.blocks()).toEqual([
      [400, 500],
      [200, 300],
    ]);
    x.sendAt(600);
    x.sendAt(800);
    x.sendAt(1000);
    expect(x.blocks()).toEqual([
      [1000, 1100],
      [800, 900],
      [600, 700],
      [400, 500],
    ]); // four fit without timestamps
    x.sendAt(300); // joins 200-300 and 400-500
    expect(x.blocks()[0]).toEqual([200, 500]);
    expect(x.blocks()).toHaveLength(4);
    x.sendAt(0, 200); // fills the hole: cumulative ACK to 500
    expect(x.peer.last().ack).toBe((x.base + 500) >>> 0);
    // That segment advanced the ACK: the rest follow in the order last reported.
    expect(x.blocks()).toEqual([
      [1000, 1100],
      [800, 900],
      [600, 700],
    ]);
  });

  it('with timestamps at most three blocks fit', () => {
    const x = sackPeer(true);
    for (const off of [200, 400, 600, 800]) x.sendAt(off);
    expect(x.blocks()).toEqual([
      [800, 900],
      [600, 700],
      [400, 500],
    ]);
    expect(x.peer.last().opts.timestamps).toBe(true);
  });

  it('a duplicate below RCV.NXT draws an immediate ACK', () => {
    const x = sackPeer(false);
    x.sendAt(0);
    const n = x.peer.seen.length;
    x.sendAt(0);
    expect(x.peer.seen.length).toBe(n + 1);
    expect(x.peer.last().ack).toBe((x.base + 100) >>> 0);
  });
});

describe('buffer sizes are per listener, inherited by its connections (SO_RCVBUF on a listening socket)', () => {
  it('two servers with their own rcvBuf/sndBuf/congestion: each connection gets its server’s, and connect() keeps the stack’s defaults', async () => {
    const p = makePair();
    const small = serve(p, 80, { rcvBuf: 4096, sndBuf: 8192, congestion: 'reno' });
    const big = serve(p, 81, { rcvBuf: 4 * MB });
    const back = serve({ ...p, b: p.a, a: p.b }, 82); // a plain server on A, for B to connect to
    const c1 = p.a.connect(80, '10.0.0.2');
    const c2 = p.a.connect(81, '10.0.0.2');
    const c3 = p.b.connect(82, '10.0.0.1');
    for (const c of [c1, c2, c3]) errorCodes(c);
    await runUntil(p.rt, () => small.length === 1 && big.length === 1 && back.length === 1, 100);
    const ep = (s: { ep: unknown }) => s.ep as { rcvBufSize: number; sndBufSize: number; cc: { name: string } };
    expect([ep(small[0]!).rcvBufSize, ep(small[0]!).sndBufSize, ep(small[0]!).cc.name]).toEqual([4096, 8192, 'reno']);
    expect([ep(big[0]!).rcvBufSize, ep(big[0]!).sndBufSize, ep(big[0]!).cc.name]).toEqual([4 * MB, 262_144, 'cubic']);
    // Creating those servers changed nothing stack-wide: B's own connect and A's listener use the defaults.
    expect([ep(c3).rcvBufSize, ep(c3).sndBufSize, ep(c3).cc.name]).toEqual([262_144, 262_144, 'cubic']);
    expect([ep(back[0]!).rcvBufSize, ep(back[0]!).cc.name]).toEqual([262_144, 'cubic']);
  });
});
