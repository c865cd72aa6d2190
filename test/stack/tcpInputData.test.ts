// Segment arrival on a connection, the data side (input.ts): a FIN that
// arrives out of order waits in the out-of-order queue with its segment
// (Linux tcp_data_queue_ofo / tcp_ofo_queue → tcp_fin), the drop reasons every
// discard is counted under (Linux SKB_DROP_REASON_TCP_*), and loss recovery
// without SACK (tcp_sack = 0: NewReno, RFC 6582).
import { describe, expect, it } from 'vitest';
import { TcpState } from '../../src/tcp/state.js';
import { ETH_HLEN } from '../../src/wire/ethernet.js';
import { IPPROTO_TCP } from '../../src/wire/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { decodeTcp, errorCodes, isFin, isPureAck, pattern, RawPeer, serve, sha256, tcpSniff } from '../helpers/tcp.js';
import { drops, expectNoLeaks, makePair, runUntil, type Pair } from '../helpers/pair.js';

/** Loses, A→B, the TCP frames `lose` picks (by their decoded segment); returns the segments lost. */
function loseAtoB(p: Pair, lose: (s: NonNullable<ReturnType<typeof decodeTcp>>) => boolean): Array<NonNullable<ReturnType<typeof decodeTcp>>> {
  const wire = p.link.wires[0];
  const send = wire.send.bind(wire);
  const lost: Array<NonNullable<ReturnType<typeof decodeTcp>>> = [];
  wire.send = (frame: Uint8Array) => {
    if (frame.length >= ETH_HLEN + 20 && frame[ETH_HLEN + 9] === IPPROTO_TCP) {
      const s = decodeTcp(frame);
      if (s && lose(s)) {
        lost.push(s);
        return;
      }
    }
    send(frame);
  };
  return lost;
}

