// Regressions found by reading the code against the RFCs: each drives the
// real path on the memory link and would fail on the old behaviour.
import { describe, expect, it } from 'vitest';
import { A_MAC, B_IP, B_MAC, drops, expectNoLeaks, makePair, runUntil } from '../helpers/pair.js';
import { TcpState } from '../../src/tcp/state.js';
import { IPPROTO_ICMP, IPPROTO_TCP } from '../../src/wire/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../../src/wire/tcp.js';
import { icmpMessage, ipFrame, ipPacket } from '../helpers/frames.js';
import { pattern, PEER_IP, RawPeer, serve, sha256, tcpBytes } from '../helpers/tcp.js';

describe('TCP regressions', () => {
  it('an RTO that resends past SND.MAX (Nagle-held data) is acknowledged and the transfer completes', async () => {
    const { rt, a, b, link } = makePair();
    const got: Buffer[] = [];
    b.createServer((s) => s.on('data', (d: Buffer) => got.push(d))).listen(9);
    rt.run();
    const c = a.connect(9, '10.0.0.2');
    await runUntil(rt, () => !c.connecting, 1000);
    // 100 bytes go out and are lost; the next 100 wait behind Nagle. The RTO
    // resends from SND.UNA: one segment of both writes, reaching past SND.MAX.
    link.setFaults({ loss: 1 });
    c.write(Buffer.alloc(100, 1));
    c.write(Buffer.alloc(100, 2));
    await runUntil(rt, () => a.net.tcp.TcpExtTCPTimeouts >= 1, 5_000);
    link.setFaults({});
    await runUntil(rt, () => Buffer.concat(got).length >= 200, 30_000, 10);
    expect(Buffer.concat(got)).toEqual(Buffer.concat([Buffer.alloc(100, 1), Buffer.alloc(100, 2)]));
    const ep = [...a.tcp.endpoints][0]!;
    expect(ep.flight).toBe(0); // the peer's ACK of all 200 bytes was accepted
    expect(ep.sndMax).toBe(ep.sndUna);
  });

  it('a FIN first sent by an RTO moves the state machine on, and the connection closes', async () => {
    const { rt, a, b, link } = makePair();
    let serverEnded = false;
    b.createServer((s) => {
      s.resume();
      s.on('end', () => {
        serverEnded = true;
        s.end();
      });
    }).listen(9);
    rt.run();
    const c = a.connect(9, '10.0.0.2');
    await runUntil(rt, () => !c.connecting, 1000);
    link.setFaults({ loss: 1 });
    c.write(Buffer.alloc(100, 1)); // sent and lost
    await runUntil(rt, () => false, 5);
    // A FIN queued behind it but not sent (as when the window held it back):
    // the retransmission timer is the first to send it.
    const ep = [...a.tcp.endpoints][0]!;
    ep.finQueued = true;
    await runUntil(rt, () => a.net.tcp.TcpExtTCPTimeouts >= 1, 5_000);
    expect(ep.state).toBe(TcpState.FinWait1);
    link.setFaults({});
    await runUntil(rt, () => serverEnded && ep.state === TcpState.TimeWait, 60_000, 10);
    expect(serverEnded).toBe(true);
    expect(ep.state).toBe(TcpState.TimeWait);
  });

  it('repeated RTOs cut ssthresh once (RFC 5681 §3.1)', async () => {
    const { rt, a, b, link } = makePair();
    b.createServer((s) => s.resume()).listen(9);
    rt.run();
    const c = a.connect(9, '10.0.0.2');
    await runUntil(rt, () => !c.connecting, 1000);
    link.setFaults({ loss: 1 });
    c.write(Buffer.alloc(200_000, 7)); // a full initial window goes out and is lost
    const ep = [...a.tcp.endpoints][0]!;
    await runUntil(rt, () => ep.backoff >= 1, 10_000, 5);
    const first = ep.ssthresh;
    expect(first).toBeGreaterThan(2 * ep.mss); // cut from the 10-segment window, not to the floor
    await runUntil(rt, () => ep.backoff >= 4, 60_000, 50);
    expect(ep.backoff).toBeGreaterThanOrEqual(4);
    expect(ep.ssthresh).toBe(first);
  });

  it('fragmentation needed about our SYN resends nothing, and the MSS the SYN-ACK brings is clamped to the path MTU (tcp_v4_mtu_reduced)', async () => {
    const p = makePair();
    const peer = new RawPeer(p);
    const s = p.b.connect({ port: peer.port, host: '10.0.0.3', localPort: 7000 });
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    const body = pattern(3000, 9);
    s.write(body); // queued behind the handshake
    p.rt.run();
    const syn = peer.last();
    expect(syn.flags & TCP_SYN).toBeTruthy();
    // A router on the way: the next hop takes 300 bytes. The quote is the SYN's IP header and 8 bytes of TCP.
    const quoted = tcpBytes({ src: B_IP, dst: PEER_IP, sport: 7000, dport: peer.port, seq: syn.seq, flags: TCP_SYN });
    const quote = ipPacket({ src: B_IP, dst: PEER_IP, protocol: IPPROTO_TCP }, quoted).slice(0, 28);
    const n = peer.seen.length;
    p.link.inject(1, ipFrame(B_MAC, A_MAC, { src: PEER_IP, dst: B_IP, protocol: IPPROTO_ICMP }, icmpMessage(3, 4, 300, quote)));
    p.rt.run();
    expect(peer.seen.length).toBe(n); // no segment at ISS with data in it, no second SYN
    expect(s.ep!.state).toBe(TcpState.SynSent);
    // The peer offers MSS 1460; the path allows 260 bytes of payload.
    peer.rcvNxt = (syn.seq + 1) >>> 0;
    peer.send(7000, { flags: TCP_SYN | TCP_ACK, options: { mss: 1460 } });
    expect(s.ep!.state).toBe(TcpState.Established);
    expect(s.ep!.mss).toBe(260);
    for (let i = 0; i < 40 && Buffer.concat(got).length < body.length; i++) {
      // Take everything in order and acknowledge it, as the peer would.
      for (const seg of peer.since(n)) {
        if (seg.data.length > 0 && seg.seq === peer.rcvNxt) {
          got.push(Buffer.from(seg.data));
          peer.rcvNxt = (peer.rcvNxt + seg.data.length) >>> 0;
        }
      }
      peer.send(7000, { flags: TCP_ACK });
    }
    const data = peer.since(n).filter((x) => x.data.length > 0);
    expect(data.length).toBeGreaterThan(0);
    for (const x of data) expect(x.ipLen).toBeLessThanOrEqual(300);
    expect(sha256(Buffer.concat(got))).toBe(sha256(body));
  });

  it('a second FIN after the peer\'s, at RCV.NXT with the window closed, is dropped and RCV.NXT stays (CLOSE-WAIT)', async () => {
    const p = makePair();
    const socks = serve(p, 80, { rcvBuf: 1000 });
    const peer = new RawPeer(p);
    const ep = peer.connect(80);
    // Fill the 1000-byte window (the server does not read), then FIN at RCV.NXT: taken, it needs no buffer.
    peer.send(80, { flags: TCP_ACK | TCP_PSH, ack: ep.sndNxt, payload: pattern(1000) });
    peer.send(80, { flags: TCP_ACK | TCP_FIN, ack: ep.sndNxt });
    expect(ep.state).toBe(TcpState.CloseWait);
    const rcvNxt = ep.rcvNxt;
    expect(rcvNxt).toBe(peer.sndNxt);
    // A bogus FIN at the new RCV.NXT: the peer's sequence space already ended.
    const n = peer.seen.length;
    peer.send(80, { flags: TCP_ACK | TCP_FIN, ack: ep.sndNxt });
    expect(ep.rcvNxt).toBe(rcvNxt);
    expect(ep.state).toBe(TcpState.CloseWait);
    expect(drops(p.b, 'tcp-invalid-seq')).toBe(1);
    for (const x of peer.since(n)) expect(x.ack).toBe(rcvNxt); // nothing ACKs a byte the peer never sent
    socks[0]!.destroy();
    p.rt.run();
    expectNoLeaks(p.b);
  });
});
