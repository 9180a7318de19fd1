// Buffer pool. Sizes are rounded up to size classes (four per power of two, so at most 25 %
// slack) and freed buffers are kept per class, so a training step that asks for the same
// sizes as the previous one allocates nothing new. Reports live and peak bytes for the charts.
//
// Reuse hazard: a buffer released while commands that use it are still being recorded may be
// handed out again at once; that is safe for GPU-side writes (they are ordered after those
// commands in the same stream) but not for queue.writeBuffer, which runs before the pending
// command buffer is submitted. `releasedInGeneration` lets the context flush first in that case.

import { OutOfMemoryError } from '../errors';

export interface PooledBuffer {
  readonly buffer: GPUBuffer;
  readonly sizeClass: number;
  readonly usage: number;
  releasedInGeneration: number;
}

export interface PoolStats {
  /** Bytes held by buffers in use. */
  readonly liveBytes: number;
  /** Highest liveBytes seen since the last resetPeak(). */
  readonly peakLiveBytes: number;
  /** Bytes of every buffer the pool owns (in use or free). */
  readonly ownedBytes: number;
  /** How many GPUBuffers the pool has created, ever. */
  readonly createdCount: number;
}

export function sizeClassOf(bytes: number): number {
  const minimum = 256;
  if (bytes <= minimum) return minimum;
  const exponent = Math.floor(Math.log2(bytes - 1));
  const base = 2 ** exponent;
  const quarter = base / 4;
  return base + Math.ceil((bytes - base) / quarter) * quarter;
}

export class BufferPool {
  private readonly free = new Map<string, PooledBuffer[]>();
  private live = 0;
  private peak = 0;
  private owned = 0;
  private created = 0;

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number, usage: number, what: string): PooledBuffer {
    const sizeClass = sizeClassOf(bytes);
    const key = `${usage}:${sizeClass}`;
    const list = this.free.get(key);
    let entry = list?.pop();
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
      entry = { buffer, sizeClass, usage, releasedInGeneration: -1 };
      this.owned += sizeClass;
      this.created++;
    }
    this.live += sizeClass;
    if (this.live > this.peak) this.peak = this.live;
    return entry;
  }

  release(entry: PooledBuffer, generation: number): void {
    entry.releasedInGeneration = generation;
    this.live -= entry.sizeClass;
    const key = `${entry.usage}:${entry.sizeClass}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(entry);
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

  resetPeak(): void {
    this.peak = this.live;
  }

  stats(): PoolStats {
    return { liveBytes: this.live, peakLiveBytes: this.peak, ownedBytes: this.owned, createdCount: this.created };
  }
}
