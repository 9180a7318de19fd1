// Matmul benchmark: GFLOP/s of our kernels (src/kernels/matmul.ts) on a list of shapes, and of the
// same products through a peer library (tfjs-backend-webgpu) on the same adapter, with the ratio.
// Used by the Node bench (bench/run.ts) and by the app's worker (src/worker/engine.worker.ts), so
// this file is browser-safe: it needs only a GpuContext (and, for the peer, navigator.gpu).
//
// Method, the same for both sides: inputs are uploaded and the output allocated once; each timed
// run records one product, submits it and waits for onSubmittedWorkDone (ctx.sync() for ours,
// tfjs's submitQueue + onSubmittedWorkDone for the peer), wall clock by performance.now(). A
// warmup run first (pipeline compilation, first touch of buffers), then repetitions until both a
// minimum count and a time target are met; the median is reported. Products shorter than
// plan.minRunMs (real GPUs) are recorded several times per submission, the same on both sides. Both sides get the same input
// data; our output is checked on sampled entries against float64 dot products, and against the
// peer's whole output when the peer runs.

import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { defaultMatmulVariant, F32_MATMUL_VARIANTS, matmulInto, matmulShape, vec4Compatible, type MatmulVariant } from '../kernels/matmul';
import type { MatmulBenchOptions, MatmulBenchRow, MatmulBenchShape, MatmulPeer, MatmulTiming, MatmulTimingPlan, PreparedProduct } from './types';
import { InputError } from '../errors';

export type { MatmulBenchOptions, MatmulBenchRow, MatmulBenchShape, MatmulPeer, MatmulTiming, MatmulTimingPlan, PreparedProduct };

export const DEFAULT_TIMING_PLAN: MatmulTimingPlan = {
  warmup: 1,
  minReps: 3,
  maxReps: 10,
  targetSeconds: 2,
  slowRunSeconds: 8,
  verySlowRunSeconds: 25,
  minRunMs: 20,
};

const MAX_PRODUCTS_PER_RUN = 256;

/** A square M = N = K product. */
export function squareShape(n: number): MatmulBenchShape {
  return { label: `${n}×${n} · ${n}×${n}`, M: n, N: n, K: n, transA: false, transB: false };
}

/** op(A) [M, K] · op(B) [K, N], labelled by the stored operand shapes (ᵀ marks a transposed read). */
export function productShape(M: number, K: number, N: number, transA = false, transB = false): MatmulBenchShape {
  const a = transA ? `(${K}×${M})ᵀ` : `${M}×${K}`;
  const b = transB ? `(${N}×${K})ᵀ` : `${K}×${N}`;
  return { label: `${a} · ${b}`, M, N, K, transA, transB };
}

/** A linear layer x [T, d] · W [d, f] as in training: forward (NN), input gradient dY · Wᵀ (NT)
 * and weight gradient xᵀ · dY (TN). */
export function linearLayerShapes(T: number, d: number, f: number): MatmulBenchShape[] {
  return [productShape(T, d, f), productShape(T, f, d, false, true), productShape(d, T, f, true, false)];
}

/** Square 256–2048, and a GPT-2-small MLP (512 tokens, d 768, 3072 hidden) forward and backward. */
export const DEFAULT_BENCH_SHAPES: readonly MatmulBenchShape[] = [
  squareShape(256),
  squareShape(512),
  squareShape(1024),
  squareShape(2048),
  ...linearLayerShapes(512, 768, 3072),
  productShape(512, 3072, 768),
];

/** Small shapes only (well under a minute on SwiftShader, peer included). */
export const QUICK_BENCH_SHAPES: readonly MatmulBenchShape[] = [squareShape(256), squareShape(512), ...linearLayerShapes(128, 256, 1024)];

/** Parses "512x768x3072" (M×K×N, i.e. [512,768]·[768,3072]), "1024" (square), with an optional
 * ":nt" / ":tn" / ":tt" suffix for transposed operands. */
export function parseShape(text: string): MatmulBenchShape {
  const match = /^\s*(\d+)(?:[x×](\d+)[x×](\d+))?(?::(nn|nt|tn|tt))?\s*$/i.exec(text);
  if (!match) throw new InputError(`bad shape "${text}": expected MxKxN (e.g. 512x768x3072), N (square) or MxKxN:nt`);
  const M = Number(match[1]);
  const K = match[2] ? Number(match[2]) : M;
  const N = match[3] ? Number(match[3]) : M;
  if (!(M > 0 && K > 0 && N > 0)) throw new InputError(`bad shape "${text}": sizes must be positive`);
  const trans = (match[4] ?? 'nn').toLowerCase();
  return productShape(M, K, N, trans[0] === 't', trans[1] === 't');
}

export function shapeFlops(shape: Pick<MatmulBenchShape, 'M' | 'N' | 'K'>): number {
  return 2 * shape.M * shape.N * shape.K;
}

