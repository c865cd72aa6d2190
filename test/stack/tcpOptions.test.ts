// TCP options as real segments carry them, malformed ones included, handled
// as Linux's tcp_parse_options does: a known option of the wrong length is
// skipped by its length; a length below 2 or past the header ends the scan,
// keeping what came before; the segment itself is still processed. And bad
// header lengths, garbage SACK blocks, and a burst of random option bytes —
// none of which may crash the stack or leak a buffer.
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../src/core/runtime.js';
import { TcpState } from '../../src/tcp/state.js';
import { IPPROTO_TCP } from '../../src/wire/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { ipFrame } from '../helpers/frames.js';
import { A_MAC, B_IP, B_MAC, drops, expectNoLeaks, makePair, runUntil } from '../helpers/pair.js';
import { isSynAck, pattern, PEER_IP, RawPeer, serve, tcpBytes } from '../helpers/tcp.js';

// Option bytes.
const NOP = 1;
const mss = (v: number) => [2, 4, v >> 8, v & 0xff];
const ws = (s: number) => [3, 3, s];
const sackOk = [4, 2];
const ts = (val: number, ecr: number) => [8, 10, val >>> 24, (val >>> 16) & 0xff, (val >>> 8) & 0xff, val & 0xff, ecr >>> 24, (ecr >>> 16) & 0xff, (ecr >>> 8) & 0xff, ecr & 0xff];

/** Sends a SYN with raw option bytes to B:80 and returns B's SYN-ACK and the request's parsed options. */
function synWith(options: number[]) {
  const p = makePair();
  serve(p, 80);
  const peer = new RawPeer(p);
  peer.send(80, { flags: TCP_SYN, options: Uint8Array.from(options) });
  const synAck = peer.seen.find(isSynAck);
  return { p, peer, synAck, req: [...p.b.tcp.listenerTable()[0]!.synQueue.values()][0] };
}

describe('options in a SYN (Linux tcp_parse_options)', () => {
  it('(control) well-formed MSS, window scale, SACK-permitted and timestamps are all taken', () => {
    const { synAck, req } = synWith([...mss(1200), NOP, ...ws(7), ...sackOk, ...ts(77, 0)]);
    expect(req!.mss).toBe(1200);
    expect(req!.wscale).toBe(7);
    expect(req!.sackOk).toBe(true);
    expect(req!.tsOk).toBe(true);
    expect(synAck!.opts.wscale).toBeGreaterThanOrEqual(0);
    expect(synAck!.opts.sackPermitted).toBe(true);
    expect(synAck!.opts.timestamps).toBe(true);
    expect(synAck!.opts.tsEcr).toBe(77);
  });

  it('an MSS option of the wrong length is skipped by its length and the options after it still count', () => {
    const { synAck, req } = synWith([2, 3, 0x05, NOP, ...ws(5), ...sackOk]);
    expect(req!.mss).toBe(536); // RFC 9293 §3.7.1 default
    expect(req!.wscale).toBe(5);
    expect(req!.sackOk).toBe(true);
    expect(synAck).toBeDefined();
  });

  it('a length below 2 ends the scan: what came before is kept, what follows is not', () => {
    for (const bad of [0, 1]) {
      const { synAck, req } = synWith([...mss(1000), 3, bad, 7, NOP, ...sackOk]);
      expect(req!.mss).toBe(1000);
      expect(req!.wscale).toBe(-1);
      expect(req!.sackOk).toBe(false);
      expect(synAck!.opts.wscale).toBe(-1); // no scaling offered back when the peer's option was not understood
      expect(synAck!.opts.sackPermitted).toBe(false);
    }
  });

  it('an option running past the header ends the scan', () => {
    const { synAck, req } = synWith([...sackOk, 8, 30, 1, 2, 3, 4]);
    expect(req!.sackOk).toBe(true);
    expect(req!.tsOk).toBe(false);
    expect(synAck!.opts.timestamps).toBe(false);
  });

  it('a kind byte with no room for its length ends the scan', () => {
    const { req } = synWith([...mss(1300), NOP, NOP, NOP, 3]);
    expect(req!.mss).toBe(1300);
    expect(req!.wscale).toBe(-1);
  });

  it('a window scale above 14 is taken as 14 (RFC 7323 §2.3)', () => {
    const { req } = synWith([NOP, ...ws(20)]);
    expect(req!.wscale).toBe(14);
  });

  it('timestamps and SACK blocks of the wrong length are ignored', () => {
    const { synAck, req } = synWith([8, 9, 0, 0, 0, 1, 0, 0, 0, NOP, 5, 7, 0, 0, 0, 0, 0]);
    expect(req!.tsOk).toBe(false);
    expect(synAck!.opts.timestamps).toBe(false);
  });

  it('EOL ends the list: anything after it is padding', () => {
    const { req } = synWith([...mss(900), 0, ...ws(3)]);
    expect(req!.mss).toBe(900);
    expect(req!.wscale).toBe(-1);
  });

  it('an MSS of 0 means the default; a tiny MSS is raised to a floor, and data still flows', async () => {
    const zero = synWith([...mss(0)]);
    expect(zero.req!.mss).toBe(536);
    const p = makePair();
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80, Uint8Array.from(mss(1)));
    expect(ep.mss).toBeGreaterThanOrEqual(48); // Linux tcp_min_snd_mss
    socks[0]!.end(pattern(1000));
    await runUntil(p.rt, () => ep.state !== TcpState.Established, 100);
    const data = peer.seen.filter((s) => s.data.length > 0);
    expect(data.length).toBeGreaterThan(1);
    for (const s of data) expect(s.data.length).toBeLessThanOrEqual(ep.mss);
  });
});

