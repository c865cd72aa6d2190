// The connection states of RFC 9293 §3.3.2 between two stacks on the virtual
// clock: the three-way handshake, active and passive close, simultaneous
// open (Figure 7) and simultaneous close (Figure 13), half-close, and a RST in
// every state (§3.10.7) driven by hand-made segments.
import { describe, expect, it } from 'vitest';
import type { TcpSocket } from '../../src/socket/tcpSocket.js';
import type { TcpEndpoint } from '../../src/tcp/endpoint.js';
import { TcpState, TcpState as S } from '../../src/tcp/state.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { expectNoLeaks, makePair, runUntil, type Pair } from '../helpers/pair.js';
import { errorCodes, isFin, isPureAck, isRst, isSyn, isSynAck, RawPeer, pattern, serve, sha256, tcpSniff } from '../helpers/tcp.js';



/** Records every state an endpoint enters (CLOSED when it is destroyed). */
function trace(ep: TcpEndpoint): TcpState[] {
  const seen: TcpState[] = [ep.state];
  const set = ep.setState.bind(ep);
  ep.setState = (s: TcpState) => {
    set(s);
    if (seen[seen.length - 1] !== ep.state) seen.push(ep.state);
  };
  const destroy = ep.destroy.bind(ep);
  ep.destroy = () => {
    destroy();
    if (seen[seen.length - 1] !== S.Close) seen.push(S.Close);
  };
  return seen;
}

const errors = errorCodes;

