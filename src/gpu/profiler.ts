// What the GPU context counts and what a profile session measures.
//
// Counters (always on, a few integer increments per call): dispatches, bind groups, buffers
// created (pool and uniform ring), writeBuffer calls and bytes, pipelines compiled, shader
// modules, submits. A caller takes two snapshots and subtracts them (`counterDelta`) to get the
// figures of one training step.
//
// A profile session (`GpuContext.startProfiling`) additionally records every dispatch's kernel,
// label and stated cost, and, where the device has `timestamp-query`, gives each dispatch its own
// compute pass with `timestampWrites` (begin and end of the pass), so `collect()` can return the
// GPU time of every dispatch. Without the feature (or with `timestamps: false`) there are no
// per-dispatch times (`ms: null`) and the caller falls back to wall-clock timing of the whole
// step, which it must say. The session's query sets and resolve/readback buffers are made on the
// device directly and are not counted: the counters describe the engine's own work.
//
// Cost of profiling: one pass per dispatch instead of one shared pass per submission (the
// context shares a pass otherwise), plus two timestamp writes per pass. On SwiftShader a pass
// boundary is cheap next to any kernel; on a real GPU it adds a little CPU recording time and may
// stop the driver overlapping consecutive dispatches, so GPU times under profiling are an upper
// bound for the unprofiled step. Nothing of this runs when no session is active.

import { GpuError } from '../errors';

/** What one dispatch costs, stated by its kernel: FLOPs and the bytes it must move at least. */
export interface DispatchCost {
  /** Floating-point operations (a multiply-add is 2). */
  readonly flops: number;
  /** Compulsory traffic: every input read once, every output written once (a lower bound). */
  readonly bytes: number;
}

export interface GpuCounters {
  readonly dispatches: number;
  readonly bindGroups: number;
  /** GPUBuffers created: the pool's and the uniform ring's together. */
  readonly buffersCreated: number;
  readonly poolBuffersCreated: number;
  readonly uniformBuffersCreated: number;
  /** queue.writeBuffer calls and bytes: tensor uploads plus the uniform ring. */
  readonly writeCalls: number;
  readonly bytesWritten: number;
  /** Of bytesWritten, the uniform ring's share. */
  readonly uniformBytesWritten: number;
  readonly pipelinesCompiled: number;
  readonly shaderModules: number;
  readonly submits: number;
}

export const ZERO_COUNTERS: GpuCounters = {
  dispatches: 0,
  bindGroups: 0,
  buffersCreated: 0,
  poolBuffersCreated: 0,
  uniformBuffersCreated: 0,
  writeCalls: 0,
  bytesWritten: 0,
  uniformBytesWritten: 0,
  pipelinesCompiled: 0,
  shaderModules: 0,
  submits: 0,
};

/** after − before, field by field. */
export function counterDelta(before: GpuCounters, after: GpuCounters): GpuCounters {
  const out: Record<string, number> = {};
  for (const key of Object.keys(ZERO_COUNTERS) as (keyof GpuCounters)[]) out[key] = after[key] - before[key];
  return out as unknown as GpuCounters;
}

/** One dispatch as a profile session saw it. */
export interface ProfiledDispatch {
  /** Grouping key: the label's first word and the entry point, e.g. "matmul · matmul_vec4". */
  readonly kernel: string;
  readonly label: string;
  readonly cost: DispatchCost | null;
  /** GPU time of its pass from timestamp queries; null without them. */
  readonly ms: number | null;
  /** Begin of its pass, ms after the first dispatch of the collection began; null without timestamps. */
  readonly startMs: number | null;
}

export interface ProfileSessionOptions {
  /** Per-dispatch timestamp queries when the device has `timestamp-query` (default true). */
  readonly timestamps?: boolean;
}

/** Queries per query set (WebGPU's maximum count). */
const QUERIES_PER_SET = 4096;

interface QuerySlot {
  readonly set: GPUQuerySet;
  /** QUERY_RESOLVE | COPY_SRC, 8 bytes per query. */
  readonly resolve: GPUBuffer;
  /** MAP_READ | COPY_DST. */
  readonly read: GPUBuffer;
}

interface PendingDispatch {
  readonly kernel: string;
  readonly label: string;
  readonly cost: DispatchCost | null;
  /** Index of its begin query (end is +1), or −1 without timestamps. */
  readonly query: number;
}

export class ProfileSession {
  /** Whether dispatches get timestamp queries (else only wall-clock timing is possible). */
  readonly timestamps: boolean;
  private readonly slots: QuerySlot[] = [];
  private pending: PendingDispatch[] = [];
  private nextQuery = 0;
  private collecting = false;
  private closed = false;

