// The typed channel between the page (ui/, state/) and the engine running in the Web Worker
// (engine.worker.ts). It is the only way the two talk (ARCHITECTURE.md, convention 10), so the
// types the page needs from the engine are re-exported from here: ui/ and state/ never import
// gpu/, kernels/ or bench/ directly, not even for a type.
//
// Shape of the conversation:
//   page → worker   EngineRequest   { id, call, params }
//   worker → page   EngineResponse  one 'result' or one 'error' per id, any number of 'progress'
//                                   for that id before it, and unsolicited 'event's (device
//                                   lost, uncaptured GPU error, worker crash) with no id.
// Errors cross as { name, message }: `name` is the StudioError class name (e.g. GpuError,
// WebGpuUnavailableError), `message` is what the user reads.
//
// This file holds types and two tiny pure helpers; nothing here touches the GPU.

import type { GpuDescription, GpuFeatures, GpuLimitsSummary } from '../gpu/device';
import type { MatmulBenchOptions, MatmulBenchRow, MatmulBenchShape } from '../bench/types';

export type { GpuDescription, GpuFeatures, GpuLimitsSummary, MatmulBenchRow, MatmulBenchShape };

/** One product checked by the self-test: GPU result against a float64 CPU product. */
export interface SelfTestCase {
  /** e.g. "A·Bᵀ [100,257]·[33,257]ᵀ". */
  readonly label: string;
  /** Normwise relative error max|gpu − cpu| / max|cpu|. */
  readonly relError: number;
  readonly pass: boolean;
}

export interface SelfTestResult {
  readonly pass: boolean;
  /** The largest relative error over all cases. */
  readonly maxRelError: number;
  readonly tolerance: number;
  /** The matmul variants the adapter got for these shapes (see kernels/matmul.ts), comma-separated. */
  readonly variant: string;
  /** Wall time of the GPU side: upload, pipeline creation, dispatch and readback. */
  readonly gpuMs: number;
  /** Wall time of the float64 CPU reference products. */
  readonly cpuMs: number;
  readonly seed: number;
  readonly cases: readonly SelfTestCase[];
}

/** Every call the engine answers: what it takes, what it returns, what it streams meanwhile. */
export interface EngineCalls {
  /** Acquires the adapter and device in the worker. Idempotent. */
  init: { params: Record<string, never>; result: GpuDescription; progress: never };
  /** Seeded matmuls on the GPU checked against float64 on the CPU. */
  selfTest: { params: { readonly seed?: number }; result: SelfTestResult; progress: never };
  /** The benchmark's default shape list (src/bench/matmulBench.ts), for the page to offer. */
  benchShapes: { params: Record<string, never>; result: readonly MatmulBenchShape[]; progress: never };
  /** The matmul benchmark; each row is streamed as it completes, then all rows are returned. */
  bench: {
    params: Pick<MatmulBenchOptions, 'shapes' | 'includePeer'>;
    result: readonly MatmulBenchRow[];
    progress: MatmulBenchRow;
  };
}

export type CallName = keyof EngineCalls;
export type CallParams<K extends CallName> = EngineCalls[K]['params'];
export type CallResult<K extends CallName> = EngineCalls[K]['result'];
export type CallProgress<K extends CallName> = EngineCalls[K]['progress'];

export type EngineRequest = {
  [K in CallName]: { readonly id: number; readonly call: K; readonly params: CallParams<K> };
}[CallName];

export interface SerializedError {
  /** The error's class name: a StudioError subclass, or a DOMException/Error name. */
  readonly name: string;
  readonly message: string;
}

export type EngineEventName =
  /** The GPU device is gone; the page must reload to get a new one. */
  | 'deviceLost'
  /** A GPU error that no error scope caught. */
  | 'gpuError'
  /** An exception escaped every handler in the worker. */
  | 'crash';

export type EngineResultMessage = {
  [K in CallName]: { readonly kind: 'result'; readonly id: number; readonly call: K; readonly result: CallResult<K> };
}[CallName];

export type EngineProgressMessage = {
  [K in CallName]: [CallProgress<K>] extends [never]
    ? never
    : { readonly kind: 'progress'; readonly id: number; readonly call: K; readonly progress: CallProgress<K> };
}[CallName];

export interface EngineErrorMessage {
  readonly kind: 'error';
  readonly id: number;
  readonly error: SerializedError;
}

export interface EngineEventMessage {
  readonly kind: 'event';
  readonly event: EngineEventName;
  readonly error: SerializedError;
}

export type EngineResponse = EngineResultMessage | EngineProgressMessage | EngineErrorMessage | EngineEventMessage;

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) return { name: error.name || 'Error', message: error.message || String(error) };
  return { name: 'Error', message: String(error) };
}

/** Name given to errors that stand for the worker itself failing (not an engine error). */
export const WORKER_FAILURE = 'EngineWorkerError';
