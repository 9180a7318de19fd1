// The heartbeat's timing on a fake clock: a worker answering late but within the bound is fine, a
// silent one is reported once after the bound, a late answer clears it, and a page that slept
// does not blame the worker.

import { describe, expect, it } from 'vitest';
import { Watchdog, type WatchdogClock } from './watchdog';

class FakeClock implements WatchdogClock {
  private t = 0;
  private ticks: { ms: number; next: number; tick: () => void }[] = [];
  now(): number {
    return this.t;
  }
  every(ms: number, tick: () => void): () => void {
    const entry = { ms, next: this.t + ms, tick };
    this.ticks.push(entry);
    return () => {
      this.ticks = this.ticks.filter((e) => e !== entry);
    };
  }
  /** Moves time on by `ms`, firing each interval when it falls due (the page awake throughout). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = this.ticks.filter((e) => e.next <= end).sort((a, b) => a.next - b.next)[0];
      if (!due) break;
      this.t = due.next;
      due.next += due.ms;
      due.tick();
      await flush();
    }
    this.t = end;
    await flush();
  }
  /** Moves time on without firing anything, then fires each interval once (a frozen background tab waking). */
  async sleep(ms: number): Promise<void> {
    this.t += ms;
    for (const e of [...this.ticks]) {
      e.next = this.t + e.ms;
      e.tick();
    }
    await flush();
  }
}

const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** A worker whose answers the test releases by hand. */
function fakeWorker() {
  const waiting: (() => void)[] = [];
  return {
    pings: 0,
    ping(): Promise<unknown> {
      this.pings++;
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    answerAll(): void {
      for (const answer of waiting.splice(0)) answer();
    },
  };
}

function setup(timeoutMs = 20_000, intervalMs = 4_000) {
  const clock = new FakeClock();
  const worker = fakeWorker();
  const events: string[] = [];
  const dog = new Watchdog({
    ping: () => worker.ping(),
    onHang: (ms) => events.push(`hang ${ms}`),
    onAlive: () => events.push('alive'),
    timeoutMs,
    intervalMs,
    clock,
  });
  return { clock, worker, events, dog };
}

describe('Watchdog', () => {
  it('stays quiet while the worker answers each ping, even 16 s late', async () => {
    const { clock, worker, events, dog } = setup();
    dog.start();
    for (let i = 0; i < 10; i++) {
      await clock.advance(16_000);
      worker.answerAll();
      await flush();
    }
    expect(events).toEqual([]);
    expect(worker.pings).toBe(10);
    expect(dog.hanging).toBe(false);
  });

  it('reports a silent worker once, at the first tick past the bound', async () => {
    const { clock, events, dog } = setup();
    dog.start();
    await clock.advance(19_999);
    expect(events).toEqual([]);
    await clock.advance(1);
    expect(events).toEqual(['hang 20000']);
    await clock.advance(60_000);
    expect(events).toEqual(['hang 20000']);
    expect(dog.hanging).toBe(true);
  });

  it('clears the report when the worker answers after all, and watches again', async () => {
    const { clock, worker, events, dog } = setup(10_000, 2_000);
    dog.start();
    await clock.advance(12_000);
    expect(events).toEqual(['hang 10000']);
    worker.answerAll();
    await flush();
    expect(events).toEqual(['hang 10000', 'alive']);
    expect(dog.hanging).toBe(false);
    await clock.advance(12_000);
    expect(events).toEqual(['hang 10000', 'alive', 'hang 10000']);
  });

  it('does not blame the worker for the page’s own sleep', async () => {
    const { clock, worker, events, dog } = setup();
    dog.start();
    await clock.sleep(5 * 60_000);
    expect(events).toEqual([]);
    expect(worker.pings).toBe(2);
    worker.answerAll();
    await clock.advance(30_000);
    expect(events).toEqual(['hang 20000']);
  });

  it('stops pinging and reporting once stopped', async () => {
    const { clock, worker, events, dog } = setup();
    dog.start();
    dog.stop();
    const pings = worker.pings;
    await clock.advance(100_000);
    worker.answerAll();
    await flush();
    expect(events).toEqual([]);
    expect(worker.pings).toBe(pings);
  });
});
