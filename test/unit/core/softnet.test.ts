import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../../src/core/packetBuffer.js';
import { VirtualRuntime } from '../../../src/core/runtime.js';
import { NapiStruct, Softnet } from '../../../src/core/softnet.js';

/**
 * A fake device with `frames` waiting: its poll takes up to `budget` and, like
 * a real driver, completes NAPI only when it finished under budget.
 */
function device(softnet: Softnet, name: string, frames: number, log: string[], weight?: number) {
  const dev = { left: frames, napi: null as unknown as NapiStruct };
  dev.napi = new NapiStruct(
    name,
    (budget) => {
      const n = Math.min(budget, dev.left);
      dev.left -= n;
      log.push(`${name}:${n}`);
      if (n < budget) softnet.napiComplete(dev.napi);
      return n;
    },
    weight,
  );
  return dev;
}

describe('Softnet NET_RX softirq', () => {
  it('runs nothing until the runtime runs it, and scheduling twice polls once', () => {
    const rt = new VirtualRuntime();
    const sn = new Softnet(rt);
    const log: string[] = [];
    const d = device(sn, 'eth0', 5, log);
    sn.napiSchedule(d.napi);
    sn.napiSchedule(d.napi);
    expect(log).toEqual([]);
    rt.run();
    expect(log).toEqual(['eth0:5']);
    expect(sn.stats).toMatchObject({ processed: 5, rounds: 1, timeSqueeze: 0 });
    expect(d.napi.scheduled).toBe(false);
  });

  it('round-robins devices by weight: a device that used its whole weight goes to the tail', () => {
    const rt = new VirtualRuntime();
    const sn = new Softnet(rt);
    const log: string[] = [];
    const a = device(sn, 'a', 150, log);
    const b = device(sn, 'b', 70, log);
    sn.napiSchedule(a.napi);
    sn.napiSchedule(b.napi);
    rt.run();
    expect(log).toEqual(['a:64', 'b:64', 'a:64', 'b:6', 'a:22']);
    expect(sn.stats.processed).toBe(220);
    expect(sn.stats.rounds).toBe(1);
  });

  it('a device scheduled during a round is polled in the next round, after the ones left over', () => {
    const rt = new VirtualRuntime();
    const sn = new Softnet(rt);
    const log: string[] = [];
    const late = device(sn, 'late', 1, log);
    const a = device(sn, 'a', 100, log);
    const b = device(sn, 'b', 1, log);
    const poll = a.napi.poll;
    (a.napi as { poll: (n: number) => number }).poll = (budget) => {
      sn.napiSchedule(late.napi); // its interrupt fires while a is being polled
      return poll(budget);
    };
    sn.napiSchedule(a.napi);
    sn.napiSchedule(b.napi);
    rt.run();
    expect(log).toEqual(['a:64', 'b:1', 'a:36', 'late:1']);
    expect(sn.stats.rounds).toBe(2);
  });

  it('stops a round at the budget, counts time_squeeze and finishes in the next round', () => {
    const rt = new VirtualRuntime();
    const sn = new Softnet(rt);
    const log: string[] = [];
    const d = device(sn, 'eth0', 400, log);
    sn.napiSchedule(d.napi);
    rt.run();
    // 300 in round 1 (64 × 4 + 44), the other 100 in round 2.
    expect(log).toEqual(['eth0:64', 'eth0:64', 'eth0:64', 'eth0:64', 'eth0:44', 'eth0:64', 'eth0:36']);
    expect(sn.stats).toMatchObject({ processed: 400, rounds: 2, timeSqueeze: 1 });
  });

  it('stops a round after 2 ms (netdev_budget_usecs) even with budget left, counting time_squeeze', () => {
    const rt = new VirtualRuntime();
    const sn = new Softnet(rt);
    const log: string[] = [];
    // A slow driver: each poll of up to 64 frames takes 0.75 ms of (virtual) CPU.
    let left = 400;
    const napi: NapiStruct = new NapiStruct('eth0', (budget) => {
      rt.clock.set(rt.clock.now() + 0.75);
      const n = Math.min(budget, left);
      left -= n;
      log.push(`eth0:${n}`);
      if (n < budget) sn.napiComplete(napi);
      return n;
    });
    sn.napiSchedule(napi);
    rt.run();
    // Three polls (192 frames, well under the 300-frame budget) reach 2.25 ms:
    // the round ends there; the next rounds go on the same way.
    expect(log.slice(0, 4)).toEqual(['eth0:64', 'eth0:64', 'eth0:64', 'eth0:64']);
    expect(sn.stats.processed).toBe(400);
    expect(sn.stats.rounds).toBe(3);
    expect(sn.stats.timeSqueeze).toBe(2);
  });

  it('honours a configured budget and weight', () => {
    const rt = new VirtualRuntime();
    const sn = new Softnet(rt, { budget: 10, weight: 4 });
    const log: string[] = [];
    const d = device(sn, 'eth0', 25, log, sn.weight);
    sn.napiSchedule(d.napi);
    rt.run();
    expect(sn.stats.rounds).toBe(3);
    expect(sn.stats.timeSqueeze).toBe(2);
    expect(sn.stats.processed).toBe(25);
  });

  it('hands frames the full backlog refuses to onBacklogDrop, counting them', () => {
    const rt = new VirtualRuntime();
    const sn = new Softnet(rt, { maxBacklog: 2 });
    const pool = new BufferPool();
    const refused: number[] = [];
    sn.onBacklogDrop = (pb) => {
      refused.push(pb.ifindex);
      pb.free();
    };
    for (let i = 1; i <= 5; i++) {
      const pb = pool.alloc(10);
      pb.ifindex = i;
      sn.netifRx(pb);
    }
    expect(refused).toEqual([3, 4, 5]);
    expect(sn.stats.dropped).toBe(3);
  });
});

describe('Softnet backlog (netif_rx)', () => {
  it('delivers queued frames in order through the backlog NAPI', () => {
    const rt = new VirtualRuntime();
    const sn = new Softnet(rt);
    const pool = new BufferPool();
    const got: number[] = [];
    sn.setBacklogReceiver((pb) => {
      got.push(pb.ifindex);
      pb.free();
    });
    for (let i = 0; i < 100; i++) {
      const pb = pool.alloc(10);
      pb.ifindex = i;
      expect(sn.netifRx(pb)).toBe(true);
    }
    expect(sn.backlogLength).toBe(100);
    rt.run();
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(sn.backlogLength).toBe(0);
    expect(pool.stats.inUse).toBe(0);
  });

  it('drops and frees frames over netdev_max_backlog, counting softnet dropped', () => {
    const rt = new VirtualRuntime();
    const sn = new Softnet(rt, { maxBacklog: 10 });
    const pool = new BufferPool();
    let delivered = 0;
    sn.setBacklogReceiver((pb) => {
      delivered++;
      pb.free();
    });
    let accepted = 0;
    for (let i = 0; i < 25; i++) if (sn.netifRx(pool.alloc(10))) accepted++;
    expect(accepted).toBe(10);
    expect(sn.stats.dropped).toBe(15);
    expect(pool.stats.inUse).toBe(10); // the dropped ones went back to the pool at once
    rt.run();
    expect(delivered).toBe(10);
    expect(pool.stats.inUse).toBe(0);
  });
});
