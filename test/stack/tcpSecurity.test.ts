// Defences against blind and off-path attackers, driven by hand-made
// segments: RFC 5961 (RST and SYN answered with a rate-limited challenge ACK
// unless exact; ACK validation), RFC 9293's acceptability test, PAWS (RFC
// 7323 §5), checksums, and SYN cookies (RFC 4987 §3.6) under a SYN flood.
import { describe, expect, it } from 'vitest';
import { TcpState } from '../../src/tcp/state.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { drops, expectNoLeaks, makePair, runUntil, type Pair } from '../helpers/pair.js';
import { errorCodes, isPureAck, isRst, isSynAck, pattern, RawPeer, serve, sha256, tcpFrame, tcpSniff, type Seg } from '../helpers/tcp.js';

function setup(p: Pair) {
  const socks = serve(p, 80);
  const peer = new RawPeer(p);
  const ep = peer.connect(80);
  const sock = socks[0]!;
  const got: Buffer[] = [];
  sock.on('data', (d: Buffer) => got.push(d));
  return { peer, ep, sock, got, e: errorCodes(sock) };
}

/** A challenge ACK: a bare ACK carrying B's SND.NXT and RCV.NXT (RFC 5961 §3.2). */
function expectChallengeAck(s: Seg | undefined, ep: { sndNxt: number; rcvNxt: number }): void {
  expect(s).toBeDefined();
  expect(isPureAck(s!)).toBe(true);
  expect(s!.seq).toBe(ep.sndNxt);
  expect(s!.ack).toBe(ep.rcvNxt);
}