  constructor(
    private readonly device: GPUDevice,
    private readonly flush: () => void,
    private readonly onClose: (session: ProfileSession) => void,
    options: ProfileSessionOptions = {},
  ) {
    this.timestamps = (options.timestamps ?? true) && device.features.has('timestamp-query');
  }

  get active(): boolean {
    return !this.closed;
  }

  /** Called by the context before a dispatch: the pass descriptor carrying its timestamp writes. */
  passFor(kernel: string, label: string, cost: DispatchCost | undefined): GPUComputePassDescriptor | undefined {
    if (this.collecting) throw new GpuError('a dispatch was recorded while the profile was being collected', label);
    if (!this.timestamps) {
      this.pending.push({ kernel, label, cost: cost ?? null, query: -1 });
      return undefined;
    }
    const query = this.nextQuery;
    this.nextQuery += 2;
    const slotIndex = Math.floor(query / QUERIES_PER_SET);
    const slot = this.slots[slotIndex] ?? this.addSlot();
    const local = query - slotIndex * QUERIES_PER_SET;
    this.pending.push({ kernel, label, cost: cost ?? null, query });
    return { label, timestampWrites: { querySet: slot.set, beginningOfPassWriteIndex: local, endOfPassWriteIndex: local + 1 } };
  }

  /**
   * Submits pending work and returns every dispatch recorded since the last collect(), with its
   * GPU time when timestamps are on. Waits for the GPU.
   */
  async collect(): Promise<ProfiledDispatch[]> {
    if (this.closed) throw new GpuError('collect() on a closed profile session', 'profile');
    this.flush();
    const pending = this.pending;
    const queries = this.nextQuery;
    this.pending = [];
    this.nextQuery = 0;
    if (!this.timestamps || queries === 0) {
      return pending.map((p) => ({ kernel: p.kernel, label: p.label, cost: p.cost, ms: null, startMs: null }));
    }
    this.collecting = true;
    try {
      const used = Math.ceil(queries / QUERIES_PER_SET);
      this.device.pushErrorScope('validation');
      const encoder = this.device.createCommandEncoder({ label: 'profile: resolve timestamps' });
      for (let s = 0; s < used; s++) {
        const slot = this.slots[s]!;
        const count = Math.min(QUERIES_PER_SET, queries - s * QUERIES_PER_SET);
        encoder.resolveQuerySet(slot.set, 0, count, slot.resolve, 0);
        encoder.copyBufferToBuffer(slot.resolve, 0, slot.read, 0, count * 8);
      }
      this.device.queue.submit([encoder.finish()]);
      const error = await this.device.popErrorScope();
      if (error) throw new GpuError(`resolving timestamp queries failed: ${error.message}`, 'profile');
      const stamps = new BigInt64Array(queries);
      for (let s = 0; s < used; s++) {
        const slot = this.slots[s]!;
        const count = Math.min(QUERIES_PER_SET, queries - s * QUERIES_PER_SET);
        await slot.read.mapAsync(GPUMapMode.READ, 0, count * 8);
        stamps.set(new BigInt64Array(slot.read.getMappedRange(0, count * 8)), s * QUERIES_PER_SET);
        slot.read.unmap();
      }
      let origin = stamps[0]!;
      for (let i = 0; i < queries; i += 2) if (stamps[i]! < origin) origin = stamps[i]!;
      return pending.map((p) => {
        const begin = stamps[p.query]!;
        const end = stamps[p.query + 1]!;
        // Timestamps may be reset or non-monotonic on some drivers: a negative span counts as 0.
        const ns = end > begin ? Number(end - begin) : 0;
        return { kernel: p.kernel, label: p.label, cost: p.cost, ms: ns / 1e6, startMs: Number(begin - origin) / 1e6 };
      });
    } finally {
      this.collecting = false;
    }
  }

  /** Ends the session (pending records are dropped) and frees its query sets and buffers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    for (const slot of this.slots) {
      slot.set.destroy();
      slot.resolve.destroy();
      slot.read.destroy();
    }
    this.slots.length = 0;
    this.onClose(this);
  }

  private addSlot(): QuerySlot {
    const bytes = QUERIES_PER_SET * 8;
    const slot: QuerySlot = {
      set: this.device.createQuerySet({ type: 'timestamp', count: QUERIES_PER_SET, label: 'profile timestamps' }),
      resolve: this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'profile resolve' }),
      read: this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'profile readback' }),
    };
    this.slots.push(slot);
    return slot;
  }
}

/** "matmul [4,64,128]×… " with entry point "matmul_vec4" → "matmul · matmul_vec4". */
export function kernelKey(label: string, entryPoint: string): string {
  const space = label.indexOf(' ');
  const first = space < 0 ? label : label.slice(0, space);
  return first === entryPoint ? first : `${first} · ${entryPoint}`;
}
