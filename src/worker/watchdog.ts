// The page's heartbeat on the engine worker: every `intervalMs` it sends a ping (the worker answers
// from its message handler, so it answers while a run awaits the GPU); a ping left unanswered for
// `timeoutMs` means the worker's thread is stuck (a busy loop, a synchronous job that never ends)
// and `onHang` is called once. An answer that arrives later calls `onAlive`: a slow worker, not a
// dead one. Pure timing logic: the clock and the ping are parameters, so tests drive it with a fake clock.
//
// A page that was itself asleep (a background tab whose timers were frozen) cannot tell how long
// the worker took: when the gap between two ticks is far longer than the interval, the ping in
// flight is forgiven and a new one is sent.

/** How long the worker may leave a ping unanswered (software WebGPU can hold its thread for seconds). */
export const HANG_TIMEOUT_MS = 20_000;
/** How often the page pings. */
export const PING_INTERVAL_MS = 4_000;

export interface WatchdogClock {
  now(): number;
  every(ms: number, tick: () => void): () => void;
}

export const realClock: WatchdogClock = {
  now: () => performance.now(),
  every: (ms, tick) => {
    const handle = setInterval(tick, ms);
    return () => clearInterval(handle);
  },
};

export interface WatchdogOptions {
  /** Sends one ping; resolves when the worker answers (rejects or never settles otherwise). */
  readonly ping: () => Promise<unknown>;
  readonly onHang: (silentMs: number) => void;
  readonly onAlive: () => void;
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  readonly clock?: WatchdogClock;
}

export class Watchdog {
  private readonly timeoutMs: number;
  private readonly intervalMs: number;
  private readonly clock: WatchdogClock;
  private stopTicks: (() => void) | undefined;
  /** When the unanswered ping was sent (null: none in flight), and which ping it is. */
  private sentAt: number | null = null;
  private pingNumber = 0;
  private lastTick = 0;
  private hung = false;

  constructor(private readonly options: WatchdogOptions) {
    this.timeoutMs = options.timeoutMs ?? HANG_TIMEOUT_MS;
    this.intervalMs = options.intervalMs ?? PING_INTERVAL_MS;
    this.clock = options.clock ?? realClock;
  }

  /** Whether the worker is overdue now (onHang was called and no answer came since). */
  get hanging(): boolean {
    return this.hung;
  }

  start(): void {
    if (this.stopTicks) return;
    this.lastTick = this.clock.now();
    this.stopTicks = this.clock.every(this.intervalMs, () => this.tick());
    this.send();
  }

  stop(): void {
    this.stopTicks?.();
    this.stopTicks = undefined;
    this.sentAt = null;
  }

  private tick(): void {
    const now = this.clock.now();
    const asleep = now - this.lastTick > this.intervalMs + this.timeoutMs;
    this.lastTick = now;
    if (this.sentAt === null || asleep) {
      this.send();
      return;
    }
    const silent = now - this.sentAt;
    if (!this.hung && silent >= this.timeoutMs) {
      this.hung = true;
      this.options.onHang(silent);
    }
  }

  private send(): void {
    const number = ++this.pingNumber;
    this.sentAt = this.clock.now();
    this.options.ping().then(
      () => {
        if (number !== this.pingNumber || !this.stopTicks) return;
        this.sentAt = null;
        if (this.hung) {
          this.hung = false;
          this.options.onAlive();
        }
      },
      () => undefined,
    );
  }
}
