// ACKs to segments a connection cannot accept — out of the window, PAWS
// rejects, challenge ACKs, anything in TIME-WAIT — are rate-limited per
// connection (Linux tcp_oow_rate_limited, tcp_invalid_ratelimit = 500 ms), so
// two ends that disagree about the sequence space cannot ACK each other in a
// loop; segments that occupy sequence space without a SYN are always ACKed.
// And TIME-WAIT as Linux keeps it: an ACK from the peer starts 2 MSL again.
import { describe, expect, it } from 'vitest';
import { TcpState } from '../../src/tcp/state.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST } from '../../src/wire/tcp.js';
import { drops, expectNoLeaks, makePair, runUntil, type Pair } from '../helpers/pair.js';
import { isPureAck, pattern, RawPeer, serve } from '../helpers/tcp.js';

function established(p: Pair) {
  const socks = serve(p, 80);
  const peer = new RawPeer(p);
  const ep = peer.connect(80);
  return { peer, ep, sock: socks[0]! };
}

/** B:80 serving the raw peer, closed by B first and now in TIME-WAIT. */
function timeWait(p: Pair) {
  const x = established(p);
  x.sock.resume();
  x.sock.end();
  p.rt.run();
  x.peer.rcvNxt++;
  x.peer.send(80, { flags: TCP_FIN | TCP_ACK });
  expect(x.ep.state).toBe(TcpState.TimeWait);
  return x;
}

describe('ACKs to unacceptable segments are rate-limited per connection (tcp_invalid_ratelimit)', () => {
  it('bare ACKs out of the window: one ACK per 500 ms, the rest counted TcpExtTCPACKSkippedSeq; data and FINs are always ACKed', async () => {
    const p = makePair();
    const { peer, ep } = established(p);
    let n = peer.seen.length;
    for (let i = 0; i < 5; i++) peer.send(80, { flags: TCP_ACK, seq: ep.rcvNxt + 1_000_000 + i });
    expect(peer.since(n)).toHaveLength(1);
    expect(isPureAck(peer.last())).toBe(true);
    expect(peer.last().ack).toBe(ep.rcvNxt);
    expect(p.b.net.tcp.TcpExtTCPACKSkippedSeq).toBe(4);
    expect(drops(p.b, 'tcp-invalid-seq')).toBe(5);
    // Old data (a retransmission whose ACK was lost) and old FINs: the sender waits for that ACK.
    n = peer.seen.length;
    for (let i = 0; i < 3; i++) peer.send(80, { flags: TCP_ACK | TCP_PSH, seq: ep.rcvNxt - 100_000, payload: pattern(10) });
    peer.send(80, { flags: TCP_ACK | TCP_FIN, seq: ep.rcvNxt - 100_000 });
    expect(peer.since(n)).toHaveLength(4);
    expect(p.b.net.tcp.TcpExtTCPACKSkippedSeq).toBe(4);
    // 500 ms later a bare one is answered again.
    await runUntil(p.rt, () => false, 500, 500);
    n = peer.seen.length;
    peer.send(80, { flags: TCP_ACK, seq: ep.rcvNxt + 1_000_000 });
    expect(peer.since(n)).toHaveLength(1);
    expect(ep.state).toBe(TcpState.Established);
  });

  it('challenge ACKs: one per connection per 500 ms (TcpExtTCPACKSkippedChallenge), each connection on its own', async () => {
    const p = makePair();
    const a = established(p);
    const b2 = new RawPeer(p, 40001);
    const ep2 = b2.connect(80);
    let n = a.peer.seen.length;
    for (let i = 0; i < 5; i++) a.peer.send(80, { flags: TCP_RST, seq: a.ep.rcvNxt + 1 + i });
    expect(a.peer.since(n)).toHaveLength(1);
    expect(p.b.net.tcp.TcpExtTCPChallengeACK).toBe(1);
    expect(p.b.net.tcp.TcpExtTCPACKSkippedChallenge).toBe(4);
    // The other connection's limit is its own.
    const n2 = b2.seen.length;
    b2.send(80, { flags: TCP_RST, seq: ep2.rcvNxt + 1 });
    expect(b2.since(n2)).toHaveLength(1);
    expect(p.b.net.tcp.TcpExtTCPChallengeACK).toBe(2);
    await runUntil(p.rt, () => false, 500, 500);
    n = a.peer.seen.length;
    a.peer.send(80, { flags: TCP_RST, seq: a.ep.rcvNxt + 1 });
    expect(a.peer.since(n)).toHaveLength(1);
    expect(a.ep.state).toBe(TcpState.Established);
    expect(ep2.state).toBe(TcpState.Established);
  });

  it('a PAWS-rejected segment draws one ACK per 500 ms (TcpExtTCPACKSkippedPAWS)', () => {
    const p = makePair();
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80, { timestamps: true, tsVal: 5000 });
    expect(socks).toHaveLength(1);
    const n = peer.seen.length;
    for (let i = 0; i < 3; i++) peer.send(80, { flags: TCP_ACK, options: { timestamps: true, tsVal: 1000 } });
    expect(peer.since(n)).toHaveLength(1);
    expect(p.b.net.tcp.TcpExtPAWSEstab).toBe(3);
    expect(p.b.net.tcp.TcpExtTCPACKSkippedPAWS).toBe(2);
    expect(drops(p.b, 'tcp-paws')).toBe(3);
    expect(ep.state).toBe(TcpState.Established);
  });
});

