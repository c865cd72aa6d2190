// NAPI on a real device (B's end of the memory link): one interrupt starts a
// poll, the interrupt stays masked while the softirq drains the ring in
// budgets, and it is unmasked only when the ring is empty — without losing a
// frame that lands just before the unmask.
import { describe, expect, it } from 'vitest';
import { pingPayload } from '../../src/ipv4/ping.js';
import type { RingNic } from '../../src/nic/ringNic.js';
import { echoRequest, ipFrame } from '../helpers/frames.js';
import { A_IP, A_MAC, B_IP, B_MAC, expectNoLeaks, makePair, type Pair } from '../helpers/pair.js';

/** A pair with ARP resolved both ways, and B's counters as they stand. */
function warmPair(opts: Parameters<typeof makePair>[0] = {}) {
  const p = makePair(opts);
  const sock = p.a.createPingSocket();
  const got: number[] = [];
  sock.onReply((r) => got.push(r.seq));
  sock.send(B_IP, 0, pingPayload(8, 0));
  p.rt.advance(10);
  got.length = 0;
  return { p, sock, got, before: snapshot(p) };
}

function snapshot(p: Pair) {
  const s = p.devB.stats;
  const sn = p.b.net.softnet.stats;
  return { interrupts: s.interrupts, polls: s.napi_polls, rx: s.rx_packets, processed: sn.processed, rounds: sn.rounds, squeeze: sn.timeSqueeze };
}

function delta(p: Pair, before: ReturnType<typeof snapshot>) {
  const now = snapshot(p);
  return {
    interrupts: now.interrupts - before.interrupts,
    polls: now.polls - before.polls,
    rx: now.rx - before.rx,
    processed: now.processed - before.processed,
    rounds: now.rounds - before.rounds,
    squeeze: now.squeeze - before.squeeze,
  };
}

describe('NAPI interrupt mitigation', () => {
  it('a burst of 200 frames raises one interrupt; polls of 64 drain it; the counters agree', () => {
    const { p, sock, got, before } = warmPair();
    for (let seq = 1; seq <= 200; seq++) sock.send(B_IP, seq, pingPayload(8, seq));
    p.rt.advance(10);
    const d = delta(p, before);
    expect(got).toHaveLength(200);
    expect(d.interrupts).toBe(1);
    expect(d.rx).toBe(200);
    expect(d.processed).toBe(200); // softnet processed == frames the driver took off the ring
    expect(d.polls).toBe(4); // 64 + 64 + 64 + 8
    expect(d.rounds).toBe(1);
    expect(d.squeeze).toBe(0);
    expect((p.devB.driver as RingNic).rx.irqEnabled).toBe(true); // unmasked once drained
    expectNoLeaks(p.a, p.b);
  });

  it('a burst over the 300-frame budget takes two softirq rounds and counts time_squeeze', () => {
    const { p, sock, got, before } = warmPair({ portA: { txSlots: 512, rxSlots: 512 }, portB: { rxSlots: 512 } });
    for (let seq = 1; seq <= 400; seq++) sock.send(B_IP, seq, pingPayload(8, seq));
    p.rt.advance(10);
    const d = delta(p, before);
    expect(d.interrupts).toBe(1); // masked across both rounds
    expect(d.rx).toBe(400);
    expect(d.processed).toBe(400);
    expect(d.rounds).toBe(2);
    expect(d.squeeze).toBe(1);
    expect(got).toHaveLength(400);
    expect(p.devB.stats.rx_fifo_errors).toBe(0);
    expectNoLeaks(p.a, p.b);
  });

  it('a frame that lands after the last poll but before the unmask is still processed', () => {
    const { p, before } = warmPair();
    const rx = (p.devB.driver as RingNic).rx;
    const enable = rx.enableIrq.bind(rx);
    let raced = false;
    rx.enableIrq = () => {
      if (!raced) {
        raced = true;
        // The NIC writes a frame while the IRQ is still masked: no interrupt for it.
        p.link.inject(1, ipFrame(B_MAC, A_MAC, { src: A_IP, dst: B_IP }, echoRequest(7, 7, new Uint8Array(8))));
      }
      return enable();
    };
    p.link.inject(1, ipFrame(B_MAC, A_MAC, { src: A_IP, dst: B_IP }, echoRequest(7, 6, new Uint8Array(8))));
    p.rt.advance(10);
    const d = delta(p, before);
    expect(raced).toBe(true);
    expect(d.interrupts).toBe(1); // only the first frame interrupted
    expect(d.rx).toBe(2);
    expect(p.b.net.snmp.IcmpInEchos).toBe(1 + 2);
    expect(rx.irqEnabled).toBe(true);
    expect(rx.ready).toBe(0);
  });

  it('a frame after the unmask raises a new interrupt', () => {
    const { p, before } = warmPair();
    for (let i = 0; i < 3; i++) {
      p.link.inject(1, ipFrame(B_MAC, A_MAC, { src: A_IP, dst: B_IP }, echoRequest(7, i, new Uint8Array(8))));
      p.rt.advance(1);
    }
    expect(delta(p, before).interrupts).toBe(3);
  });
});
