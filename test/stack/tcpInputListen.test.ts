// Segment arrival without an established endpoint (tcp.ts): LISTEN (RFC 9293
// §3.10.7.2), a request sock in SYN-RECV (Linux tcp_check_req, with RFC
// 5961), and a SYN that reopens a connection in TIME-WAIT (Linux
// tcp_timewait_state_process, RFC 6191), driven by hand-made segments.
import { describe, expect, it } from 'vitest';
import type { TcpEndpoint } from '../../src/tcp/endpoint.js';
import { TcpState } from '../../src/tcp/state.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { drops, expectNoLeaks, makePair, runUntil, type Pair } from '../helpers/pair.js';
import { errorCodes, isPureAck, isRst, isSynAck, pattern, RawPeer, serve, type Seg } from '../helpers/tcp.js';

describe('LISTEN (RFC 9293 §3.10.7.2)', () => {
  it('a SYN-ACK to a listener is answered <SEQ=SEG.ACK><CTL=RST> (Linux tcp_rcv_state_process returns 1 for an ACK)', () => {
    const p = makePair();
    serve(p, 80);
    const peer = new RawPeer(p);
    peer.send(80, { flags: TCP_SYN | TCP_ACK, seq: 5000, ack: 0x1234_5678 });
    const r = peer.last();
    expect(r.flags).toBe(TCP_RST);
    expect(r.seq).toBe(0x1234_5678);
    expect(drops(p.b, 'tcp-invalid-ack')).toBe(1);
    expect(p.b.tcp.listenerTable()[0]!.synQueue.size).toBe(0);
    expectNoLeaks(p.b);
  });

  it('any other segment with ACK is reset too; a RST and a segment without SYN or ACK are dropped unanswered', () => {
    const p = makePair();
    serve(p, 80);
    const peer = new RawPeer(p);
    peer.send(80, { flags: TCP_FIN | TCP_ACK, seq: 100, ack: 777 });
    expect(peer.last().flags).toBe(TCP_RST);
    expect(peer.last().seq).toBe(777);
    peer.send(80, { flags: TCP_ACK | TCP_PSH, seq: 100, ack: 888, payload: pattern(20) });
    expect(peer.last().seq).toBe(888);
    const n = peer.seen.length;
    peer.send(80, { flags: TCP_RST | TCP_ACK, seq: 1, ack: 1 });
    peer.send(80, { flags: TCP_RST, seq: 1 });
    peer.send(80, { flags: TCP_FIN, seq: 1 });
    peer.send(80, { flags: TCP_SYN | TCP_FIN, seq: 1 });
    expect(peer.since(n)).toEqual([]);
    expect(drops(p.b, 'tcp-rst')).toBe(2);
    expect(drops(p.b, 'tcp-flags')).toBe(2);
    expect(p.b.tcp.listenerTable()[0]!.synQueue.size).toBe(0);
    expect(p.b.net.tcp.TcpOutRsts).toBe(2);
    expectNoLeaks(p.b);
  });
});

