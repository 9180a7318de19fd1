// Types of the training-step profile (src/bench/profile.ts), shared by `npm run bench -- --profile`,
// the worker and the studio's Profile panel. They cross postMessage, so they are plain data.

import type { GpuCounters } from '../gpu/profiler';

export interface ProfileParams {
  /** Methods to profile, one after another (default: lora, full). */
  readonly methods?: readonly string[];
  /** Profiled steps per method, after the warm-up (default 3). */
  readonly steps?: number;
  /** Unprofiled steps first: pipelines compiled, pool filled (default 2). */
  readonly warmup?: number;
  readonly batchSize?: number;
  readonly seqLen?: number;
  /** Use timestamp queries where the adapter has them (default true); false forces the wall-clock fallback. */
  readonly timestamps?: boolean;
  /** Kernels listed per method (default 10). */
  readonly topKernels?: number;
}

/** The counters of one step (GpuContext.counters() after − before). */
export type StepCounters = GpuCounters;

/**
 * One training step. Each step is run twice over: a plain step (no profile session: the CPU and
 * wall figures are the real ones) and a timed step (profile session: per-dispatch GPU times).
 */
export interface ProfileStep {
  /** 1-based, counting warm-up steps. */
  readonly step: number;
  readonly phase: 'warmup' | 'plain' | 'timed';
  readonly counters: StepCounters;
  /** CPU time of recording the step (Trainer.step() up to and including its submit). */
  readonly cpuRecordMs: number;
  /** From the start of recording until the loss and gradient norm were read back. */
  readonly wallMs: number;
  /** Timed steps: Σ per-dispatch GPU time (timestamps), or the wall-clock fallback (see gpuClock). */
  readonly gpuMs: number | null;
  /** Timed steps with timestamps: first dispatch's begin to last dispatch's end. */
  readonly gpuSpanMs: number | null;
  /** Timed steps: Σ FLOPs and compulsory bytes of the dispatches that state a cost. */
  readonly flops: number | null;
  readonly bytes: number | null;
  /** Timed steps: dispatches without a stated cost (their kernels show "—"). */
  readonly uncostedDispatches: number | null;
  readonly loss: number;
}

export interface ProfileKernel {
  /** Label's first word and entry point, e.g. "matmul · matmul_vec4". */
  readonly kernel: string;
  /** Dispatches per step. */
  readonly calls: number;
  /** GPU ms per step (mean over the timed steps); null without timestamps. */
  readonly ms: number | null;
  /** Share of the step's summed GPU time. */
  readonly share: number | null;
  /** Per step; null when no dispatch of this kernel states a cost. */
  readonly flops: number | null;
  readonly bytes: number | null;
  /** FLOPs / GPU time and bytes / GPU time; null without a cost or a time. */
  readonly flopsPerSecond: number | null;
  readonly bytesPerSecond: number | null;
  /** The slowest single dispatch's label (with shapes). */
  readonly slowest: string;
  readonly slowestMs: number | null;
}

export interface ProfileMethod {
  readonly method: string;
  readonly trainableParams: number;
  readonly initMs: number;
  readonly steps: readonly ProfileStep[];
  /** Every kernel, ranked by GPU time (by FLOPs when there are no timestamps). */
  readonly kernels: readonly ProfileKernel[];
  /** Means over the plain steps (CPU, wall) and the timed steps (GPU). */
  readonly summary: {
    readonly dispatches: number;
    readonly bindGroups: number;
    readonly buffersCreated: number;
    readonly bytesWritten: number;
    readonly pipelinesCompiled: number;
    readonly submits: number;
    readonly cpuRecordMs: number;
    readonly wallMs: number;
    readonly gpuMs: number | null;
    readonly timedCpuRecordMs: number;
  };
}

export interface ProfileReport {
  readonly date: string;
  readonly adapter: string;
  readonly isSoftware: boolean;
  readonly model: string;
  readonly batchSize: number;
  readonly seqLen: number;
  readonly warmup: number;
  readonly steps: number;
  /** How many kernels the tables list. */
  readonly topKernels: number;
  /** 'timestamp-query' (per dispatch) or 'wall-clock' (no per-dispatch times; GPU ms is wall time after submit). */
  readonly gpuClock: 'timestamp-query' | 'wall-clock';
  /** Why the wall-clock fallback was used, when it was. */
  readonly clockNote: string;
  readonly methods: readonly ProfileMethod[];
}

/** Streamed while a profile runs. */
export interface ProfileProgress {
  readonly method: string;
  readonly text: string;
  readonly step?: ProfileStep;
}