describe('malformed segments in ESTABLISHED', () => {
  function established() {
    const p = makePair();
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80, { mss: 1460, sackPermitted: true });
    const got: Buffer[] = [];
    socks[0]!.on('data', (d: Buffer) => got.push(d));
    return { p, peer, ep, got, sock: socks[0]! };
  }

  it('a data segment with malformed options is still taken (Linux keeps the segment)', async () => {
    const x = established();
    x.peer.send(80, { flags: TCP_ACK | TCP_PSH, payload: Buffer.from('abc'), options: Uint8Array.from([5, 0, 1, 1]) });
    x.peer.send(80, { flags: TCP_ACK | TCP_PSH, payload: Buffer.from('def'), options: Uint8Array.from([8, 40]) });
    await runUntil(x.p.rt, () => x.got.length > 0, 10);
    expect(Buffer.concat(x.got).toString()).toBe('abcdef');
    expectNoLeaks(x.p.b);
  });

  it('SACK blocks that are reversed, stale or beyond what was sent are ignored', async () => {
    const x = established();
    x.sock.write(pattern(5000));
    await runUntil(x.p.rt, () => x.ep.flight === 5000, 10);
    expect(x.ep.flight).toBe(5000);
    const una = x.ep.sndUna;
    const sack: Array<[number, number]> = [
      [una + 3000, una + 1000], // reversed
      [una - 5000, una - 4000], // below SND.UNA (a D-SACK)
      [una + 100_000, una + 200_000], // never sent
    ];
    x.peer.send(80, { flags: TCP_ACK, ack: una, options: { sack } });
    expect(x.ep.sacked).toEqual([]);
    // A sensible block is taken.
    x.peer.send(80, { flags: TCP_ACK, ack: una, options: { sack: [[una + 1460, una + 2920]] } });
    expect(x.ep.sacked).toEqual([(una + 1460) >>> 0, (una + 2920) >>> 0]);
    x.peer.send(80, { flags: TCP_ACK, ack: x.ep.sndNxt });
    expect(x.ep.flight).toBe(0);
    expect(x.ep.state).toBe(TcpState.Established);
  });

  it('header lengths below 20 or beyond the segment, and runt segments, are dropped; only the first is an error (Linux)', () => {
    const x = established();
    const c = x.p.b.net.tcp;
    const inject = (seg: Uint8Array) => {
      x.p.link.inject(1, ipFrame(B_MAC, A_MAC, { src: PEER_IP, dst: B_IP, protocol: IPPROTO_TCP }, seg));
      x.p.rt.run();
    };
    const rst = () => tcpBytes({ src: PEER_IP, dst: B_IP, sport: x.peer.port, dport: 80, seq: x.peer.sndNxt, ack: x.peer.rcvNxt, flags: TCP_RST });
    const before = { inErrs: c.TcpInErrs, inSegs: c.TcpInSegs, drops: drops(x.p.b, 'tcp-inhdr') };
    const low = rst();
    low[12] = (16 / 4) << 4; // 16-byte header
    inject(low);
    expect(c.TcpInErrs - before.inErrs).toBe(1); // bad_packet: TCP_MIB_INERRS
    const high = rst();
    high[12] = (60 / 4) << 4; // claims 60 bytes, has 20
    inject(high);
    inject(new Uint8Array(12)); // shorter than any TCP header
    expect(c.TcpInErrs - before.inErrs).toBe(1); // discard_it: not counted as errors
    expect(c.TcpInSegs - before.inSegs).toBe(3); // "count it even if it's bad"
    expect(drops(x.p.b, 'tcp-inhdr') - before.drops).toBe(3);
    expect(x.ep.state).toBe(TcpState.Established);
    expectNoLeaks(x.p.b);
  });

  it('random option bytes in SYNs and in segments of a connection never crash the stack or leak', async () => {
    const x = established();
    const rnd = new SeededRandom(42);
    const connFlags = [TCP_ACK, TCP_ACK | TCP_PSH, TCP_ACK | TCP_FIN];
    for (let i = 0; i < 400; i++) {
      const n = rnd.u32() % 41;
      const opts = Uint8Array.from({ length: n }, () => (rnd.u32() % 4 === 0 ? [0, 1, 2, 3, 4, 5, 8][rnd.u32() % 7]! : rnd.u32() & 0xff));
      const toConn = i % 2 === 0;
      const flags = toConn ? connFlags[rnd.u32() % 3]! : TCP_SYN;
      x.p.link.inject(
        1,
        ipFrame(
          B_MAC,
          A_MAC,
          { src: PEER_IP, dst: B_IP, protocol: IPPROTO_TCP },
          tcpBytes({
            src: PEER_IP,
            dst: B_IP,
            sport: toConn ? x.peer.port : 50_000 + i,
            dport: 80,
            seq: toConn ? x.peer.sndNxt : rnd.u32(),
            ack: x.peer.rcvNxt,
            flags,
            options: opts,
            payload: toConn ? pattern(rnd.u32() % 100) : undefined,
          }),
        ),
      );
      x.p.rt.run();
    }
    await runUntil(x.p.rt, () => false, 100_000, 1000);
    expect(x.p.b.tcp.listenerTable()[0]!.synQueue.size).toBe(0);
    expectNoLeaks(x.p.b);
  });
});