describe('RFC 5961 in ESTABLISHED', () => {
  it('a RST in the window but not at RCV.NXT draws a challenge ACK and the connection survives', async () => {
    const p = makePair();
    const x = setup(p);
    const n = x.peer.seen.length;
    x.peer.send(80, { flags: TCP_RST, seq: x.ep.rcvNxt + 1000 });
    expect(x.peer.since(n)).toHaveLength(1);
    expectChallengeAck(x.peer.last(), x.ep);
    expect(x.ep.state).toBe(TcpState.Established);
    expect(p.b.net.tcp.TcpExtTCPChallengeACK).toBe(1);
    // Still a working connection.
    x.peer.send(80, { flags: TCP_ACK | TCP_PSH, payload: Buffer.from('still here') });
    await runUntil(p.rt, () => x.got.length > 0, 10);
    expect(Buffer.concat(x.got).toString()).toBe('still here');
    expect(x.e).toEqual([]);
    expectNoLeaks(p.b);
  });

  it('a RST outside the window is dropped without an answer', () => {
    const p = makePair();
    const x = setup(p);
    const n = x.peer.seen.length;
    x.peer.send(80, { flags: TCP_RST, seq: x.ep.rcvNxt + 10_000_000 });
    x.peer.send(80, { flags: TCP_RST, seq: x.ep.rcvNxt - 1 });
    expect(x.peer.since(n)).toEqual([]);
    expect(x.ep.state).toBe(TcpState.Established);
    expect(p.b.net.tcp.TcpExtTCPChallengeACK).toBe(0);
  });

  it('a SYN in ESTABLISHED draws a challenge ACK, never a RST, whatever its sequence number (§4.2)', async () => {
    const p = makePair();
    const x = setup(p);
    for (const seq of [x.ep.rcvNxt, x.ep.rcvNxt + 100, x.ep.rcvNxt - 100_000]) {
      await runUntil(p.rt, () => false, 500, 500); // past the connection's own limit (tcp_invalid_ratelimit)
      const n = x.peer.seen.length;
      x.peer.send(80, { flags: TCP_SYN, seq });
      expect(x.peer.since(n)).toHaveLength(1);
      expectChallengeAck(x.peer.last(), x.ep);
    }
    expect(x.ep.state).toBe(TcpState.Established);
    expect(p.b.net.tcp.TcpExtTCPSYNChallenge).toBe(3);
    expect(p.b.net.tcp.TcpOutRsts).toBe(0);
    expect(x.e).toEqual([]);
  });

  it('challenge ACKs are rate limited across the stack (§7, tcp_challenge_ack_limit)', async () => {
    const p = makePair();
    p.b.tcp.config.challengeAckLimit = 3;
    p.b.tcp.config.invalidRatelimitMs = 0; // the connection's own limit off: this is the stack's
    const x = setup(p);
    await runUntil(p.rt, () => false, 1001, 1001); // a fresh one-second period
    const n = x.peer.seen.length;
    for (let i = 0; i < 10; i++) x.peer.send(80, { flags: TCP_RST, seq: x.ep.rcvNxt + 1 + i });
    expect(x.peer.since(n)).toHaveLength(3);
    expect(p.b.net.tcp.TcpExtTCPACKSkippedChallenge).toBe(7);
    await runUntil(p.rt, () => false, 1000, 1000);
    x.peer.send(80, { flags: TCP_RST, seq: x.ep.rcvNxt + 1 });
    expect(x.peer.since(n)).toHaveLength(4);
    expect(x.ep.state).toBe(TcpState.Established);
  });

  it('an ACK of data never sent is answered with an ACK and its data dropped (§3.10.7.4, RFC 5961 §5.2)', async () => {
    const p = makePair();
    const x = setup(p);
    const n = x.peer.seen.length;
    x.peer.send(80, { flags: TCP_ACK | TCP_PSH, ack: x.ep.sndNxt + 5000, payload: Buffer.from('forged') });
    await runUntil(p.rt, () => false, 5);
    expect(x.got).toEqual([]);
    expect(x.peer.since(n)).toHaveLength(1);
    expect(isPureAck(x.peer.last())).toBe(true);
    expect(x.peer.last().ack).toBe(x.ep.rcvNxt);
    expect(x.ep.rcvNxt).toBe(x.peer.sndNxt - 6);
  });

  it('an ACK older than SND.UNA − MAX.SND.WND draws a challenge ACK and its data is dropped (§5.2)', async () => {
    const p = makePair();
    const x = setup(p);
    x.sock.write(pattern(1000));
    await runUntil(p.rt, () => x.ep.flight === 1000, 5);
    x.peer.send(80, { flags: TCP_ACK, ack: x.ep.sndNxt }); // window 65535 is now MAX.SND.WND
    expect(x.ep.maxSndWnd).toBe(65535);
    const n = x.peer.seen.length;
    x.peer.send(80, { flags: TCP_ACK | TCP_PSH, ack: x.ep.sndUna - 70_000, payload: Buffer.from('old') });
    await runUntil(p.rt, () => false, 5);
    expect(x.got).toEqual([]);
    expectChallengeAck(x.peer.since(n)[0], x.ep);
    expect(p.b.net.tcp.TcpExtTCPChallengeACK).toBe(1);
    // An old ACK that is still within MAX.SND.WND is fine: its data is taken.
    x.peer.send(80, { flags: TCP_ACK | TCP_PSH, seq: x.ep.rcvNxt, ack: x.ep.sndUna - 100, payload: Buffer.from('ok') });
    await runUntil(p.rt, () => x.got.length > 0, 5);
    expect(Buffer.concat(x.got).toString()).toBe('ok');
  });

  it('data outside the receive window is answered with an ACK and dropped', async () => {
    const p = makePair();
    const x = setup(p);
    const n = x.peer.seen.length;
    x.peer.send(80, { flags: TCP_ACK | TCP_PSH, seq: x.ep.rcvNxt + 1_000_000, payload: Buffer.from('far') });
    x.peer.send(80, { flags: TCP_ACK | TCP_PSH, seq: x.ep.rcvNxt - 10, payload: Buffer.from('old') });
    await runUntil(p.rt, () => false, 5);
    expect(x.got).toEqual([]);
    const answers = x.peer.since(n);
    expect(answers).toHaveLength(2);
    for (const a of answers) expect(a.ack).toBe(x.ep.rcvNxt);
    expect(drops(p.b, 'tcp-invalid-seq')).toBe(1);
    expect(drops(p.b, 'tcp-old-data')).toBe(1);
    expectNoLeaks(p.b);
  });

  it('a segment with a bad checksum is dropped and counted, unanswered', () => {
    const p = makePair();
    const x = setup(p);
    const n = x.peer.seen.length;
    x.peer.send(80, { flags: TCP_RST, seq: x.ep.rcvNxt, badChecksum: true });
    expect(x.ep.state).toBe(TcpState.Established);
    expect(x.peer.since(n)).toEqual([]);
    expect(p.b.net.tcp.TcpInCsumErrors).toBe(1);
    expect(p.b.net.tcp.TcpInErrs).toBe(1);
  });

  it('PAWS: a segment with an older timestamp is dropped and ACKed (RFC 7323 §5.3)', async () => {
    const p = makePair();
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80, { mss: 1460, timestamps: true, tsVal: 5000, tsEcr: 0 });
    expect(ep.tsOk).toBe(true);
    const got: Buffer[] = [];
    socks[0]!.on('data', (d: Buffer) => got.push(d));
    peer.send(80, { flags: TCP_ACK | TCP_PSH, payload: Buffer.from('new'), options: { timestamps: true, tsVal: 6000, tsEcr: 0 } });
    await runUntil(p.rt, () => got.length === 1, 5);
    const n = peer.seen.length;
    peer.send(80, { flags: TCP_ACK | TCP_PSH, payload: Buffer.from('old'), options: { timestamps: true, tsVal: 5500, tsEcr: 0 } });
    await runUntil(p.rt, () => false, 5);
    expect(Buffer.concat(got).toString()).toBe('new');
    expect(p.b.net.tcp.TcpExtPAWSEstab).toBe(1);
    expect(peer.since(n).some(isPureAck)).toBe(true);
    expect(peer.last().opts.tsEcr).toBe(6000);
  });
});