/** The variants worth timing for a shape: those requested that it can use, else the default. */
export function variantsFor(ctx: GpuContext, shape: MatmulBenchShape, requested?: readonly string[]): MatmulVariant[] {
  const s = matmulShape(storedShapeA(shape), storedShapeB(shape), shape.transA, shape.transB);
  if (!requested || requested.length === 0) return [defaultMatmulVariant(ctx, s, shape.transA)];
  const out: MatmulVariant[] = [];
  for (const name of requested) {
    if (name === 'default') out.push(defaultMatmulVariant(ctx, s, shape.transA));
    else if ((F32_MATMUL_VARIANTS as readonly string[]).includes(name)) {
      const v = name as MatmulVariant;
      if ((v !== 'vec4' || vec4Compatible(s, shape.transA)) && (v !== 'subgroup' || ctx.info.features.subgroups)) out.push(v);
    } else throw new InputError(`unknown matmul variant "${name}" (known: ${F32_MATMUL_VARIANTS.join(', ')}, default)`);
  }
  return [...new Set(out)];
}

export function storedShapeA(s: MatmulBenchShape): [number, number] {
  return s.transA ? [s.K, s.M] : [s.M, s.K];
}

export function storedShapeB(s: MatmulBenchShape): [number, number] {
  return s.transB ? [s.N, s.K] : [s.K, s.N];
}

/** Deterministic uniform values in [-1, 1) (xorshift32), so both sides see the same inputs. */
export function benchInput(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x / 2147483648 - 1;
  }
  return out;
}

/** Our product on the context, ready to run repeatedly. */
export function prepareOurs(ctx: GpuContext, shape: MatmulBenchShape, a: Float32Array, b: Float32Array, variant: MatmulVariant): PreparedProduct {
  const ta: GpuTensor = ctx.uploadF32(a, storedShapeA(shape), 'bench A');
  const tb: GpuTensor = ctx.uploadF32(b, storedShapeB(shape), 'bench B');
  const out: GpuTensor = ctx.empty([shape.M, shape.N], 'f32', 'bench C');
  return {
    async run(times = 1) {
      for (let i = 0; i < times; i++) matmulInto(ctx, ta, tb, out, { transA: shape.transA, transB: shape.transB, variant });
      await ctx.sync();
    },
    read: () => ctx.read(out),
    dispose: () => ctx.release(ta, tb, out),
  };
}

const now = (): number => globalThis.performance.now();