describe('handshake and close', () => {
  it('three-way handshake: SYN-SENT on the client, a request sock then ESTABLISHED on the server', async () => {
    const p = makePair({ faults: { delayMs: 5 } });
    const socks = serve(p, 80);
    await runUntil(p.rt, () => false, 100); // ARP settles
    const c = p.a.connect(80, '10.0.0.2');
    const cep = c.ep!;
    const states = trace(cep);
    expect(cep.state).toBe(S.SynSent);
    const l = p.b.tcp.listenerTable()[0]!;
    await runUntil(p.rt, () => l.synQueue.size === 1, 20);
    expect(l.synQueue.size).toBe(1); // SYN-RECV lives in a request sock (Linux request_sock)
    expect(socks).toHaveLength(0);
    await runUntil(p.rt, () => socks.length === 1, 50);
    expect(states).toEqual([S.SynSent, S.Established]);
    expect(socks[0]!.ep!.state).toBe(S.Established);
    expect(l.synQueue.size).toBe(0);
    expect(p.a.net.tcp.TcpCurrEstab).toBe(1);
    expect(p.b.net.tcp.TcpCurrEstab).toBe(1);
  });

  it('active close: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, CLOSED; passive close: CLOSE-WAIT, LAST-ACK, CLOSED', async () => {
    const p = makePair({ faults: { delayMs: 5 } });
    p.a.tcp.config.timeWaitMs = 3000;
    const socks = serve(p, 80);
    const c = p.a.connect(80, '10.0.0.2');
    await runUntil(p.rt, () => socks.length === 1, 1000);
    const s = socks[0]!;
    const cep = c.ep!;
    const sep = s.ep!;
    const cStates = trace(cep);
    const sStates = trace(sep);
    let serverEnded = false;
    s.on('end', () => (serverEnded = true));
    s.resume();
    c.resume();
    c.end();
    await runUntil(p.rt, () => serverEnded, 100);
    expect(sep.state).toBe(S.CloseWait);
    await runUntil(p.rt, () => cep.state === S.FinWait2, 100);
    expect(cep.state).toBe(S.FinWait2);
    s.end();
    await runUntil(p.rt, () => sep.state === S.Close, 100);
    expect(cStates).toEqual([S.Established, S.FinWait1, S.FinWait2, S.TimeWait]);
    expect(sStates).toEqual([S.Established, S.CloseWait, S.LastAck, S.Close]);
    expect(p.b.tcp.endpoints.size).toBe(0);
    await runUntil(p.rt, () => cep.state === S.Close, 4000, 10);
    expect(cStates[cStates.length - 1]).toBe(S.Close);
    expect(p.a.tcp.endpoints.size).toBe(0);
    expect(p.a.net.tcp.TcpCurrEstab).toBe(0);
    expect(p.b.net.tcp.TcpCurrEstab).toBe(0);
    expectNoLeaks(p.a, p.b);
  });

  it('simultaneous open: both connect() to each other, SYN-SENT → SYN-RECV → ESTABLISHED on each side (RFC 9293 figure 7)', async () => {
    const p = makePair({ faults: { delayMs: 5 } });
    await runUntil(p.rt, () => false, 100);
    const sniffA = tcpSniff(p.a);
    const sniffB = tcpSniff(p.b);
    const x = p.a.connect({ port: 6001, host: '10.0.0.2', localPort: 6000, allowHalfOpen: true });
    const y = p.b.connect({ port: 6000, host: '10.0.0.1', localPort: 6001, allowHalfOpen: true });
    const tx = trace(x.ep!);
    const ty = trace(y.ep!);
    const ex = errors(x);
    const ey = errors(y);
    let connected = 0;
    x.on('connect', () => connected++);
    y.on('connect', () => connected++);
    await runUntil(p.rt, () => connected === 2, 1000);
    expect(tx).toEqual([S.SynSent, S.SynRecv, S.Established]);
    expect(ty).toEqual([S.SynSent, S.SynRecv, S.Established]);
    // Each side sent a SYN, then a SYN-ACK with the same ISN, no RST.
    for (const seen of [sniffA, sniffB]) {
      const syn = seen.find(isSyn)!;
      const synAck = seen.find(isSynAck)!;
      expect(synAck.seq).toBe(syn.seq);
      expect(seen.some(isRst)).toBe(false);
    }
    expect(p.a.net.tcp.TcpPassiveOpens + p.b.net.tcp.TcpPassiveOpens).toBe(0);
    // The connection carries data both ways and closes.
    const gotX: Buffer[] = [];
    const gotY: Buffer[] = [];
    x.on('data', (d: Buffer) => gotX.push(d));
    y.on('data', (d: Buffer) => gotY.push(d));
    x.end(pattern(50_000, 1));
    y.end(pattern(60_000, 2));
    let closed = 0;
    x.on('close', () => closed++);
    y.on('close', () => closed++);
    await runUntil(p.rt, () => Buffer.concat(gotX).length === 60_000 && Buffer.concat(gotY).length === 50_000, 5000);
    expect(sha256(Buffer.concat(gotY))).toBe(sha256(pattern(50_000, 1)));
    expect(sha256(Buffer.concat(gotX))).toBe(sha256(pattern(60_000, 2)));
    expect(ex).toEqual([]);
    expect(ey).toEqual([]);
  });

  it('simultaneous close: FIN-WAIT-1 → CLOSING → TIME-WAIT on both sides (RFC 9293 figure 13)', async () => {
    const p = makePair({ faults: { delayMs: 5 } });
    p.a.tcp.config.timeWaitMs = 2000;
    p.b.tcp.config.timeWaitMs = 2000;
    const socks = serve(p, 80);
    const c = p.a.connect({ port: 80, host: '10.0.0.2', allowHalfOpen: true });
    await runUntil(p.rt, () => socks.length === 1, 1000);
    const s = socks[0]!;
    c.resume();
    s.resume();
    const tc = trace(c.ep!);
    const ts = trace(s.ep!);
    const sniffA = tcpSniff(p.a);
    c.end();
    s.end();
    await runUntil(p.rt, () => tc.includes(S.TimeWait) && ts.includes(S.TimeWait), 100);
    expect(tc).toEqual([S.Established, S.FinWait1, S.Closing, S.TimeWait]);
    expect(ts).toEqual([S.Established, S.FinWait1, S.Closing, S.TimeWait]);
    expect(sniffA.filter(isFin)).toHaveLength(1);
    await runUntil(p.rt, () => p.a.tcp.endpoints.size + p.b.tcp.endpoints.size === 0, 2100, 10);
    expect(tc[tc.length - 1]).toBe(S.Close);
    expect(ts[ts.length - 1]).toBe(S.Close);
    expectNoLeaks(p.a, p.b);
  });

  it('half-close: after end() the client still receives everything the server sends', async () => {
    const p = makePair({ seed: 3, faults: { delayMs: 2 } });
    const socks = serve(p, 80);
    const c = p.a.connect({ port: 80, host: '10.0.0.2', allowHalfOpen: true });
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => got.push(d));
    let cEnded = false;
    c.on('end', () => (cEnded = true));
    await runUntil(p.rt, () => socks.length === 1, 1000);
    const s = socks[0]!;
    const sGot: Buffer[] = [];
    let sEnded = false;
    s.on('data', (d: Buffer) => sGot.push(d));
    s.on('end', () => (sEnded = true));
    c.end(Buffer.from('request'));
    await runUntil(p.rt, () => sEnded, 100);
    expect(Buffer.concat(sGot).toString()).toBe('request');
    await runUntil(p.rt, () => c.ep?.state === S.FinWait2, 100);
    expect(c.ep!.state).toBe(S.FinWait2);
    expect(s.ep!.state).toBe(S.CloseWait);
    // The server answers long after the client's FIN.
    await runUntil(p.rt, () => false, 5000, 50);
    expect(c.ep!.state).toBe(S.FinWait2); // not an orphan: FIN-WAIT-2 does not time out
    const body = pattern(300_000, 5);
    s.end(body);
    await runUntil(p.rt, () => cEnded, 10_000);
    expect(sha256(Buffer.concat(got))).toBe(sha256(body));
    expect(c.bytesRead).toBe(body.length);
    expect(s.bytesWritten).toBe(body.length);
    expect(c.bytesWritten).toBe(7);
    expect(s.bytesRead).toBe(7);
  });

  it('close() in SYN-SENT drops the connection silently', async () => {
    const p = makePair();
    const sniffA = tcpSniff(p.a);
    const c = p.a.connect(80, '10.0.0.2');
    errors(c);
    const ep = c.ep!;
    c.destroy();
    await runUntil(p.rt, () => false, 5000, 50);
    expect(ep.state).toBe(S.Close);
    expect(p.a.tcp.endpoints.size).toBe(0);
    expect(sniffA.filter(isSyn)).toHaveLength(1); // no retransmission after the close
    expect(sniffA.some(isRst)).toBe(false);
  });

  it('LISTEN → CLOSED: after server.close() a SYN is refused', async () => {
    const p = makePair();
    const server = p.b.createServer(() => {});
    server.listen(80);
    p.rt.run();
    let closed = false;
    server.close(() => (closed = true));
    await runUntil(p.rt, () => closed, 100);
    const c = p.a.connect(80, '10.0.0.2');
    const e = errors(c);
    await runUntil(p.rt, () => e.length > 0, 100);
    expect(e).toEqual(['ECONNREFUSED']);
  });

  it('a SYN with a newer timestamp reopens a connection in TIME-WAIT (RFC 6191)', async () => {
    const p = makePair();
    const socks = serve(p, 80);
    const c = p.a.connect({ port: 80, host: '10.0.0.2', localPort: 5555 });
    await runUntil(p.rt, () => socks.length === 1, 100);
    const s = socks[0]!;
    s.resume();
    c.resume();
    const sep = s.ep!;
    s.end(); // the server closes first and keeps TIME-WAIT
    await runUntil(p.rt, () => sep.state === S.TimeWait && p.a.tcp.endpoints.size === 0, 1000);
    expect(sep.state).toBe(S.TimeWait);
    await runUntil(p.rt, () => false, 10, 1);
    const c2 = p.a.connect({ port: 80, host: '10.0.0.2', localPort: 5555 });
    const e = errors(c2);
    let ok = false;
    c2.on('connect', () => (ok = true));
    await runUntil(p.rt, () => ok, 100);
    expect(e).toEqual([]);
    expect(socks).toHaveLength(2);
    expect(sep.state).toBe(S.Close);
  });
});

