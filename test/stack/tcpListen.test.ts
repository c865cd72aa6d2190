// Listening sockets and their two queues (Linux request_sock_queue and the
// accept queue): a listener whose accept queue nobody drains overflows
// (TcpExtListenOverflows / ListenDrops), its clients complete through SYN
// and SYN-ACK retransmissions once room appears; SYN-ACK back-off
// (tcp_synack_retries); retransmitted SYNs; closing a listener.
import { describe, expect, it } from 'vitest';
import { TcpSocket } from '../../src/socket/tcpSocket.js';
import type { TcpEndpoint } from '../../src/tcp/endpoint.js';
import type { Listener } from '../../src/tcp/listen.js';
import { TcpState } from '../../src/tcp/state.js';
import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.js';
import { expectNoLeaks, makePair, runUntil, type Pair } from '../helpers/pair.js';
import { errorCodes, isRst, isSynAck, RawPeer, serve, tcpSniff } from '../helpers/tcp.js';

/** Takes everything on the accept queue and wraps it in a socket, as accept() + net.Socket would. */
function acceptAll(p: Pair, l: Listener, into: TcpSocket[]): void {
  for (let ep = l.accept(); ep; ep = l.accept()) {
    const s = new TcpSocket(p.b.tcp, ep, true);
    errorCodes(s);
    into.push(s);
  }
}

describe('accept queue overflow', () => {
  it('a full accept queue drops SYNs and final ACKs; every client completes once the application accepts', async () => {
    const p = makePair();
    const l = p.b.tcp.listen(0, 80, 2);
    const sniffB = tcpSniff(p.b);
    const clients: TcpSocket[] = [];
    const connect = () => {
      const s = p.a.connect(80, '10.0.0.2');
      errorCodes(s);
      s.on('connect', () => s.write(`hello from ${s.localPort}`));
      clients.push(s);
      return s;
    };
    connect();
    await runUntil(p.rt, () => l.acceptQueue.length === 1, 100);
    // Two at once: both get request socks; the first ACK fills the queue, the second overflows.
    connect();
    const late = connect();
    await runUntil(p.rt, () => l.acceptQueue.length === 2, 100);
    expect(l.synQueue.size).toBe(1);
    expect(late.connecting).toBe(false); // the client thinks it is connected
    // Its ACK and its first data segment are both dropped (the request stays).
    expect(p.b.net.tcp.TcpExtListenOverflows).toBe(2);
    // Five more while the queue is full: their SYNs are dropped.
    for (let i = 0; i < 5; i++) connect();
    await runUntil(p.rt, () => false, 50);
    expect(p.b.net.tcp.TcpExtListenOverflows).toBe(7);
    expect(p.b.net.tcp.TcpExtListenDrops).toBe(7);
    // Nobody accepts for 2.5 s: SYNs and the late client's SYN-ACK are retransmitted into a full queue.
    await runUntil(p.rt, () => false, 2500, 10);
    const lateSynAcks = sniffB.filter((s) => isSynAck(s) && s.dport === late.localPort);
    expect(lateSynAcks.length).toBe(2); // at 0 and 1 s (Linux keeps the request and resends)
    expect(p.b.net.tcp.TcpExtListenOverflows).toBeGreaterThan(7);
    expect(l.acceptQueue.length).toBe(2);
    // The application starts accepting.
    const accepted: TcpSocket[] = [];
    const got = new Map<TcpSocket, string>();
    const t0 = p.rt.clock.now();
    await runUntil(
      p.rt,
      () => {
        const n = accepted.length;
        acceptAll(p, l, accepted);
        for (const s of accepted.slice(n)) s.on('data', (d: Buffer) => got.set(s, (got.get(s) ?? '') + d.toString()));
        return accepted.length === 8 && got.size === 8;
      },
      30_000,
      10,
    );
    expect(accepted).toHaveLength(8);
    expect(clients.every((s) => !s.connecting && !s.destroyed)).toBe(true);
    // The late client got in through a retransmitted SYN-ACK, answered with an ACK.
    expect(sniffB.filter((s) => isSynAck(s) && s.dport === late.localPort && s.t >= t0).length).toBeGreaterThan(0);
    const words = [...got.values()].sort();
    expect(words).toEqual(clients.map((s) => `hello from ${s.localPort}`).sort());
  });

  it('a TcpServer with backlog 1 and a burst of 6 clients: the burst overflows (the server accepts on the next turn, as Node does); SYN cookies carried in the clients’ data bring every one in', async () => {
    const p = makePair();
    const socks = serve(p, 80, {}, 1);
    const clients = Array.from({ length: 6 }, () => p.a.connect(80, '10.0.0.2'));
    for (const s of clients) {
      errorCodes(s);
      s.write(`hello from ${s.localPort}`);
    }
    const words = new Map<TcpSocket, string>();
    await runUntil(p.rt, () => {
      for (const s of socks) if (!words.has(s)) s.on('data', (d: Buffer) => words.set(s, (words.get(s) ?? '') + d.toString())).on('error', () => {});
      return [...words.values()].filter((w) => w.startsWith('hello from')).length === 6;
    }, 30_000, 10);
    // One request sock filled the SYN queue (size 1), the other five SYNs got
    // cookies; their final ACKs arrived in the same softirq round as the
    // first, so the accept queue (1) was full and they were dropped, as
    // Linux drops them (tcp_v4_syn_recv_sock). Each client, established on
    // its side, sent its data; retransmitted after the server had accepted,
    // its ACK still carried the cookie, and the connection was built from it.
    const c = p.b.net.tcp;
    expect(c.TcpExtSyncookiesSent).toBe(5);
    expect(c.TcpExtSyncookiesRecv).toBe(5);
    expect(c.TcpExtListenOverflows).toBeGreaterThan(0);
    expect(c.TcpPassiveOpens).toBe(6);
    expect([...words.values()].sort()).toEqual(clients.map((s) => `hello from ${s.localPort}`).sort());
  });
});

