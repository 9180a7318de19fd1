// Buffer pool. Sizes are rounded up to size classes and freed buffers are kept per class, so a
// training step that asks for the same sizes as the previous one allocates nothing new. Classes
// per power of two: four below 1 MiB (at most 25 % slack; small activations of nearby sizes share
// buffers), sixteen from 1 MiB (6.25 %), sixty-four from 64 MiB (1.6 %). The large ones are mostly
// weights held for the whole run: Qwen2.5's 152K-vocabulary embedding, 272 MB in bf16, would take
// 336 MB in quarters, 285 MB in sixteenths, 273 MB in sixty-fourths.
// Reports live and peak bytes for the charts.
//
// Reuse hazard: a buffer released while commands that use it are still being recorded may be
// handed out again at once; that is safe for GPU-side writes (they are ordered after those
// commands in the same stream) but not for queue.writeBuffer, which runs before the pending
// command buffer is submitted. `releasedInGeneration` lets the context flush first in that case,
// and lets an upload ask for a free buffer released before the commands being recorded, so that
// no flush is needed at all (`avoidGeneration`).

import { OutOfMemoryError } from '../errors';

export interface PooledBuffer {
  readonly buffer: GPUBuffer;
  readonly sizeClass: number;
  readonly usage: number;
  releasedInGeneration: number;
  /** What the current holder asked for it as (acquire's `what`). */
  what: string;
}

/** A buffer in use, as liveBuffers() lists it. */
export interface LiveBuffer {
  readonly what: string;
  readonly bytes: number;
}

export interface PoolStats {
  /** Bytes held by buffers in use. */
  readonly liveBytes: number;
  /** Buffers in use (acquired and not yet released); a leak check compares it before and after. */
  readonly liveBuffers: number;
  /** Highest liveBytes seen since the last resetPeak(). */
  readonly peakLiveBytes: number;
  /** Bytes of every buffer the pool owns (in use or free). */
  readonly ownedBytes: number;
  /** How many GPUBuffers the pool has created, ever. */
  readonly createdCount: number;
}

/** The highest live bytes seen while it runs (BufferPool.trackPeak); any number can run at once. */
export interface PeakTracker {
  /** Highest liveBytes since the tracker started or was last reset. */
  readonly peak: number;
  /** Starts over from the bytes live now. */
  reset(): void;
  /** Stops tracking and returns the peak. */
  stop(): number;
}

/** Size classes per power of two, by the power of two a request exceeds (see the header). */
function classesPerPowerOfTwo(base: number): number {
  if (base >= 64 * 1024 * 1024) return 64;
  return base >= 1024 * 1024 ? 16 : 4;
}

export function sizeClassOf(bytes: number): number {
  const minimum = 256;
  if (bytes <= minimum) return minimum;
  const exponent = Math.floor(Math.log2(bytes - 1));
  const base = 2 ** exponent;
  const step = base / classesPerPowerOfTwo(base);
  return base + Math.ceil((bytes - base) / step) * step;
}

/** Up to this size class, acquire() makes a new buffer rather than hand out one released in the generation it was asked to avoid. */
const SMALL_REQUEST_BYTES = 64 * 1024;

export class BufferPool {
  private readonly free = new Map<string, PooledBuffer[]>();
  private readonly inUse = new Set<PooledBuffer>();
  /** Creation order of each buffer; free lists are kept sorted by it (see release). */
  private readonly serials = new WeakMap<PooledBuffer, number>();
  private live = 0;
  private liveCount = 0;
  private peak = 0;
  private owned = 0;
  private created = 0;
  private readonly trackers = new Set<{ peak: number }>();

  constructor(private readonly device: GPUDevice) {}

  /**
   * A buffer of at least `bytes`: a free one of the size class when there is one (preferring, when
   * `avoidGeneration` is given, one not released in that generation), else a new one.
   */
  acquire(bytes: number, usage: number, what: string, avoidGeneration?: number): PooledBuffer {
    const sizeClass = sizeClassOf(bytes);
    const key = `${usage}:${sizeClass}`;
    const list = this.free.get(key);
    let entry: PooledBuffer | undefined;
    if (list && list.length > 0) {
      let i = list.length - 1;
      if (avoidGeneration !== undefined) while (i >= 0 && list[i]!.releasedInGeneration === avoidGeneration) i--;
      // Every free one was released in that generation: a small request (token ids, a loss seed)
      // gets a new buffer, which later steps then find free; a large one takes a free buffer anyway.
      if (i < 0 && sizeClass > SMALL_REQUEST_BYTES) i = list.length - 1;
      if (i >= 0) entry = i === list.length - 1 ? list.pop() : list.splice(i, 1)[0];
    }
    if (!entry) {
      if (sizeClass > this.device.limits.maxBufferSize) {
        throw new OutOfMemoryError(sizeClass, this.live, `${what} (over this GPU's ${this.device.limits.maxBufferSize}-byte buffer limit)`);
      }
      let buffer: GPUBuffer;
      try {
        buffer = this.device.createBuffer({ size: sizeClass, usage, label: what });
      } catch {
        throw new OutOfMemoryError(sizeClass, this.live, what);
      }
      entry = { buffer, sizeClass, usage, releasedInGeneration: -1, what };
      this.serials.set(entry, this.created);
      this.owned += sizeClass;
      this.created++;
    }
    entry.what = what;
    this.inUse.add(entry);
    this.live += sizeClass;
    this.liveCount++;
    if (this.live > this.peak) this.peak = this.live;
    for (const t of this.trackers) if (this.live > t.peak) t.peak = this.live;
    return entry;
  }

  release(entry: PooledBuffer, generation: number): void {
    entry.releasedInGeneration = generation;
    this.inUse.delete(entry);
    this.live -= entry.sizeClass;
    this.liveCount--;
    const key = `${entry.usage}:${entry.sizeClass}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    // Newest first, so acquire (which takes from the end) hands out the oldest free buffer: which
    // buffer a request gets then depends on which buffers are free, not on the order they were
    // released in, and every steady training step binds the same buffers in the same roles (its
    // bind groups stay cached: gpu/context.ts).
    const serial = this.serials.get(entry) ?? 0;
    let at = list.length;
    while (at > 0 && (this.serials.get(list[at - 1]!) ?? 0) < serial) at--;
    list.splice(at, 0, entry);
  }

  /** Destroys every free buffer (memory goes back to the system; later steps allocate anew). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const entry of list) {
        entry.buffer.destroy();
        this.owned -= entry.sizeClass;
      }
    }
    this.free.clear();
  }

  /** A peak of its own (a method's steps, one phase), independent of resetPeak() and other trackers. */
  trackPeak(): PeakTracker {
    const state = { peak: this.live };
    this.trackers.add(state);
    return {
      get peak() {
        return state.peak;
      },
      reset: () => {
        state.peak = this.live;
      },
      stop: () => {
        this.trackers.delete(state);
        return state.peak;
      },
    };
  }

  /** Every buffer in use, with what it was acquired as and its size class (tests, memory reports). */
  liveBuffers(): LiveBuffer[] {
    return [...this.inUse].map((entry) => ({ what: entry.what, bytes: entry.sizeClass }));
  }

  resetPeak(): void {
    this.peak = this.live;
  }

  stats(): PoolStats {
    return { liveBytes: this.live, liveBuffers: this.liveCount, peakLiveBytes: this.peak, ownedBytes: this.owned, createdCount: this.created };
  }
}
