// ICMP errors about TCP segments (TcpProto.icmpError, Linux tcp_v4_err and
// icmp_err_convert): a handshake ends at once with the errno of the message;
// an established connection keeps it as a soft error, reported only if it
// later times out; the quoted sequence number must be in flight (RFC 5927
// §4.1); an error about no connection counts IcmpInErrors; a request sock is
// dropped only for the transient kinds (tcp_req_err).
import { describe, expect, it } from 'vitest';
import { TcpState } from '../../src/tcp/state.js';
import { IPPROTO_ICMP, IPPROTO_TCP } from '../../src/wire/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../src/wire/tcp.js';
import { icmpMessage, ipFrame, ipPacket } from '../helpers/frames.js';
import { A_MAC, B_IP, B_MAC, expectNoLeaks, makePair, runUntil, type Pair } from '../helpers/pair.js';
import { errorCodes, isSynAck, pattern, PEER_IP, RawPeer, serve, tcpBytes } from '../helpers/tcp.js';

/** Injects into B an ICMP error of `type`/`code` about a segment B sent from `sport` to the raw peer's `dport` with `seq`. */
function icmpToB(p: Pair, type: number, code: number, sport: number, dport: number, seq: number): void {
  const segment = tcpBytes({ src: B_IP, dst: PEER_IP, sport, dport, seq, flags: TCP_SYN });
  const quote = ipPacket({ src: B_IP, dst: PEER_IP, protocol: IPPROTO_TCP }, segment).slice(0, 28); // IP header + 8 bytes
  p.link.inject(1, ipFrame(B_MAC, A_MAC, { src: PEER_IP, dst: B_IP, protocol: IPPROTO_ICMP }, icmpMessage(type, code, 0, quote)));
  p.rt.run();
}

/** B connecting to the raw peer (which never answers): in SYN-SENT. */
function bConnecting(p: Pair): { peer: RawPeer; e: Array<string | undefined>; synSeq: number; s: ReturnType<Pair['b']['connect']> } {
  const peer = new RawPeer(p);
  const s = p.b.connect({ port: peer.port, host: '10.0.0.3', localPort: 7000 });
  const e = errorCodes(s);
  p.rt.run();
  return { peer, e, synSeq: peer.last().seq, s };
}

describe('ICMP errors in SYN-SENT end the attempt at once (Linux tcp_v4_err → tcp_done)', () => {
  const cases: Array<{ what: string; type: number; code: number; errno: string }> = [
    { what: 'port unreachable', type: 3, code: 3, errno: 'ECONNREFUSED' },
    { what: 'protocol unreachable', type: 3, code: 2, errno: 'ENOPROTOOPT' },
    { what: 'net unreachable', type: 3, code: 0, errno: 'ENETUNREACH' },
    { what: 'host unreachable', type: 3, code: 1, errno: 'EHOSTUNREACH' },
    { what: 'source route failed', type: 3, code: 5, errno: 'EOPNOTSUPP' },
    { what: 'destination host unknown', type: 3, code: 7, errno: 'EHOSTDOWN' },
    { what: 'source host isolated', type: 3, code: 8, errno: 'ENONET' },
    { what: 'communication administratively prohibited', type: 3, code: 13, errno: 'EHOSTUNREACH' },
    { what: 'time exceeded', type: 11, code: 0, errno: 'EHOSTUNREACH' },
    { what: 'parameter problem', type: 12, code: 0, errno: 'EPROTO' },
  ];
  for (const k of cases) {
    it(`${k.what} (type ${k.type} code ${k.code}) → ${k.errno}`, async () => {
      const p = makePair();
      const { e, synSeq } = bConnecting(p);
      const t0 = p.rt.clock.now();
      icmpToB(p, k.type, k.code, 7000, 40000, synSeq);
      await runUntil(p.rt, () => e.length > 0, 0);
      expect(e).toEqual([k.errno]);
      expect(p.rt.clock.now()).toBe(t0); // at once, not after the SYN retries
      expect(p.b.tcp.endpoints.size).toBe(0);
      expect(p.b.net.tcp.TcpAttemptFails).toBe(1);
      expectNoLeaks(p.b);
    });
  }

  it('a code above 15, or a quoted sequence number that is not our SYN, is ignored (RFC 5927 §4.1)', async () => {
    const p = makePair();
    const { s, e, synSeq } = bConnecting(p);
    icmpToB(p, 3, 16, 7000, 40000, synSeq);
    icmpToB(p, 3, 3, 7000, 40000, synSeq + 1000);
    icmpToB(p, 3, 3, 7000, 40000, synSeq - 1);
    await runUntil(p.rt, () => false, 5);
    expect(e).toEqual([]);
    expect(s.ep!.state).toBe(TcpState.SynSent);
    expect(p.b.net.tcp.TcpAttemptFails).toBe(0);
  });
});