describe('SYN-RECV: a request sock (Linux tcp_check_req; RFC 5961)', () => {
  /** A request on B:80 from the raw peer; returns its SYN-ACK. */
  function request(p: Pair, options?: { timestamps: true; tsVal: number }): { peer: RawPeer; synAck: Seg } {
    serve(p, 80);
    const peer = new RawPeer(p);
    peer.send(80, { flags: TCP_SYN, options });
    const synAck = peer.last();
    expect(isSynAck(synAck)).toBe(true);
    peer.rcvNxt = (synAck.seq + 1) >>> 0;
    return { peer, synAck };
  }

  /** The ACK a request sends: SEQ = ISS + 1, ACK = IRS + 1, nothing else. */
  function expectRequestAck(s: Seg | undefined, synAck: Seg, peer: RawPeer): void {
    expect(s).toBeDefined();
    expect(isPureAck(s!)).toBe(true);
    expect(s!.seq).toBe((synAck.seq + 1) >>> 0);
    expect(s!.ack).toBe((peer.iss + 1) >>> 0);
  }

  it('a RST in the window but not at RCV.NXT draws a challenge ACK and leaves the request (RFC 5961 §3.2)', () => {
    const p = makePair();
    const { peer, synAck } = request(p);
    const l = p.b.tcp.listenerTable()[0]!;
    const n = peer.seen.length;
    peer.send(80, { flags: TCP_RST, seq: peer.iss + 1000 });
    expect(peer.since(n)).toHaveLength(1);
    expectRequestAck(peer.last(), synAck, peer);
    expect(l.synQueue.size).toBe(1);
    expect(p.b.net.tcp.TcpExtTCPChallengeACK).toBe(1);
    expect(p.b.net.tcp.TcpAttemptFails).toBe(0);
    expect(drops(p.b, 'tcp-rst')).toBe(1);
    // Out of the window: silently dropped.
    peer.send(80, { flags: TCP_RST, seq: peer.iss + 1_000_000 });
    expect(peer.since(n)).toHaveLength(1);
    expect(l.synQueue.size).toBe(1);
    // Exactly at RCV.NXT: the request goes, counted as a failed attempt.
    peer.send(80, { flags: TCP_RST, seq: peer.iss + 1 });
    expect(l.synQueue.size).toBe(0);
    expect(p.b.net.tcp.TcpAttemptFails).toBe(1);
    expect(p.b.net.tcp.TcpExtEmbryonicRsts).toBe(1);
    expect(peer.seen.filter(isRst)).toHaveLength(0);
    expectNoLeaks(p.b);
  });

  it('challenge ACKs for requests share the stack-wide budget (RFC 5961 §7)', async () => {
    const p = makePair();
    p.b.tcp.config.challengeAckLimit = 2;
    p.b.tcp.config.invalidRatelimitMs = 0; // the request's own limit off: this is the stack's
    const { peer } = request(p);
    await runUntil(p.rt, () => false, 1001, 1001); // a fresh one-second period with the new limit
    const n = peer.seen.length;
    for (let i = 0; i < 5; i++) peer.send(80, { flags: TCP_RST, seq: peer.iss + 10 + i });
    expect(peer.since(n)).toHaveLength(2);
    expect(p.b.net.tcp.TcpExtTCPChallengeACK).toBe(2);
    expect(p.b.net.tcp.TcpExtTCPACKSkippedChallenge).toBe(3);
    expect(p.b.tcp.listenerTable()[0]!.synQueue.size).toBe(1);
  });

  it('a segment outside the window gets an ACK, not a RST, and the request stays (tcp_check_req: "Out of window: send ACK and drop")', () => {
    const p = makePair();
    const { peer, synAck } = request(p);
    const l = p.b.tcp.listenerTable()[0]!;
    let n = peer.seen.length;
    peer.send(80, { flags: TCP_ACK | TCP_PSH, seq: peer.iss + 1 + 100_000, payload: pattern(10) });
    expect(peer.since(n)).toHaveLength(1);
    expectRequestAck(peer.last(), synAck, peer);
    expect(peer.last().window).toBe(synAck.window); // the window the SYN-ACK offered, no more
    expect(drops(p.b, 'tcp-invalid-seq')).toBe(1);
    n = peer.seen.length;
    peer.send(80, { flags: TCP_ACK, seq: peer.iss - 50 });
    expect(peer.since(n)).toHaveLength(1);
    expectRequestAck(peer.last(), synAck, peer);
    expect(drops(p.b, 'tcp-old-data')).toBe(1);
    expect(l.synQueue.size).toBe(1);
    expect(peer.endpoint(80)).toBeUndefined();
    // The real final ACK still completes the handshake.
    peer.sndNxt = peer.iss + 1;
    peer.send(80, { flags: TCP_ACK });
    expect(peer.endpoint(80)!.state).toBe(TcpState.Established);
    expectNoLeaks(p.b);
  });

  it('PAWS against the SYN timestamp: an older one is answered with an ACK and dropped', () => {
    const p = makePair();
    const { peer, synAck } = request(p, { timestamps: true, tsVal: 5000 });
    const n = peer.seen.length;
    peer.sndNxt = peer.iss + 1;
    peer.send(80, { flags: TCP_ACK, seq: peer.iss + 1, options: { timestamps: true, tsVal: 4000, tsEcr: synAck.opts.tsVal } });
    expect(peer.since(n)).toHaveLength(1);
    expectRequestAck(peer.last(), synAck, peer);
    expect(peer.last().opts.tsEcr).toBe(5000);
    expect(p.b.net.tcp.TcpExtPAWSEstab).toBe(1);
    expect(drops(p.b, 'tcp-paws')).toBe(1);
    expect(peer.endpoint(80)).toBeUndefined();
    peer.send(80, { flags: TCP_ACK, options: { timestamps: true, tsVal: 5001, tsEcr: synAck.opts.tsVal } });
    expect(peer.endpoint(80)!.state).toBe(TcpState.Established);
  });

  it('a retransmitted SYN gets the SYN-ACK again; a SYN at another sequence number gets a challenge ACK (RFC 5961 §4.2)', async () => {
    const p = makePair();
    const { peer, synAck } = request(p);
    let n = peer.seen.length;
    peer.send(80, { flags: TCP_SYN, seq: peer.iss });
    expect(peer.since(n)).toHaveLength(1);
    expect(isSynAck(peer.last())).toBe(true);
    expect(peer.last().seq).toBe(synAck.seq);
    // Within tcp_invalid_ratelimit of that SYN-ACK, the request answers nothing more.
    n = peer.seen.length;
    peer.send(80, { flags: TCP_SYN, seq: peer.iss });
    peer.send(80, { flags: TCP_SYN, seq: peer.iss + 500 });
    expect(peer.since(n)).toHaveLength(0);
    expect(p.b.net.tcp.TcpExtTCPACKSkippedSynRecv).toBe(1);
    expect(p.b.net.tcp.TcpExtTCPACKSkippedChallenge).toBe(1);
    await runUntil(p.rt, () => false, 500, 500);
    n = peer.seen.length;
    peer.send(80, { flags: TCP_SYN, seq: peer.iss + 500 });
    expect(peer.since(n)).toHaveLength(1);
    expectRequestAck(peer.last(), synAck, peer);
    expect(p.b.net.tcp.TcpExtTCPSYNChallenge).toBe(2);
    expect(drops(p.b, 'tcp-invalid-syn')).toBe(2);
    expect(p.b.tcp.listenerTable()[0]!.synQueue.size).toBe(1);
  });
});