/** Warmup, then timed runs per the plan; median wall-clock milliseconds. */
export async function timeProduct(product: PreparedProduct, flops: number, plan: MatmulTimingPlan): Promise<MatmulTiming> {
  let slowest = 0;
  for (let i = 0; i < plan.warmup; i++) {
    const t0 = now();
    await product.run();
    slowest = Math.max(slowest, now() - t0);
  }
  // Several products per run when one is too short to time against submit latency (real GPUs).
  // The warmup includes pipeline compilation, so a short one is probed again once compiled.
  let productsPerRun = 1;
  if (plan.minRunMs > 0 && slowest < Math.max(1000, plan.minRunMs)) {
    const t0 = now();
    await product.run();
    const probe = now() - t0;
    if (probe < plan.minRunMs) {
      productsPerRun = Math.min(MAX_PRODUCTS_PER_RUN, Math.ceil(plan.minRunMs / Math.max(probe, 0.01)));
      await product.run(productsPerRun); // warm the batched path too
    }
  }
  let minReps = plan.minReps;
  if (plan.warmup > 0 && slowest > plan.slowRunSeconds * 1000) minReps = Math.min(minReps, 2);
  if (plan.warmup > 0 && slowest > plan.verySlowRunSeconds * 1000) minReps = 1;
  const times: number[] = [];
  let total = 0;
  while (times.length < Math.max(1, minReps) || (total < plan.targetSeconds * 1000 && times.length < plan.maxReps)) {
    const t0 = now();
    await product.run(productsPerRun);
    const dt = now() - t0;
    times.push(dt);
    total += dt;
  }
  const medianMs = median(times);
  return {
    medianMs,
    minMs: Math.min(...times),
    reps: times.length,
    warmup: plan.warmup,
    productsPerRun,
    gflops: (flops * productsPerRun) / (medianMs * 1e6),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Max |got − want| / max |want| over `count` sampled output entries, each a float64 dot product. */
export function sampledError(shape: MatmulBenchShape, a: Float32Array, b: Float32Array, c: Float32Array, count = 64): number {
  const { M, N, K, transA, transB } = shape;
  let worst = 0;
  let scale = 0;
  const picks = benchInput(2 * count, M * 31 + N * 17 + K);
  for (let s = 0; s < count; s++) {
    const i = Math.min(M - 1, Math.floor(((picks[2 * s]! + 1) / 2) * M));
    const j = Math.min(N - 1, Math.floor(((picks[2 * s + 1]! + 1) / 2) * N));
    let want = 0;
    for (let k = 0; k < K; k++) {
      const av = transA ? a[k * M + i]! : a[i * K + k]!;
      const bv = transB ? b[j * K + k]! : b[k * N + j]!;
      want += av * bv;
    }
    const diff = Math.abs(c[i * N + j]! - want);
    if (Number.isNaN(diff)) return Number.POSITIVE_INFINITY;
    worst = Math.max(worst, diff);
    scale = Math.max(scale, Math.abs(want));
  }
  return worst / (scale + 1e-30);
}

export function maxDifference(x: Float32Array, y: Float32Array): number {
  if (x.length !== y.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    const diff = Math.abs(x[i]! - y[i]!);
    if (Number.isNaN(diff)) return Number.POSITIVE_INFINITY;
    worst = Math.max(worst, diff);
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return worst / (scale + 1e-30);
}

async function loadDefaultPeer(): Promise<MatmulPeer> {
  // Loaded on demand: tfjs is large, and only the benchmark needs it.
  const { createTfjsPeer } = await import('../../bench/tfjsPeer');
  return createTfjsPeer();
}

/**
 * Times every shape (each requested variant of ours, and the peer once per shape), calling onRow
 * as each row completes, and returns all rows. A peer that cannot start or fails on a shape
 * leaves peerGflops null (with peerError) rather than failing the run.
 */
export async function runMatmulBench(ctx: GpuContext, options: MatmulBenchOptions): Promise<MatmulBenchRow[]> {
  const plan: MatmulTimingPlan = { ...DEFAULT_TIMING_PLAN, ...options.plan };
  const status = options.onStatus ?? (() => {});
  let peer: MatmulPeer | undefined;
  let peerStartError: string | undefined;
  let ownsPeer = false;
  if (options.includePeer) {
    try {
      if (typeof options.peer === 'function') {
        peer = await options.peer();
        ownsPeer = true;
      } else if (options.peer) {
        peer = options.peer;
      } else {
        status('starting tfjs-backend-webgpu');
        peer = await loadDefaultPeer();
        ownsPeer = true;
      }
    } catch (error) {
      peerStartError = `peer unavailable: ${(error as Error).message}`;
    }
  }

  const rows: MatmulBenchRow[] = [];
  try {
    for (const [index, shape] of options.shapes.entries()) {
      const flops = shapeFlops(shape);
      const a = benchInput(shape.M * shape.K, 2 * index + 1);
      const b = benchInput(shape.K * shape.N, 2 * index + 2);

      let peerTiming: MatmulTiming | null = null;
      let peerOutput: Float32Array | undefined;
      let peerError = peerStartError;
      if (peer) {
        let product: PreparedProduct | undefined;
        try {
          status(`${shape.label}: ${peer.name}`);
          product = await peer.prepare(shape, a, b);
          peerTiming = await timeProduct(product, flops, plan);
          if (options.comparePeer ?? true) peerOutput = await product.read();
        } catch (error) {
          peerError = `peer failed: ${(error as Error).message}`;
        } finally {
          product?.dispose();
        }
      }

      for (const variant of variantsFor(ctx, shape, options.variants)) {
        status(`${shape.label}: ours (${variant})`);
        const product = prepareOurs(ctx, shape, a, b, variant);
        try {
          const ours = await timeProduct(product, flops, plan);
          const c = await product.read();
          const row: MatmulBenchRow = {
            shape,
            variant,
            oursGflops: ours.gflops,
            peerGflops: peerTiming?.gflops ?? null,
            ratio: peerTiming ? ours.gflops / peerTiming.gflops : null,
            flops,
            ours,
            peer: peerTiming,
            sampleError: sampledError(shape, a, b, c),
            peerDifference: peerOutput ? maxDifference(c, peerOutput) : null,
            ...(peerError ? { peerError } : {}),
          };
          rows.push(row);
          options.onRow?.(row);
        } finally {
          product.dispose();
        }
      }
    }
  } finally {
    if (ownsPeer) peer?.dispose();
  }
  return rows;
}

/** Fixed-width text table of rows (the Node bench prints it; BENCHMARKS.md uses the same columns). */
export function formatBenchTable(rows: readonly MatmulBenchRow[], peerName = 'tfjs'): string {
  const header = ['shape', 'variant', 'GFLOP', 'ours GFLOP/s', `${peerName} GFLOP/s`, 'ours/tfjs', 'reps (ours/tfjs)', 'check'];
  const fmt = (x: number | null | undefined, digits = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));
  const lines = rows.map((r) => [
    r.shape.label,
    r.variant,
    fmt(shapeFlops(r.shape) / 1e9, 3),
    fmt(r.oursGflops),
    fmt(r.peerGflops),
    r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
    `${repsText(r.ours)}/${repsText(r.peer)}`,
    checkText(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(line)].join('\n');
}

function repsText(t: MatmulTiming | null | undefined): string {
  if (!t) return '—';
  return t.productsPerRun > 1 ? `${t.reps}×${t.productsPerRun}` : `${t.reps}`;
}

function checkText(r: MatmulBenchRow): string {
  const parts: string[] = [];
  if (r.sampleError !== undefined) parts.push(`ref ${r.sampleError.toExponential(1)}`);
  if (r.peerDifference !== undefined && r.peerDifference !== null) parts.push(`vs tfjs ${r.peerDifference.toExponential(1)}`);
  if (r.peerError) parts.push(r.peerError);
  return parts.join(', ') || '—';
}