describe('a FIN out of order (Linux tcp_data_queue_ofo keeps the whole skb)', () => {
  it('data + FIN beyond a hole: the retransmission that fills the hole takes the connection to CLOSE-WAIT, no FIN retransmission needed', async () => {
    // 5 ms each way, so the socket's end() queues the FIN before the first ACKs
    // come back: the initial window (10 segments) goes at once, the tail and the
    // FIN wait for the ACKs and leave together.
    const p = makePair({ faults: { delayMs: 5 } });
    const socks = serve(p, 80);
    const c = p.a.connect(80, '10.0.0.2');
    errorCodes(c);
    await runUntil(p.rt, () => socks.length === 1 && !c.connecting, 100);
    const s = socks[0]!;
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    const sep = s.ep!;
    const cep = c.ep!;
    const mss = cep.mss;
    // Lose the tenth segment once: the hole the FIN will wait behind.
    const holeSeq = (cep.sndNxt + 9 * mss) >>> 0;
    let once = true;
    const lost = loseAtoB(p, (seg) => {
      if (once && seg.data.length > 0 && seg.seq === holeSeq) {
        once = false;
        return true;
      }
      return false;
    });
    const inB = tcpSniff(p.b, 'in');
    const outB = tcpSniff(p.b, 'out');
    const body = pattern(10 * mss + 500);
    c.end(body);
    await runUntil(p.rt, () => inB.some(isFin), 1000);
    expect(lost).toHaveLength(1);
    const finSeg = inB.find(isFin)!;
    expect(finSeg.data.length).toBe(500); // the tail and the FIN in one segment, beyond the hole
    const finSeq = (finSeg.seq + finSeg.data.length) >>> 0;
    await runUntil(p.rt, () => outB.some((x) => x.t >= finSeg.t && x.opts.sackCount > 0), 10);
    // B answers with a duplicate ACK whose SACK block covers the data and the FIN.
    const dup = outB.find((x) => x.t >= finSeg.t && x.opts.sackCount > 0)!;
    expect(dup.ack).toBe(holeSeq);
    expect([dup.opts.sackBlocks[0], dup.opts.sackBlocks[1]]).toEqual([finSeg.seq, (finSeq + 1) >>> 0]);
    expect(sep.state).toBe(TcpState.Established);
    // The RTO resends the lost segment; on it B delivers everything and takes the FIN.
    await runUntil(p.rt, () => sep.state === TcpState.CloseWait, 5_000);
    expect(sep.state).toBe(TcpState.CloseWait);
    expect(Buffer.concat(got)).toEqual(body);
    const retrans = inB.filter((x) => x.seq === holeSeq && x.data.length > 0);
    expect(retrans).toHaveLength(1);
    expect(isFin(retrans[0]!)).toBe(false);
    // The ACK answering the retransmission already covers the FIN, at the same instant.
    const ackOfFin = outB.find((x) => x.ack === ((finSeq + 1) >>> 0))!;
    expect(ackOfFin.t).toBe(retrans[0]!.t);
    expect(p.a.net.tcp.TcpRetransSegs).toBe(1); // the FIN itself was never sent again
    expect(inB.filter(isFin)).toHaveLength(1);
    expect(sep.ofo.length).toBe(0);
    expectNoLeaks(p.a, p.b);
  });

  it('a bare FIN beyond a hole draws a duplicate ACK with a SACK block for it, and is taken once the hole fills', () => {
    const p = makePair();
    serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80, { sackPermitted: true });
    expect(ep.sackOk).toBe(true);
    const hole = peer.sndNxt;
    const n = peer.seen.length;
    peer.send(80, { flags: TCP_FIN | TCP_ACK, seq: hole + 100 });
    const dup = peer.since(n);
    expect(dup).toHaveLength(1);
    expect(isPureAck(dup[0]!)).toBe(true);
    expect(dup[0]!.ack).toBe(hole);
    expect(dup[0]!.opts.sackCount).toBe(1);
    expect([dup[0]!.opts.sackBlocks[0], dup[0]!.opts.sackBlocks[1]]).toEqual([hole + 100, hole + 101]);
    expect(ep.state).toBe(TcpState.Established);
    expect(p.b.net.tcp.TcpExtTCPOFOQueue).toBe(1);
    // The 100 missing bytes: in sequence up to the FIN, which is taken with them.
    peer.send(80, { flags: TCP_ACK | TCP_PSH, seq: hole, payload: pattern(100) });
    expect(ep.state).toBe(TcpState.CloseWait);
    expect(ep.rcvNxt).toBe(hole + 101);
    const acks = peer.since(n + 1);
    expect(acks).toHaveLength(1); // one ACK, of the data and the FIN
    expect(acks[0]!.ack).toBe(hole + 101);
    expect(acks[0]!.opts.sackCount).toBe(0);
    expectNoLeaks(p.b);
  });

  it('old data with a new FIN at RCV.NXT (a retransmission that collapsed the FIN onto data already received) is taken', () => {
    const p = makePair();
    serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80);
    const at = peer.sndNxt;
    peer.send(80, { flags: TCP_ACK | TCP_PSH, payload: pattern(100) });
    expect(ep.rcvNxt).toBe(at + 100);
    peer.send(80, { flags: TCP_ACK | TCP_PSH | TCP_FIN, seq: at, payload: pattern(100) });
    expect(ep.state).toBe(TcpState.CloseWait);
    expect(ep.rcvNxt).toBe(at + 101);
    expect(peer.last().ack).toBe(at + 101);
    expectNoLeaks(p.b);
  });
});

