// Types of the matmul benchmark, shared by the Node bench (bench/run.ts), the worker and the
// in-app benchmark page. Rows cross postMessage, so they are plain data (no functions).

/** One product op(A)·op(B), with op(A) [M, K] and op(B) [K, N]; FLOPs are 2·M·N·K. */
export interface MatmulBenchShape {
  readonly label: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** A is stored [K, M] and read transposed. */
  readonly transA: boolean;
  /** B is stored [N, K] and read transposed. */
  readonly transB: boolean;
}

/** Timing of one side (ours or the peer) of a row. All times are wall-clock milliseconds of
 * "record, submit, wait until the GPU is done" for one run of productsPerRun products. */
export interface MatmulTiming {
  /** Median over the timed repetitions. */
  readonly medianMs: number;
  readonly minMs: number;
  readonly reps: number;
  /** Untimed runs before the timed ones (pipeline compilation, first touch of buffers). */
  readonly warmup: number;
  /** Products recorded per timed run (1 unless one product is shorter than plan.minRunMs). */
  readonly productsPerRun: number;
  /** 2·M·N·K · productsPerRun / median. */
  readonly gflops: number;
}

export interface MatmulBenchRow {
  readonly shape: MatmulBenchShape;
  /** Our kernel's variant that was measured. */
  readonly variant: string;
  readonly oursGflops: number;
  /** Same product through @tensorflow/tfjs-backend-webgpu on the same adapter; null when not run. */
  readonly peerGflops: number | null;
  /** oursGflops / peerGflops, null when the peer was not run. */
  readonly ratio: number | null;
  /** 2·M·N·K. */
  readonly flops?: number;
  readonly ours?: MatmulTiming;
  readonly peer?: MatmulTiming | null;
  /** Largest |ours − float64 reference| / (max |reference| + tiny) over sampled output entries. */
  readonly sampleError?: number;
  /** Largest |ours − peer| / (max |peer| + tiny) over the whole output; null without the peer. */
  readonly peerDifference?: number | null;
  /** Why the peer has no figure for this row (it threw, or was not available). */
  readonly peerError?: string;
}

/** How many times to run each product. Large products get fewer repetitions so the default
 * run stays within minutes on SwiftShader (~1 GFLOP/s). */
export interface MatmulTimingPlan {
  /** Untimed runs first. Default 1. */
  readonly warmup: number;
  /** At least this many timed runs... Default 3. */
  readonly minReps: number;
  /** ...and more while the timed runs total less than targetSeconds, up to maxReps. */
  readonly maxReps: number;
  readonly targetSeconds: number;
  /** When the warmup run took longer than this, minReps drops to 2. Default 8 s. */
  readonly slowRunSeconds: number;
  /** ...and longer than this, to 1 (tfjs at 2048³ takes about a minute per run on SwiftShader).
   * Default 25 s. */
  readonly verySlowRunSeconds: number;
  /** When one product takes less than this, each timed run records several products in one
   * submission (same count on both sides) so submit/wake-up latency does not dominate small
   * shapes on real GPUs. Default 20 ms; SwiftShader's products all take longer. */
  readonly minRunMs: number;
}

/** One prepared product (inputs uploaded, output allocated) that can be run and read again. */
export interface PreparedProduct {
  /** Records the product `times` times (default 1) into one submission, submits, and resolves
   * when the GPU has finished. */
  run(times?: number): Promise<void>;
  /** The output, [M, N] row-major. */
  read(): Promise<Float32Array>;
  dispose(): void;
}

/** A second implementation timed on the same shapes and inputs (tfjs-backend-webgpu). */
export interface MatmulPeer {
  /** e.g. "tfjs-backend-webgpu 4.22.0". */
  readonly name: string;
  /** The adapter the peer's device came from, as in GpuDescription.description / architecture. */
  readonly adapter: string;
  /** a is stored [M, K] ([K, M] with transA); b [K, N] ([N, K] with transB). */
  prepare(shape: MatmulBenchShape, a: Float32Array, b: Float32Array): Promise<PreparedProduct>;
  dispose(): void;
}

export interface MatmulBenchOptions {
  readonly shapes: readonly MatmulBenchShape[];
  /** Also time the peer library (tfjs-backend-webgpu). */
  readonly includePeer: boolean;
  /** The peer to time when includePeer is set. Default: tfjs-backend-webgpu on a new device from
   * navigator.gpu (bench/tfjsPeer.ts, loaded on demand). */
  readonly peer?: MatmulPeer | (() => Promise<MatmulPeer>);
  /** Our variants to time per shape; default: the one matmulInto picks for the adapter. Variants
   * a shape cannot use (vec4 on unaligned shapes) are skipped. */
  readonly variants?: readonly string[];
  readonly plan?: Partial<MatmulTimingPlan>;
  /** Compare the whole output with the peer's (one readback of each). Default true. */
  readonly comparePeer?: boolean;
  /** Called as each row completes, so a UI can fill the table progressively. */
  readonly onRow?: (row: MatmulBenchRow) => void;
  /** Progress text ("512×512 · 512×512: tfjs warmup"), for a CLI's status line. */
  readonly onStatus?: (text: string) => void;
}