describe('SYN cookies (RFC 4987 §3.6)', () => {
  const SPOOF = parseIpv4('10.0.0.77')!;

  /** `n` SYNs from spoofed ports that never complete (their SYN-ACKs go nowhere). */
  function flood(p: Pair, n: number, port = 80): void {
    p.b.neigh.addPermanent(SPOOF, p.devB, 0x02_00_00_00_00_99);
    for (let i = 0; i < n; i++) p.link.inject(1, tcpFrame({ src: SPOOF, sport: 20_000 + i, dport: port, seq: 1000 * i, flags: TCP_SYN, options: { mss: 1460 } }));
    p.rt.run();
  }

  it('a full SYN queue answers with cookies, and a real client still connects and moves data', async () => {
    const p = makePair();
    const echo = p.b.createServer((s) => s.pipe(s));
    echo.listen(80, '0.0.0.0', 4);
    p.rt.run();
    const sniffB = tcpSniff(p.b);
    flood(p, 20);
    const l = p.b.tcp.listenerTable()[0]!;
    expect(l.synQueue.size).toBe(4);
    expect(p.b.net.tcp.TcpExtSyncookiesSent).toBe(16);
    expect(sniffB.filter(isSynAck)).toHaveLength(20);
    const c = p.a.connect(80, '10.0.0.2');
    const e = errorCodes(c);
    const body = pattern(200_000, 9);
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => got.push(d));
    let ended = false;
    c.on('end', () => (ended = true));
    c.end(body);
    await runUntil(p.rt, () => ended, 10_000);
    expect(e).toEqual([]);
    expect(p.b.net.tcp.TcpExtSyncookiesSent).toBe(17);
    expect(p.b.net.tcp.TcpExtSyncookiesRecv).toBe(1);
    expect(sha256(Buffer.concat(got))).toBe(sha256(body));
    // The cookie SYN-ACK keeps no state, so it offers no window scale, SACK or timestamps.
    const cookie = sniffB.filter((s) => isSynAck(s) && s.dst !== SPOOF)[0]!;
    expect(cookie.opts.mss).toBe(1460);
    expect(cookie.opts.wscale).toBe(-1);
    expect(cookie.opts.sackPermitted).toBe(false);
    expect(cookie.opts.timestamps).toBe(false);
  });

  it('a hand-made handshake completes on a cookie; a forged cookie is counted and reset', () => {
    const p = makePair();
    serve(p, 80, {}, 2);
    flood(p, 2);
    const peer = new RawPeer(p);
    peer.send(80, { flags: TCP_SYN, options: { mss: 1400 } });
    expect(p.b.net.tcp.TcpExtSyncookiesSent).toBe(1);
    const synAck = peer.last();
    expect(isSynAck(synAck)).toBe(true);
    expect(synAck.opts.mss).toBe(1300); // the largest cookie MSS not above the peer's
    // A forged ACK: right 4-tuple, wrong cookie.
    peer.send(80, { flags: TCP_ACK, ack: synAck.seq + 12345 });
    expect(p.b.net.tcp.TcpExtSyncookiesFailed).toBe(1);
    expect(isRst(peer.last())).toBe(true);
    expect(peer.last().seq).toBe(synAck.seq + 12345);
    expect(peer.endpoint(80)).toBeUndefined();
    // The genuine ACK.
    peer.rcvNxt = synAck.seq + 1;
    peer.send(80, { flags: TCP_ACK });
    expect(p.b.net.tcp.TcpExtSyncookiesRecv).toBe(1);
    const ep = peer.endpoint(80)!;
    expect(ep.state).toBe(TcpState.Established);
    expect(ep.mss).toBe(1300);
    expectNoLeaks(p.b);
  });

  it('a cookie older than two minutes is refused', async () => {
    const p = makePair();
    serve(p, 80, {}, 1);
    flood(p, 1);
    const peer = new RawPeer(p);
    peer.send(80, { flags: TCP_SYN, options: { mss: 1460 } });
    const synAck = peer.last();
    expect(p.b.net.tcp.TcpExtSyncookiesSent).toBe(1);
    await runUntil(p.rt, () => false, 4 * 60_000, 60_000);
    flood(p, 3); // the queue overflows again: cookies are being checked
    peer.rcvNxt = synAck.seq + 1;
    peer.send(80, { flags: TCP_ACK });
    expect(p.b.net.tcp.TcpExtSyncookiesFailed).toBe(1);
    expect(isRst(peer.last())).toBe(true);
    expect(peer.endpoint(80)).toBeUndefined();
  });

  it('without a recent overflow a stray ACK is reset without a cookie check (Linux tcp_synq_no_recent_overflow)', () => {
    const p = makePair();
    serve(p, 80);
    const peer = new RawPeer(p);
    peer.send(80, { flags: TCP_ACK, seq: 1, ack: 2 });
    expect(isRst(peer.last())).toBe(true);
    expect(p.b.net.tcp.TcpExtSyncookiesFailed).toBe(0);
    expect(peer.endpoint(80)).toBeUndefined();
  });

  it('with cookies off a full SYN queue drops SYNs (TcpExtTCPReqQFullDrop)', () => {
    const p = makePair();
    p.b.tcp.config.syncookies = false;
    serve(p, 80, {}, 2);
    flood(p, 5);
    expect(p.b.net.tcp.TcpExtTCPReqQFullDrop).toBe(3);
    expect(p.b.net.tcp.TcpExtListenDrops).toBe(3);
    expect(p.b.net.tcp.TcpExtSyncookiesSent).toBe(0);
    expect(drops(p.b, 'tcp-req-full')).toBe(3);
  });
});