describe('drop reasons (Linux SKB_DROP_REASON_TCP_*)', () => {
  it('an ACK of unsent data, a too-old ACK, a SYN, data to a zero window and a RST out of sequence each count under their reason', async () => {
    const p = makePair();
    const socks = serve(p, 80, { rcvBuf: 1000 });
    const peer = new RawPeer(p);
    const ep = peer.connect(80);
    const sock = socks[0]!;
    sock.write(pattern(100));
    p.rt.run();
    peer.send(80, { flags: TCP_ACK, ack: ep.sndNxt }); // MAX.SND.WND = 65535
    peer.send(80, { flags: TCP_ACK, ack: ep.sndNxt + 5000 });
    expect(drops(p.b, 'tcp-ack-unsent-data')).toBe(1);
    peer.send(80, { flags: TCP_ACK, ack: ep.sndUna - 70_000 });
    expect(drops(p.b, 'tcp-too-old-ack')).toBe(1);
    peer.send(80, { flags: TCP_SYN, seq: ep.rcvNxt + 5 });
    expect(drops(p.b, 'tcp-invalid-syn')).toBe(1);
    // Fill the 1000-byte window; the next byte at RCV.NXT meets a zero window.
    peer.send(80, { flags: TCP_ACK | TCP_PSH, ack: ep.sndNxt, payload: pattern(1000) });
    expect(ep.rcvNxt).toBe(peer.sndNxt);
    peer.send(80, { flags: TCP_ACK | TCP_PSH, ack: ep.sndNxt, payload: pattern(10) });
    expect(drops(p.b, 'tcp-zero-window')).toBe(1);
    expect(p.b.net.tcp.TcpExtTCPZeroWindowDrop).toBe(1);
    expect(drops(p.b, 'tcp-rst')).toBe(0);
    expectNoLeaks(p.b);
  });

  it('SYN-SENT discards and segments dropped in TIME-WAIT carry reasons too; segments that did their work are not drops', async () => {
    const p = makePair();
    const peer = new RawPeer(p);
    const s = p.b.connect({ port: peer.port, host: '10.0.0.3', localPort: 7000 });
    errorCodes(s);
    p.rt.run();
    const syn = peer.last();
    peer.send(7000, { flags: TCP_ACK, seq: 1, ack: syn.seq + 50 }); // acknowledges what was never sent: RST
    expect(drops(p.b, 'tcp-invalid-ack')).toBe(1);
    peer.send(7000, { flags: TCP_RST, seq: 1 }); // RST without ACK: ignored
    peer.send(7000, { flags: TCP_ACK, seq: 1, ack: syn.seq + 1 }); // neither SYN nor RST
    expect(drops(p.b, 'tcp-rst')).toBe(1);
    expect(drops(p.b, 'tcp-flags')).toBe(1);
    // The SYN-ACK completes the handshake: consumed, not dropped.
    const before = [...p.b.drops()].reduce((n, [, v]) => n + v, 0);
    peer.send(7000, { flags: TCP_SYN | TCP_ACK, seq: peer.iss, ack: syn.seq + 1 });
    peer.rcvNxt = syn.seq + 1;
    peer.sndNxt = peer.iss + 1;
    expect(s.ep!.state).toBe(TcpState.Established);
    peer.send(7000, { flags: TCP_ACK | TCP_PSH, payload: pattern(10) });
    expect([...p.b.drops()].reduce((n, [, v]) => n + v, 0)).toBe(before);
    // Close from B, then the peer's FIN: TIME-WAIT. Data there is refused as old or beyond.
    s.end();
    p.rt.run();
    peer.rcvNxt++;
    peer.send(7000, { flags: TCP_FIN | TCP_ACK });
    const tw = [...p.b.tcp.endpoints][0]!;
    expect(tw.state).toBe(TcpState.TimeWait);
    peer.send(7000, { flags: TCP_ACK | TCP_PSH, payload: pattern(5) });
    expect(drops(p.b, 'tcp-invalid-seq')).toBe(1);
    peer.send(7000, { flags: TCP_RST, seq: peer.sndNxt + 7 });
    expect(drops(p.b, 'tcp-rst')).toBe(2);
    expect(tw.state).toBe(TcpState.TimeWait);
    expectNoLeaks(p.b);
  });
});

