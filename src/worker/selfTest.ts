// The in-app self-test: seeded random matrices multiplied by our matmul on the user's GPU and,
// independently, in float64 on the CPU; the GPU passes when every normwise relative error
// max|gpu − cpu| / max|cpu| stays under 1e-5 (f32 accumulation over K=257 gives ~1e-7).
// Cases cover the plain product, both transposes (y = x Wᵀ is the common layer shape), and a
// batched product whose right operand is shared by the batch.
//   a [..., M, K] ([..., K, M] with transA), b [..., K, N] ([..., N, K] with transB), c [..., M, N]
// Deliberately not a benchmark: the GPU time includes upload, pipeline creation and readback.

import type { GpuContext } from '../gpu/context';
import { defaultMatmulVariant, matmul, matmulShape } from '../kernels/matmul';
import type { SelfTestCase, SelfTestResult } from './protocol';

export const SELF_TEST_TOLERANCE = 1e-5;

interface CaseSpec {
  readonly label: string;
  readonly batchA: number; // 0: no batch dimension
  readonly batchB: number;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly transA: boolean;
  readonly transB: boolean;
}

const CASES: readonly CaseSpec[] = [
  { label: 'A·B [100,257]·[257,33]', batchA: 0, batchB: 0, M: 100, N: 33, K: 257, transA: false, transB: false },
  { label: 'Aᵀ·Bᵀ [257,100]ᵀ·[33,257]ᵀ', batchA: 0, batchB: 0, M: 100, N: 33, K: 257, transA: true, transB: true },
  { label: 'A·Bᵀ [100,257]·[33,257]ᵀ', batchA: 0, batchB: 0, M: 100, N: 33, K: 257, transA: false, transB: true },
  { label: 'batched [4,37,65]·[65,29]', batchA: 4, batchB: 0, M: 37, N: 29, K: 65, transA: false, transB: false },
  { label: 'batched [3,20,48]·[3,48,70]', batchA: 3, batchB: 3, M: 20, N: 70, K: 48, transA: false, transB: false },
];

export async function runSelfTest(ctx: GpuContext, seed = 1): Promise<SelfTestResult> {
  const variants = new Set<string>();
  const inputs = CASES.map((spec, i) => ({
    spec,
    a: randomF32(Math.max(1, spec.batchA) * spec.M * spec.K, seed * 1000 + 2 * i),
    b: randomF32(Math.max(1, spec.batchB) * spec.K * spec.N, seed * 1000 + 2 * i + 1),
  }));

  const gpuStart = performance.now();
  const outputs: Float32Array[] = [];
  for (const { spec, a, b } of inputs) {
    const shapeA = [...(spec.batchA ? [spec.batchA] : []), ...(spec.transA ? [spec.K, spec.M] : [spec.M, spec.K])];
    const shapeB = [...(spec.batchB ? [spec.batchB] : []), ...(spec.transB ? [spec.N, spec.K] : [spec.K, spec.N])];
    const ta = ctx.uploadF32(a, shapeA, 'self-test a');
    const tb = ctx.uploadF32(b, shapeB, 'self-test b');
    // The variant the studio itself would pick for this shape on this adapter.
    variants.add(defaultMatmulVariant(ctx, matmulShape(shapeA, shapeB, spec.transA, spec.transB), spec.transA));
    const tc = matmul(ctx, ta, tb, { transA: spec.transA, transB: spec.transB });
    try {
      outputs.push(await ctx.read(tc));
    } finally {
      ctx.release(ta, tb, tc);
    }
  }
  const gpuMs = performance.now() - gpuStart;

  const cpuStart = performance.now();
  const cases: SelfTestCase[] = inputs.map(({ spec, a, b }, i) => {
    const expected = batchedMatmulF64(spec, a, b);
    const relError = normwiseRelativeError(outputs[i]!, expected);
    return { label: spec.label, relError, pass: relError < SELF_TEST_TOLERANCE };
  });
  const cpuMs = performance.now() - cpuStart;

  const maxRelError = cases.reduce((worst, c) => (c.relError > worst || Number.isNaN(c.relError) ? c.relError : worst), 0);
  return {
    pass: cases.every((c) => c.pass),
    maxRelError,
    tolerance: SELF_TEST_TOLERANCE,
    variant: [...variants].join(', '),
    gpuMs,
    cpuMs,
    seed,
    cases,
  };
}

/** c [batch, M, N] in float64; an operand with batch 0 is shared by every batch entry. */
function batchedMatmulF64(spec: CaseSpec, a: Float32Array, b: Float32Array): Float64Array {
  const { M, N, K, transA, transB } = spec;
  const batch = Math.max(1, spec.batchA, spec.batchB);
  const c = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    const baseA = spec.batchA ? z * M * K : 0;
    const baseB = spec.batchB ? z * K * N : 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const av = a[baseA + (transA ? k * M + m : m * K + k)]!;
          const bv = b[baseB + (transB ? n * K + k : k * N + n)]!;
          acc += av * bv;
        }
        c[z * M * N + m * N + n] = acc;
      }
    }
  }
  return c;
}

function normwiseRelativeError(actual: Float32Array, expected: Float64Array): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    if (Number.isNaN(diff)) return Number.NaN; // NaN/Inf from the GPU fails the case outright
    if (diff > maxDiff) maxDiff = diff;
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}

/** Uniform values in [-1, 1) from a seeded mulberry32, so a failure can be replayed. */
function randomF32(size: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}