describe('SYN queue', () => {
  it('an unanswered SYN-ACK is resent after 1, 2, 4, 8, 16 s and the request dropped at 63 s (tcp_synack_retries = 5)', async () => {
    const p = makePair();
    serve(p, 80);
    const peer = new RawPeer(p);
    const l = p.b.tcp.listenerTable()[0]!;
    const t0 = p.rt.clock.now();
    peer.send(80, { flags: TCP_SYN, options: { mss: 1460 } });
    await runUntil(p.rt, () => l.synQueue.size === 0, 100_000, 1000);
    const synAcks = peer.seen.filter(isSynAck);
    expect(synAcks.map((s) => s.t - t0)).toEqual([0, 1000, 3000, 7000, 15_000, 31_000]);
    expect(new Set(synAcks.map((s) => s.seq)).size).toBe(1);
    expect(p.b.net.tcp.TcpRetransSegs).toBe(5);
    // Gone at 63 s: a late ACK now finds no request (and no recent cookie), so it is reset.
    peer.rcvNxt = synAcks[0]!.seq + 1;
    peer.send(80, { flags: TCP_ACK });
    expect(isRst(peer.last())).toBe(true);
    expectNoLeaks(p.b);
  });

  it('a retransmitted SYN gets the same SYN-ACK again, not a second request', () => {
    const p = makePair();
    serve(p, 80);
    const peer = new RawPeer(p);
    const l = p.b.tcp.listenerTable()[0]!;
    peer.send(80, { flags: TCP_SYN, seq: peer.iss });
    peer.send(80, { flags: TCP_SYN, seq: peer.iss });
    const synAcks = peer.seen.filter(isSynAck);
    expect(synAcks).toHaveLength(2);
    expect(synAcks[1]!.seq).toBe(synAcks[0]!.seq);
    expect(l.synQueue.size).toBe(1);
  });

  it('the final ACK must acknowledge the SYN-ACK exactly, else RST and the request stays', () => {
    const p = makePair();
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const l = p.b.tcp.listenerTable()[0]!;
    peer.send(80, { flags: TCP_SYN });
    const synAck = peer.last();
    peer.send(80, { flags: TCP_ACK, ack: synAck.seq + 5 });
    expect(isRst(peer.last())).toBe(true);
    expect(l.synQueue.size).toBe(1);
    peer.send(80, { flags: TCP_ACK, ack: synAck.seq + 1 });
    expect(socks).toHaveLength(1);
    expect(socks[0]!.ep!.state).toBe(TcpState.Established);
  });
});

describe('closing a listener', () => {
  it('resets connections never accepted and drops pending requests (Linux inet_csk_listen_stop)', async () => {
    const p = makePair();
    const l = p.b.tcp.listen(0, 80, 8);
    const a = p.a.connect(80, '10.0.0.2');
    const e = errorCodes(a);
    await runUntil(p.rt, () => l.acceptQueue.length === 1, 100);
    const peer = new RawPeer(p);
    peer.send(80, { flags: TCP_SYN });
    expect(l.synQueue.size).toBe(1);
    const ep: TcpEndpoint = l.acceptQueue[0]!;
    p.b.tcp.closeListener(l);
    await runUntil(p.rt, () => e.length > 0, 100);
    expect(e).toEqual(['ECONNRESET']);
    expect(ep.state).toBe(TcpState.Close);
    expect(l.synQueue.size).toBe(0);
    expect(p.b.tcp.endpoints.size).toBe(0);
    expect(p.b.tcp.listenerTable()).toHaveLength(0);
    expectNoLeaks(p.b);
  });
});