describe('loss recovery without SACK (tcp_sack = 0)', () => {
  it('NewReno (RFC 6582 §3.2): a partial ACK resends the next hole at once and stays in recovery, the full ACK ends it, and `recover` keeps the RTO\'s go-back-N from a second fast retransmit', async () => {
    const p = makePair();
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80); // no SACK-permitted, no timestamps: MSS 536
    expect(ep.sackOk).toBe(false);
    const mss = ep.mss;
    const s0 = ep.sndUna;
    socks[0]!.write(pattern(10 * mss));
    p.rt.run();
    expect(ep.flight).toBe(10 * mss);
    // Segments 0 and 5 lost: three duplicate ACKs of segment 0 start recovery.
    for (let i = 0; i < 3; i++) peer.send(80, { flags: TCP_ACK, ack: s0 });
    expect(ep.inRecovery).toBe(true);
    expect(p.b.net.tcp.TcpExtTCPRenoRecovery).toBe(1);
    expect(peer.last().seq).toBe(s0); // the fast retransmission
    // The partial ACK (segments 0–4 arrived): segment 5 goes again now, not at the RTO.
    const t = p.rt.clock.now();
    peer.send(80, { flags: TCP_ACK, ack: s0 + 5 * mss });
    expect(ep.inRecovery).toBe(true);
    const resent = peer.last();
    expect(resent.seq).toBe(s0 + 5 * mss);
    expect(resent.data.length).toBe(mss);
    expect(resent.t).toBe(t);
    // The full ACK (all that was outstanding when recovery began) ends it.
    peer.send(80, { flags: TCP_ACK, ack: s0 + 10 * mss });
    expect(ep.inRecovery).toBe(false);
    expect(ep.flight).toBe(0);
    expect(ep.cwnd).toBeLessThanOrEqual(ep.ssthresh);
    expect(p.b.net.tcp.TcpExtTCPTimeouts).toBe(0);

    // Again, but the recovery ends in an RTO: the ACKs of the go-back-N
    // retransmissions look like duplicates below `recover`, which must not start
    // a second fast recovery for the same window (RFC 6582 §3.2 step 1).
    const s1 = ep.sndUna;
    socks[0]!.write(pattern(10 * mss));
    p.rt.run();
    for (let i = 0; i < 3; i++) peer.send(80, { flags: TCP_ACK, ack: s1 });
    expect(p.b.net.tcp.TcpExtTCPRenoRecovery).toBe(2);
    await runUntil(p.rt, () => p.b.net.tcp.TcpExtTCPTimeouts === 1, 5_000);
    expect(ep.inRecovery).toBe(false);
    peer.send(80, { flags: TCP_ACK, ack: s1 + mss });
    for (let i = 0; i < 4; i++) peer.send(80, { flags: TCP_ACK, ack: s1 + mss });
    expect(p.b.net.tcp.TcpExtTCPRenoRecovery).toBe(2);
    expect(ep.inRecovery).toBe(false);
  });

  it('2 MB under 3% loss with SACK off on the receiver: SHA-256 intact, recovered by NewReno (RFC 6582), never by SACK', async () => {
    const p = makePair({ seed: 7, faults: { loss: 0.03, delayMs: 2 } });
    p.b.tcp.config.sack = false;
    const got: Buffer[] = [];
    let ended = false;
    p.b.createServer((s) => {
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => {
        ended = true;
        s.end();
      });
    }).listen(80);
    p.rt.run();
    const body = pattern(2 * 1024 * 1024, 3);
    const c = p.a.connect(80, '10.0.0.2');
    const e = errorCodes(c);
    const outB = tcpSniff(p.b);
    c.end(body);
    await runUntil(p.rt, () => ended, 600_000, 50);
    expect(e).toEqual([]);
    expect(outB.find((x) => x.flags & TCP_SYN)!.opts.sackPermitted).toBe(false); // the SYN-ACK does not offer SACK
    expect(c.ep === null || c.ep === undefined || !c.ep.sackOk).toBe(true);
    expect(Buffer.concat(got).length).toBe(body.length);
    expect(sha256(Buffer.concat(got))).toBe(sha256(body));
    expect(p.a.net.tcp.TcpExtTCPRenoRecovery).toBeGreaterThan(0);
    expect(p.a.net.tcp.TcpExtTCPSackRecovery).toBe(0);
    expect(p.a.net.tcp.TcpExtTCPFastRetrans).toBeGreaterThan(0);
  });
});
