// The capture tap's drop annotations (src/cli/captureTap.ts): a received
// frame the stack drops is recorded with its drop reason or netfilter verdict
// as a pcapng packet comment, in the order the frames crossed the wire.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCaptureWriter, type CaptureDirection, type CaptureSink, type CaptureStats } from '../../src/capture/writer.js';
import { CaptureTap } from '../../src/cli/captureTap.js';
import { pingPayload } from '../../src/ipv4/ping.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { decode, echoRequest, ipFrame, type Sniffed } from '../helpers/frames.js';
import { A_IP, A_MAC, B_IP, B_MAC, makePair, type Pair } from '../helpers/pair.js';

interface Rec {
  f: Sniffed;
  dir: CaptureDirection;
  comment: string | undefined;
}

class MemorySink implements CaptureSink {
  readonly recs: Rec[] = [];
  readonly stats: CaptureStats = { frames: 0, bytes: 0, dropped: 0, written: 0 };
  record(frame: Uint8Array, off: number, len: number, _sec: number, _nsec: number, dir: CaptureDirection, comment?: string): boolean {
    this.recs.push({ f: decode(frame.slice(off, off + len), dir), dir, comment });
    return true;
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** B's eth0 captured through a CaptureTap (annotating, as with --pcap-format pcapng). */
function capturedPair(sink: CaptureSink, annotate = true): { p: Pair; detach: () => void } {
  const p = makePair();
  const ct = new CaptureTap(sink, { ifName: 'eth0', clock: p.rt.clock, annotate: annotate ? { net: p.b.net, netfilter: p.b.netfilter } : undefined });
  // Only B's frames: A's device is also called eth0, so tap B's stack alone.
  p.b.addTap(ct.tap);
  return { p, detach: ct.attach(p.devB) };
}

function ping(p: Pair, n = 1): void {
  const sock = p.a.createPingSocket();
  for (let seq = 1; seq <= n; seq++) {
    sock.send(B_IP, seq, pingPayload(56, seq));
    p.rt.advance(1000);
  }
  sock.close();
}

const summary = (r: Rec) => `${r.dir} ${r.f.arp ? 'arp' : r.f.icmp ? `icmp ${r.f.icmp.type}/${r.f.icmp.code}` : r.f.ip ? `ip ${r.f.ip.protocol}` : 'other'}${r.comment ? ` # ${r.comment}` : ''}`;

describe('capture annotations', () => {
  it('a frame INPUT drops carries the rule; delivered frames carry nothing', () => {
    const sink = new MemorySink();
    const { p } = capturedPair(sink);
    p.b.netfilter.append('INPUT -p icmp --icmp-type echo-request -j DROP');
    ping(p, 2);
    expect(sink.recs.map(summary)).toEqual([
      'in arp',
      'out arp',
      'in icmp 8/0 # netfilter-drop: INPUT rule 1: -p icmp --icmp-type echo-request -j DROP',
      'in icmp 8/0 # netfilter-drop: INPUT rule 1: -p icmp --icmp-type echo-request -j DROP',
    ]);
    p.b.netfilter.flush();
    sink.recs.length = 0;
    ping(p, 1);
    expect(sink.recs.map(summary)).toEqual(['in icmp 8/0', 'out icmp 0/0']);
  });

  it('REJECT: the rejected frame comes first, with its verdict, then the ICMP error it caused', () => {
    const sink = new MemorySink();
    const { p } = capturedPair(sink);
    p.b.netfilter.append('INPUT -p icmp --icmp-type echo-request -j REJECT --reject-with icmp-admin-prohibited');
    ping(p, 1);
    expect(sink.recs.map(summary).slice(2)).toEqual([
      'in icmp 8/0 # netfilter-drop: INPUT rule 1: -p icmp --icmp-type echo-request -j REJECT --reject-with icmp-admin-prohibited',
      'out icmp 3/13',
    ]);
  });

  it('other drop reasons too, and policy drops', () => {
    const sink = new MemorySink();
    const { p } = capturedPair(sink);
    ping(p, 1); // ARP settles
    sink.recs.length = 0;
    p.link.inject(1, ipFrame(B_MAC, A_MAC, { src: A_IP, dst: parseIpv4('10.0.0.9')! }, echoRequest(1, 1, new Uint8Array(4))));
    p.rt.advance(1);
    const bad = ipFrame(B_MAC, A_MAC, { src: A_IP, dst: B_IP }, echoRequest(1, 1, new Uint8Array(4)));
    bad[14 + 20 + 2]! ^= 0xff; // ICMP checksum
    p.link.inject(1, bad);
    p.rt.advance(1);
    p.b.netfilter.setPolicy('PREROUTING', 'DROP');
    ping(p, 1);
    expect(sink.recs.map(summary)).toEqual([
      'in icmp 8/0 # drop: ip-not-for-us',
      'in icmp 8/0 # drop: icmp-csum',
      'in icmp 8/0 # netfilter-drop: PREROUTING policy DROP',
    ]);
  });

  it('a rule that ACCEPTs gives its verdict as the comment; a later drop of the same frame is added to it', () => {
    const sink = new MemorySink();
    const { p } = capturedPair(sink);
    p.b.netfilter.append('INPUT -p icmp --icmp-type echo-request -j ACCEPT');
    p.b.netfilter.append('PREROUTING -p udp --dport 9999 -j ACCEPT');
    ping(p, 1);
    // A datagram to a closed port: accepted by the rule, then dropped by UDP.
    const u = p.a.createSocket('udp4');
    u.send(Buffer.from('x'), 9999, '10.0.0.2');
    p.rt.advance(10);
    u.close();
    expect(sink.recs.map(summary).slice(2)).toEqual([
      'in icmp 8/0 # netfilter-accept: INPUT rule 1: -p icmp --icmp-type echo-request -j ACCEPT',
      'out icmp 0/0',
      'in ip 17 # netfilter-accept: PREROUTING rule 1: -p udp --dport 9999 -j ACCEPT; drop: udp-noport',
      'out icmp 3/3',
    ]);
  });

  it('a drop on the way out (OUTPUT) is not the received frame’s fate', () => {
    const sink = new MemorySink();
    const { p } = capturedPair(sink);
    p.b.netfilter.append('OUTPUT -p icmp --icmp-type echo-reply -j DROP');
    ping(p, 1);
    expect(sink.recs.map(summary)).toEqual(['in arp', 'out arp', 'in icmp 8/0']);
  });

  it('frames sent outside a receive are recorded at once; without annotation nothing is held', () => {
    const sink = new MemorySink();
    const { p } = capturedPair(sink, false);
    p.b.netfilter.append('INPUT -p icmp -j DROP');
    ping(p, 1);
    expect(sink.recs.map(summary)).toEqual(['in arp', 'out arp', 'in icmp 8/0']);
    const own = p.b.createPingSocket();
    own.send(A_IP, 1, pingPayload(8, 1));
    expect(sink.recs.map(summary).at(-1)).toBe('out icmp 8/0');
    own.close();
  });

  it('detach restores the device and stops annotating', () => {
    const sink = new MemorySink();
    const { p, detach } = capturedPair(sink);
    const wrapped = p.devB.receive;
    detach();
    expect(p.devB.receive).not.toBe(wrapped);
    p.b.netfilter.append('INPUT -p icmp -j DROP');
    ping(p, 1);
    expect(sink.recs.every((r) => r.comment === undefined)).toBe(true);
  });
});

// tshark reads the comments back from a real pcapng file (Wireshark's frame.comment).
let tshark = true;
try {
  execFileSync('tshark', ['-v'], { stdio: 'ignore' });
} catch {
  tshark = false;
  console.warn('\n!! test/stack/netfilterCapture.test.ts: tshark is not installed; the pcapng round trip is SKIPPED.\n');
}

describe.skipIf(!tshark)('capture annotations in a pcapng file, read by tshark', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ustack-nf-cap-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shows the verdict as the packet comment', async () => {
    const file = join(dir, 'b.pcapng');
    const w = createCaptureWriter(file, { format: 'pcapng', ifName: 'eth0' });
    const { p, detach } = capturedPair(w);
    p.b.netfilter.append('INPUT -p icmp --icmp-type echo-request -j DROP');
    ping(p, 3);
    p.b.netfilter.flush();
    ping(p, 1);
    detach();
    await w.close();
    const out = execFileSync('tshark', ['-r', file, '-Y', 'icmp', '-T', 'fields', '-e', 'icmp.type', '-e', 'frame.comment'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 30_000,
    });
    const rows = out.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
    const verdict = 'netfilter-drop: INPUT rule 1: -p icmp --icmp-type echo-request -j DROP';
    expect(rows).toEqual([['8', verdict], ['8', verdict], ['8', verdict], ['8', ''], ['0', '']]);
  });
});
