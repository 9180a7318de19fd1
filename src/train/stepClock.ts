// Wall time per step for steps that queue behind each other on one device (one clock per
// InterleavedRun, shared by its methods, overlapped or not). A step is charged from the later of
// its recording and its predecessor's metrics arriving (the step submitted before it, whichever
// method's), to its own metrics arriving. Read-backs can be delivered together: when the GPU finished two steps before
// the host looked, one event-loop turn resolves both maps, and the second step would be charged
// nothing (and the first both). Arrivals in one turn form a group whose interval is split evenly
// among its steps; a group closes on the next macrotask, so every arrival of that turn is in it.

export class StepClock {
  /** When the latest closed group's last metrics arrived. */
  private last = 0;
  private group: { since: number; until: number; readonly waiting: ((ms: number) => void)[] } | undefined;

  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly nextTurn: (close: () => void) => void = (close) => void setTimeout(close, 0),
  ) {}

  /** A step recorded at `recordedAt` (a `now()` reading) has its metrics: resolves to its milliseconds. */
  arrive(recordedAt: number): Promise<number> {
    const now = this.now();
    let group = this.group;
    if (!group) {
      group = this.group = { since: Math.max(recordedAt, this.last), until: now, waiting: [] };
      this.nextTurn(() => this.close());
    }
    group.until = now;
    const waiting = group.waiting;
    return new Promise((resolve) => waiting.push(resolve));
  }

  private close(): void {
    const group = this.group;
    if (!group) return;
    this.group = undefined;
    this.last = group.until;
    const ms = (group.until - group.since) / group.waiting.length;
    for (const resolve of group.waiting) resolve(ms);
  }
}