describe('ICMP errors once established are soft (Linux sk_err_soft)', () => {
  /** An established connection from the raw peer to B:80 with data B sent and the peer never acknowledges. */
  function stalled(p: Pair) {
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80);
    const sock = socks[0]!;
    const e = errorCodes(sock);
    sock.write(pattern(1000));
    p.rt.run();
    expect(ep.flight).toBe(1000);
    return { peer, ep, sock, e };
  }

  it('time exceeded while established is kept and replaces ETIMEDOUT when the retransmissions give up', async () => {
    const p = makePair();
    const x = stalled(p);
    icmpToB(p, 11, 0, 80, 40000, x.ep.sndUna);
    expect(x.ep.state).toBe(TcpState.Established);
    expect(x.ep.softError).toBe('EHOSTUNREACH');
    expect(x.e).toEqual([]);
    await runUntil(p.rt, () => x.e.length > 0, 2_000_000, 1000);
    expect(x.e).toEqual(['EHOSTUNREACH']);
    expect(p.b.net.tcp.TcpExtTCPAbortOnTimeout).toBe(1);
  });

  it('host unreachable while established is soft too; an ACK from the peer forgets it (Linux tcp_ack clears sk_err_soft), so a later timeout is ETIMEDOUT', async () => {
    const p = makePair();
    const x = stalled(p);
    icmpToB(p, 3, 1, 80, 40000, x.ep.sndUna);
    expect(x.ep.softError).toBe('EHOSTUNREACH');
    // A port unreachable does not end an established connection either (RFC 1122 §4.2.3.9 would allow it; Linux does not).
    icmpToB(p, 3, 3, 80, 40000, x.ep.sndUna);
    expect(x.ep.state).toBe(TcpState.Established);
    expect(x.ep.softError).toBe('ECONNREFUSED');
    x.peer.send(80, { flags: TCP_ACK, ack: x.ep.sndUna + 500 });
    expect(x.ep.softError).toBeNull();
    await runUntil(p.rt, () => x.e.length > 0, 2_000_000, 1000);
    expect(x.e).toEqual(['ETIMEDOUT']);
  });

  it('an error quoting a sequence number outside [SND.UNA, SND.MAX] is ignored', () => {
    const p = makePair();
    const x = stalled(p);
    icmpToB(p, 3, 1, 80, 40000, x.ep.sndUna - 1);
    icmpToB(p, 3, 1, 80, 40000, x.ep.sndMax + 1);
    icmpToB(p, 11, 0, 80, 40000, x.ep.sndUna + 100_000);
    expect(x.ep.softError).toBeNull();
    expect(p.b.net.tcp.TcpExtOutOfWindowIcmps).toBe(3);
    icmpToB(p, 11, 0, 80, 40000, x.ep.sndMax);
    expect(x.ep.softError).toBe('EHOSTUNREACH');
  });
});

describe('ICMP errors about no connection, or about a request sock', () => {
  it('an error about no connection of ours counts IcmpInErrors (Linux tcp_v4_err: ICMP_MIB_INERRORS)', () => {
    const p = makePair();
    serve(p, 80); // a listener is not a connection
    const before = p.b.net.snmp.IcmpInErrors;
    icmpToB(p, 3, 3, 80, 40000, 12345);
    icmpToB(p, 11, 0, 9999, 40000, 12345);
    expect(p.b.net.snmp.IcmpInErrors).toBe(before + 2);
    expectNoLeaks(p.b);
  });

  it('net or host unreachable, time exceeded or parameter problem about a SYN-ACK drop the request silently; port unreachable does not (tcp_req_err)', () => {
    const p = makePair();
    serve(p, 80);
    const l = p.b.tcp.listenerTable()[0]!;
    const peer = new RawPeer(p);
    peer.send(80, { flags: TCP_SYN });
    const synAck = peer.last();
    expect(isSynAck(synAck)).toBe(true);
    icmpToB(p, 3, 3, 80, 40000, synAck.seq); // port unreachable: kept
    icmpToB(p, 3, 1, 80, 40000, synAck.seq + 1); // not our ISN: ignored
    expect(l.synQueue.size).toBe(1);
    expect(p.b.net.tcp.TcpExtOutOfWindowIcmps).toBe(1);
    icmpToB(p, 3, 1, 80, 40000, synAck.seq);
    expect(l.synQueue.size).toBe(0);
    expect(p.b.net.tcp.TcpExtListenDrops).toBe(1);
    expect(p.b.net.snmp.IcmpInErrors).toBe(0);
    // Time exceeded does it too.
    const peer2 = new RawPeer(p, 40001);
    peer2.send(80, { flags: TCP_SYN });
    icmpToB(p, 11, 0, 80, 40001, peer2.last().seq);
    expect(l.synQueue.size).toBe(0);
    expect(p.b.net.tcp.TcpExtListenDrops).toBe(2);
  });

  it('TIME-WAIT ignores ICMP errors', () => {
    const p = makePair();
    const socks = serve(p, 80);
    const peer = new RawPeer(p);
    const ep = peer.connect(80);
    socks[0]!.end();
    p.rt.run();
    peer.rcvNxt++;
    peer.send(80, { flags: TCP_FIN | TCP_ACK });
    expect(ep.state).toBe(TcpState.TimeWait);
    icmpToB(p, 3, 3, 80, 40000, ep.sndUna);
    expect(ep.state).toBe(TcpState.TimeWait);
    expect(ep.softError).toBeNull();
  });
});
