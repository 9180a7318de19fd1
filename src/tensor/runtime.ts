// What models, adapters and trainers may do with the GPU: the narrow `Runtime` interface.
// They allocate, upload, write, read and release tensors, order work (flush, sync) and read the
// memory and resource accounting the UI charts and the soak judges. They never dispatch a
// kernel, see the device or its limits, or profile: kernels are reached through tensor ops, which
// take the full context from the runtime (gpuContextOf.ts), and profiling belongs to the hosts.
// GpuContext (gpu/context.ts) is the one implementation; gpu/ sits below this layer, so the
// interface is declared here and checked against it here (`_GpuContextIsARuntime`).

import type { GpuContext } from '../gpu/context';
import type { GpuCounters } from '../gpu/profiler';
import type { PeakTracker, PoolStats } from '../gpu/pool';
import type { DType, GpuTensor, TypedArrayOf } from '../gpu/tensor';

export type { GpuCounters } from '../gpu/profiler';
export type { PeakTracker, PoolStats } from '../gpu/pool';
export type { DType, GpuTensor, HalfFormat, TypedArrayOf } from '../gpu/tensor';
/** The pool's size class of a request (memory plans predict the pool's rounding with it). */
export { sizeClassOf } from '../gpu/pool';

export interface Runtime {
  /** An uninitialised pooled tensor (scratch, or storage an op then fills). Release it when done. */
  empty(shape: readonly number[], dtype?: DType, what?: string): GpuTensor;
  /** A new tensor holding host data: parameters, token ids, indices. */
  upload<D extends DType>(data: TypedArrayOf<D>, shape: readonly number[], dtype: D, what?: string): GpuTensor;
  uploadF32(data: ArrayLike<number>, shape: readonly number[], what?: string): GpuTensor;
  /** Overwrites a tensor with host data of the same byte length (restoring weights, test fixtures). */
  write(t: GpuTensor, data: ArrayBufferView): void;
  /** Copies a tensor back to the host; submits pending work first. */
  read(t: GpuTensor): Promise<Float32Array>;
  /** Raw bytes: u32 and i32 tensors (indices), packed 16-bit ones (readTensor decodes those). */
  readBytes(t: GpuTensor): Promise<ArrayBuffer>;
  /** Returns tensors to the pool; undefined entries, views and released tensors are skipped. */
  release(...tensors: (GpuTensor | undefined)[]): void;
  /** Submits the recorded work without waiting (a long init lets the GPU run while it records more). */
  flush(): void;
  /** Submits and waits for the GPU; throws the first GPU error seen. */
  sync(): Promise<void>;
  /** The pool's live, peak and owned bytes (memory charts, leak checks). */
  stats(): PoolStats;
  /** Waits for the GPU, then destroys the pool's free buffers: their memory goes back to the system, later requests allocate anew. */
  trimPool(): Promise<void>;
  /** Tracks the highest live bytes from now on (a step's peak against the memory plan). */
  trackPeak(): PeakTracker;
  /** Totals of dispatches, bind groups, buffers and pipelines created (convention 7's steady-state check). */
  counters(): GpuCounters;
}

// Fails to compile when GpuContext stops implementing Runtime.
type Implements<T extends Runtime> = T;
type _GpuContextIsARuntime = Implements<GpuContext>;