describe('TIME-WAIT (Linux tcp_timewait_state_process)', () => {
  it('a bare ACK at RCV.NXT starts 2 MSL again and is not answered', async () => {
    const p = makePair();
    const { peer, ep } = timeWait(p);
    const first = ep.waitTimer.expires;
    await runUntil(p.rt, () => false, 30_000, 30_000);
    const n = peer.seen.length;
    peer.send(80, { flags: TCP_ACK });
    expect(peer.since(n)).toHaveLength(0);
    expect(ep.waitTimer.expires).toBe(first + 30_000);
    await runUntil(p.rt, () => ep.state === TcpState.Close, 120_000, 1000);
    expect(p.rt.clock.now()).toBeGreaterThanOrEqual(first + 30_000);
    expectNoLeaks(p.b);
  });

  it('an ACK out of the window is answered (rate-limited, TcpExtTCPACKSkippedTimeWait) and starts 2 MSL again; a retransmitted FIN is always answered', async () => {
    const p = makePair();
    const { peer, ep } = timeWait(p);
    await runUntil(p.rt, () => false, 10_000, 10_000);
    let n = peer.seen.length;
    for (let i = 0; i < 4; i++) peer.send(80, { flags: TCP_ACK, seq: ep.rcvNxt + 50_000 });
    expect(peer.since(n)).toHaveLength(1);
    expect(isPureAck(peer.last())).toBe(true);
    expect(peer.last().ack).toBe(ep.rcvNxt);
    expect(p.b.net.tcp.TcpExtTCPACKSkippedTimeWait).toBe(3);
    expect(drops(p.b, 'tcp-invalid-seq')).toBe(4);
    expect(ep.waitTimer.expires).toBe(p.rt.clock.now() + p.b.tcp.config.timeWaitMs);
    // The peer's FIN again (our ACK was lost), twice at once: each is answered, neither is a drop.
    n = peer.seen.length;
    peer.send(80, { flags: TCP_FIN | TCP_ACK, seq: ep.rcvNxt - 1 });
    peer.send(80, { flags: TCP_FIN | TCP_ACK, seq: ep.rcvNxt - 1 });
    expect(peer.since(n)).toHaveLength(2);
    expect(p.b.net.tcp.TcpExtTCPACKSkippedTimeWait).toBe(3);
    expect(drops(p.b, 'tcp-invalid-seq')).toBe(4);
    // A RST out of the window changes nothing; one at RCV.NXT ends TIME-WAIT (tcp_rfc1337 = 0).
    n = peer.seen.length;
    peer.send(80, { flags: TCP_RST, seq: ep.rcvNxt + 10 });
    expect(peer.since(n)).toHaveLength(0);
    expect(ep.state).toBe(TcpState.TimeWait);
    peer.send(80, { flags: TCP_RST, seq: ep.rcvNxt });
    expect(ep.state).toBe(TcpState.Close);
    expectNoLeaks(p.b);
  });
});
