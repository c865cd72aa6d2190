// `ustack stats sockets` (src/cli/report.ts socketTable) as `ss -tanoi` prints
// it: SYN-RECV request socks, the -o timer column, Recv-Q without
// out-of-order bytes.
import { describe, expect, it } from 'vitest';
import { socketTable, ssDuration } from '../../src/cli/report.js';
import { TCP_SYN } from '../../src/wire/tcp.js';
import { makePair, runUntil } from '../helpers/pair.js';
import { RawPeer, serve, tcpBlackhole } from '../helpers/tcp.js';

const line = (table: string, re: RegExp) => table.split('\n').find((l) => re.test(l));

describe('ss durations (iproute2 print_ms_timer)', () => {
  it.each([
    [200, '200ms'],
    [1000, '1sec'],
    [1500, '1.500ms'],
    [12_345, '12sec'],
    [150_000, '2min30sec'],
    [7_140_000, '119min'],
    [0, '0ms'],
  ])('%d ms → %s', (ms, text) => expect(ssDuration(ms)).toBe(text));
});

describe('the socket table', () => {
  it('lists a request sock as SYN-RECV with its SYN-ACK timer and retries', async () => {
    const p = makePair();
    serve(p, 80);
    const peer = new RawPeer(p, 40000);
    peer.send(80, { flags: TCP_SYN });
    await runUntil(p.rt, () => false, 1500, 10); // one SYN-ACK retransmission (at 1 s)
    const t = socketTable(p.b);
    expect(line(t, /^LISTEN/)).toMatch(/synq 1$/);
    expect(line(t, /^SYN-RECV/)).toMatch(/^SYN-RECV\s+0\s+0\s+10\.0\.0\.2:80\s+10\.0\.0\.3:40000\s+timer:\(on,[0-9.]+(ms|sec),1\)$/);
  });

  it('shows keepalive and TIME-WAIT timers', async () => {
    const p = makePair();
    const socks = serve(p, 80);
    const c = p.a.connect(80, '10.0.0.2');
    c.on('error', () => {});
    await runUntil(p.rt, () => socks.length === 1 && !c.connecting, 100);
    c.setKeepAlive(true, 60_000);
    await runUntil(p.rt, () => false, 10);
    expect(line(socketTable(p.a), /^ESTAB/)).toMatch(/timer:\(keepalive,(59|60)sec,0\)/);
    socks[0]!.end();
    c.end();
    await runUntil(p.rt, () => line(socketTable(p.b), /^TIME-WAIT/) !== undefined || line(socketTable(p.a), /^TIME-WAIT/) !== undefined, 1000);
    const tw = line(socketTable(p.b), /^TIME-WAIT/) ?? line(socketTable(p.a), /^TIME-WAIT/);
    expect(tw).toMatch(/timer:\(timewait,(1min|[0-9]+sec),0\)/); // 60 s of TIME-WAIT
  });

  it('shows the retransmission timer and count while data goes unacknowledged, and Recv-Q is unread bytes only', async () => {
    const p = makePair();
    const socks = serve(p, 80);
    const c = p.a.connect(80, '10.0.0.2');
    c.on('error', () => {});
    await runUntil(p.rt, () => socks.length === 1 && !c.connecting, 100);
    socks[0]!.pause();
    c.write(Buffer.alloc(3000, 1));
    await runUntil(p.rt, () => false, 50);
    // B holds 3000 unread bytes (paused): its Recv-Q.
    expect(line(socketTable(p.b), /^ESTAB/)).toMatch(/^ESTAB\s+3000\s+0\s/);
    const hole = tcpBlackhole(p, 0);
    c.write(Buffer.alloc(100, 2));
    await runUntil(p.rt, () => false, 500); // first RTO (200 ms) fired, the second is armed
    expect(line(socketTable(p.a), /^ESTAB/)).toMatch(/timer:\(on,\d+ms,1\)/);
    hole.on = false;
  });

  it('shows the negotiated options as ss -i does: "ts sack" before the congestion control, no "sack" with tcp_sack off', async () => {
    for (const sack of [true, false]) {
      const p = makePair();
      p.b.tcp.config.sack = sack;
      const socks = serve(p, 80);
      const c = p.a.connect(80, '10.0.0.2');
      c.on('error', () => {});
      await runUntil(p.rt, () => socks.length === 1 && !c.connecting, 100);
      const want = sack ? /\sts sack cubic wscale:/ : /\sts cubic wscale:/;
      expect(line(socketTable(p.a), /^ESTAB/)).toMatch(want);
      expect(line(socketTable(p.b), /^ESTAB/)).toMatch(want);
    }
  });
});
