// Regressions found by reading the code against the RFCs: each drives the
// real path on the memory link and would fail on the old behaviour.
import { describe, expect, it } from 'vitest';
import { makePair, runUntil } from '../helpers/pair.js';
import { TcpState } from '../../src/tcp/state.js';

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
});