describe('RST in each state (RFC 9293 §3.10.7, RFC 5961 §3.2)', () => {
  /** B as a client of the raw peer, in SYN-SENT. */
  function bClient(p: Pair, peer: RawPeer): { s: TcpSocket; e: Array<string | undefined>; syn: ReturnType<RawPeer['last']> } {
    const s = p.b.connect({ port: peer.port, host: '10.0.0.3', localPort: 7000 });
    const e = errors(s);
    p.rt.run();
    return { s, e, syn: peer.last() };
  }

  it('SYN-SENT: a RST without ACK, or with a bad ACK, is ignored; RST+ACK of the SYN refuses the connection', async () => {
    const p = makePair();
    const peer = new RawPeer(p);
    const { s, e, syn } = bClient(p, peer);
    expect(isSyn(syn)).toBe(true);
    const ep = s.ep!;
    peer.send(7000, { flags: TCP_RST, seq: 0, ack: 0 });
    expect(ep.state).toBe(S.SynSent);
    peer.send(7000, { flags: TCP_RST | TCP_ACK, seq: 0, ack: syn.seq + 2 });
    expect(ep.state).toBe(S.SynSent);
    expect(peer.since(1).some(isRst)).toBe(false); // never a RST for a RST
    // An ACK of something never sent (no RST flag) gets a RST (§3.10.7.3).
    peer.send(7000, { flags: TCP_ACK, seq: 5, ack: syn.seq + 100 });
    expect(peer.last().flags).toBe(TCP_RST);
    expect(peer.last().seq).toBe(syn.seq + 100);
    expect(ep.state).toBe(S.SynSent);
    peer.send(7000, { flags: TCP_RST | TCP_ACK, seq: 0, ack: syn.seq + 1 });
    await runUntil(p.rt, () => e.length > 0, 10);
    expect(e).toEqual(['ECONNREFUSED']);
    expect(p.b.tcp.endpoints.size).toBe(0);
    expect(p.b.net.tcp.TcpAttemptFails).toBe(1);
  });

  it('SYN-RECV (simultaneous open): an exact RST refuses the connection', async () => {
    const p = makePair();
    const peer = new RawPeer(p);
    const { s, e, syn } = bClient(p, peer);
    const ep = s.ep!;
    peer.send(7000, { flags: TCP_SYN }); // the peer's own SYN crosses ours
    expect(ep.state).toBe(S.SynRecv);
    const synAck = peer.last();
    expect(isSynAck(synAck)).toBe(true);
    expect(synAck.seq).toBe(syn.seq);
    expect(synAck.ack).toBe(peer.iss + 1);
    peer.send(7000, { flags: TCP_RST, seq: peer.iss + 1 });
    await runUntil(p.rt, () => e.length > 0, 10);
    expect(e).toEqual(['ECONNREFUSED']);
    expect(p.b.tcp.endpoints.size).toBe(0);
  });

  it('SYN-RECV (passive): an exact RST removes the request, a RST out of sequence does not', () => {
    const p = makePair();
    serve(p, 80);
    const peer = new RawPeer(p);
    const l = p.b.tcp.listenerTable()[0]!;
    peer.send(80, { flags: TCP_SYN });
    expect(l.synQueue.size).toBe(1);
    peer.send(80, { flags: TCP_RST, seq: peer.iss + 1000 });
    expect(l.synQueue.size).toBe(1);
    peer.send(80, { flags: TCP_RST, seq: peer.iss + 1 });
    expect(l.synQueue.size).toBe(0);
    expect(peer.seen.filter(isRst)).toHaveLength(0);
    expectNoLeaks(p.b);
  });

  /** A connection from the raw peer to B:80 driven into `state`. */
  function established(p: Pair): { peer: RawPeer; ep: TcpEndpoint; sock: TcpSocket; e: Array<string | undefined> } {
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80);
    const sock = socks[0]!;
    sock.resume();
    return { peer, ep, sock, e: errors(sock) };
  }

  const cases: Array<{ name: string; to: (x: ReturnType<typeof established>, p: Pair) => void; state: TcpState; error: string | null }> = [
    { name: 'ESTABLISHED', to: () => {}, state: S.Established, error: 'ECONNRESET' },
    { name: 'FIN-WAIT-1', to: (x) => x.sock.end(), state: S.FinWait1, error: 'ECONNRESET' },
    {
      name: 'FIN-WAIT-2',
      to: (x) => {
        x.sock.end();
        x.peer.send(80, { flags: TCP_ACK, ack: x.peer.rcvNxt + 1 });
        x.peer.rcvNxt++;
      },
      state: S.FinWait2,
      error: 'ECONNRESET',
    },
    { name: 'CLOSE-WAIT', to: (x) => x.peer.send(80, { flags: TCP_FIN | TCP_ACK }), state: S.CloseWait, error: 'EPIPE' },
    {
      name: 'CLOSING',
      to: (x) => {
        x.sock.end();
        x.peer.send(80, { flags: TCP_FIN | TCP_ACK }); // does not acknowledge B's FIN
        x.peer.rcvNxt++;
      },
      state: S.Closing,
      error: null,
    },
    {
      name: 'LAST-ACK',
      to: (x) => {
        x.peer.send(80, { flags: TCP_FIN | TCP_ACK });
        x.sock.end();
      },
      state: S.LastAck,
      error: null,
    },
    {
      name: 'TIME-WAIT',
      to: (x) => {
        x.sock.end();
        x.peer.rcvNxt++;
        x.peer.send(80, { flags: TCP_FIN | TCP_ACK });
      },
      state: S.TimeWait,
      error: null,
    },
  ];

  for (const k of cases) {
    it(`${k.name}: a RST at RCV.NXT ends the connection${k.error ? ` with ${k.error}` : ''}`, async () => {
      const p = makePair();
      const x = established(p);
      k.to(x, p);
      await runUntil(p.rt, () => x.ep.state === k.state, 10);
      expect(x.ep.state).toBe(k.state);
      const before = x.peer.seen.length;
      // The peer's RST carries its SND.NXT (= B's RCV.NXT).
      x.peer.send(80, { flags: TCP_RST, seq: x.ep.rcvNxt });
      await runUntil(p.rt, () => false, 5);
      expect(x.ep.state).toBe(S.Close);
      expect(p.b.tcp.endpoints.size).toBe(0);
      expect(x.peer.since(before)).toEqual([]); // nothing answers a RST
      expect(x.e).toEqual(k.error ? [k.error] : []);
      expectNoLeaks(p.b);
    });
  }

  it('TIME-WAIT: a RST out of sequence leaves it alone', () => {
    const p = makePair();
    const x = established(p);
    cases.find((k) => k.name === 'TIME-WAIT')!.to(x, p);
    expect(x.ep.state).toBe(S.TimeWait);
    x.peer.send(80, { flags: TCP_RST, seq: x.ep.rcvNxt + 10 });
    expect(x.ep.state).toBe(S.TimeWait);
    expectNoLeaks(p.b);
  });

  it('a segment to a closed port gets a RST built from it (§3.10.7.1)', () => {
    const p = makePair();
    const peer = new RawPeer(p);
    peer.send(81, { flags: TCP_SYN, seq: 1000 });
    let r = peer.last();
    expect(r.flags).toBe(TCP_RST | TCP_ACK);
    expect(r.seq).toBe(0);
    expect(r.ack).toBe(1001);
    peer.send(81, { flags: TCP_ACK, seq: 5000, ack: 0xdeadbeef });
    r = peer.last();
    expect(r.flags).toBe(TCP_RST);
    expect(r.seq).toBe(0xdeadbeef);
    peer.send(81, { flags: TCP_FIN | TCP_PSH, seq: 7000, payload: new Uint8Array(10) });
    r = peer.last();
    expect(r.flags).toBe(TCP_RST | TCP_ACK);
    expect(r.ack).toBe(7011);
    const n = peer.seen.length;
    peer.send(81, { flags: TCP_RST, seq: 1 });
    peer.send(81, { flags: TCP_RST | TCP_ACK, seq: 1, ack: 1 });
    expect(peer.seen.length).toBe(n); // a RST is never answered
    expect(p.b.net.tcp.TcpOutRsts).toBe(3);
    expectNoLeaks(p.b);
  });

  it('the SYN-ACK of a passive open acknowledges the SYN and a bare ACK completes it', () => {
    const p = makePair();
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80, { mss: 1000 });
    const synAck = peer.seen.find(isSynAck)!;
    expect(synAck.ack).toBe(peer.iss + 1);
    expect(synAck.opts.mss).toBe(1460);
    expect(ep.mss).toBe(1000);
    expect(ep.state).toBe(S.Established);
    expect(socks).toHaveLength(1);
    expect(peer.seen.filter((s) => isPureAck(s))).toHaveLength(0); // nothing to acknowledge yet
  });
});