describe('a SYN in TIME-WAIT (Linux tcp_timewait_state_process, RFC 6191)', () => {
  /** B:80 serving the raw peer, closed by B first and now in TIME-WAIT. */
  function timeWait(p: Pair, ts: boolean): { peer: RawPeer; tw: TcpEndpoint } {
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const o = (tsVal: number) => (ts ? { timestamps: true as const, tsVal } : undefined);
    const ep = peer.connect(80, ts ? { timestamps: true, tsVal: 1000 } : undefined);
    socks[0]!.resume();
    socks[0]!.end();
    p.rt.run();
    peer.rcvNxt++;
    peer.send(80, { flags: TCP_FIN | TCP_ACK, options: o(1001) });
    expect(ep.state).toBe(TcpState.TimeWait);
    return { peer, tw: ep };
  }

  it('without timestamps: a SYN beyond the old RCV.NXT opens a new connection whose ISN is the old SND.NXT + 65537', () => {
    const p = makePair();
    const { peer, tw } = timeWait(p, false);
    const oldSndNxt = tw.sndNxt;
    const n = peer.seen.length;
    peer.send(80, { flags: TCP_SYN, seq: tw.rcvNxt + 10 });
    const synAck = peer.since(n).find(isSynAck)!;
    expect(synAck).toBeDefined();
    expect(synAck.seq).toBe((oldSndNxt + 65537) >>> 0);
    expect(synAck.ack).toBe(tw.rcvNxt + 11);
    expect(tw.state).toBe(TcpState.Close);
    expect(p.b.tcp.listenerTable()[0]!.synQueue.size).toBe(1);
  });

  it('with timestamps: a newer sequence number with the same TSval is enough; so is a newer TSval with an old sequence number', () => {
    for (const how of ['seq', 'ts'] as const) {
      const p = makePair();
      const { peer, tw } = timeWait(p, true);
      expect(tw.tsRecent).toBe(1001);
      const oldSndNxt = tw.sndNxt;
      const n = peer.seen.length;
      if (how === 'seq') peer.send(80, { flags: TCP_SYN, seq: tw.rcvNxt + 10, options: { timestamps: true, tsVal: 1001 } });
      else peer.send(80, { flags: TCP_SYN, seq: tw.rcvNxt - 100_000, options: { timestamps: true, tsVal: 1002 } });
      const synAck = peer.since(n).find(isSynAck);
      expect(synAck, how).toBeDefined();
      expect(synAck!.seq, how).toBe((oldSndNxt + 65537) >>> 0);
      expect(tw.state, how).toBe(TcpState.Close);
    }
  });

  it('an older TSval (PAWS) or an old sequence number without a newer TSval keeps TIME-WAIT: the SYN gets an ACK', async () => {
    const p = makePair();
    const { peer, tw } = timeWait(p, true);
    let n = peer.seen.length;
    peer.send(80, { flags: TCP_SYN, seq: tw.rcvNxt + 10, options: { timestamps: true, tsVal: 900 } });
    expect(peer.since(n)).toHaveLength(1);
    expect(isPureAck(peer.last())).toBe(true);
    expect(peer.last().ack).toBe(tw.rcvNxt);
    expect(p.b.net.tcp.TcpExtPAWSEstab).toBe(1);
    expect(drops(p.b, 'tcp-paws')).toBe(1);
    await runUntil(p.rt, () => false, 500, 500); // past tcp_invalid_ratelimit
    n = peer.seen.length;
    peer.send(80, { flags: TCP_SYN, seq: tw.rcvNxt - 10, options: { timestamps: true, tsVal: 1001 } });
    expect(peer.since(n)).toHaveLength(1);
    expect(isPureAck(peer.last())).toBe(true);
    expect(drops(p.b, 'tcp-invalid-syn')).toBe(1);
    expect(tw.state).toBe(TcpState.TimeWait);
    expect(p.b.tcp.listenerTable()[0]!.synQueue.size).toBe(0);
    expectNoLeaks(p.b);
  });

  it('with nobody listening the SYN is answered with an ACK and TIME-WAIT stays (Linux TCP_TW_SYN falls through to TCP_TW_ACK)', () => {
    const p = makePair();
    const peer = new RawPeer(p);
    const s = p.b.connect({ port: peer.port, host: '10.0.0.3', localPort: 7000 });
    errorCodes(s);
    p.rt.run();
    const syn = peer.last();
    peer.send(7000, { flags: TCP_SYN | TCP_ACK, seq: peer.iss, ack: syn.seq + 1 });
    peer.sndNxt = peer.iss + 1;
    peer.rcvNxt = syn.seq + 1;
    const ep = s.ep!;
    s.end();
    p.rt.run();
    peer.rcvNxt++;
    peer.send(7000, { flags: TCP_FIN | TCP_ACK });
    expect(ep.state).toBe(TcpState.TimeWait);
    const n = peer.seen.length;
    peer.send(7000, { flags: TCP_SYN, seq: ep.rcvNxt + 1000 });
    expect(peer.since(n)).toHaveLength(1);
    expect(isPureAck(peer.last())).toBe(true);
    expect(ep.state).toBe(TcpState.TimeWait);
    expect(p.b.net.tcp.TcpOutRsts).toBe(0);
  });
});
