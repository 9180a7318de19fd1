// Tests of both variants of the norm kernels (src/kernels/norm.ts: `serial`, one invocation per
// row; `workgroup`, one workgroup per row) against float64 references, kernel by kernel: forward
// (y and the saved (μ, rstd)), backward dx, and the weight and bias gradients, for LayerNorm,
// RMSNorm and RMSNorm with weight offset 1, at 1, 7, 33 and 100 rows and widths from 1 to 1000
// (wider than the 256-invocation workgroup, and not multiples of 4 for the serial kernels' vec4
// steps). The finite-difference tests of the op run both variants too (tensor/ops/norm.test.ts).

import { afterAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { testContext } from '../test/gpu';
import { randomArray, relativeError } from '../test/reference';
import { forceNormVariant, NORM_VARIANTS, normBackwardInput, normForward, normParamGrad, normVariant, paramChunkPlan, type NormKind } from './norm';

const context = testContext();
afterAll(async () => forceNormVariant(await context, undefined));

interface Case {
  readonly kind: NormKind;
  readonly offset: 0 | 1;
  readonly R: number;
  readonly C: number;
}

interface Reference {
  readonly y: Float64Array;
  readonly stats: Float64Array;
  readonly dx: Float64Array;
  readonly dw: Float64Array;
  readonly db: Float64Array;
}

/** float64 forward and backward of one norm: y = x̂·(w + offset) (+ b); dx, dw = Σ dy·x̂, db = Σ dy. */
function reference({ kind, offset, R, C }: Case, x: Float32Array, w: Float32Array, b: Float32Array, dy: Float32Array, eps: number): Reference {
  const y = new Float64Array(R * C);
  const stats = new Float64Array(2 * R);
  const dx = new Float64Array(R * C);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    const row = (c: number) => x[r * C + c]!;
    let mean = 0;
    if (kind === 'layer') {
      for (let c = 0; c < C; c++) mean += row(c);
      mean /= C;
    }
    let q = 0;
    for (let c = 0; c < C; c++) q += (row(c) - mean) ** 2;
    const rstd = 1 / Math.sqrt(q / C + eps);
    stats[2 * r] = mean;
    stats[2 * r + 1] = rstd;
    let sumG = 0;
    let sumGX = 0;
    for (let c = 0; c < C; c++) {
      const xhat = (row(c) - mean) * rstd;
      const g = dy[r * C + c]! * (w[c]! + offset);
      y[r * C + c] = xhat * (w[c]! + offset) + (kind === 'layer' ? b[c]! : 0);
      sumG += g;
      sumGX += g * xhat;
      dw[c]! += dy[r * C + c]! * xhat;
      db[c]! += dy[r * C + c]!;
    }
    const meanG = kind === 'layer' ? sumG / C : 0;
    for (let c = 0; c < C; c++) {
      const xhat = (row(c) - mean) * rstd;
      dx[r * C + c] = rstd * (dy[r * C + c]! * (w[c]! + offset) - meanG - (xhat * sumGX) / C);
    }
  }
  return { y, stats, dx, dw, db };
}

interface Result {
  readonly y: Float32Array;
  readonly stats: Float32Array;
  readonly dx: Float32Array;
  readonly dw: Float32Array;
  readonly db: Float32Array;
}

async function runKernels(
  ctx: GpuContext,
  { kind, offset, R, C }: Case,
  data: { x: Float32Array; w: Float32Array; b: Float32Array; dy: Float32Array },
  eps: number,
): Promise<Result> {
  const x = ctx.uploadF32(data.x, [R, C]);
  const w = ctx.uploadF32(data.w, [C]);
  const b = kind === 'layer' ? ctx.uploadF32(data.b, [C]) : undefined;
  const dy = ctx.uploadF32(data.dy, [R, C]);
  const stats = ctx.empty([R, 2]);
  const y = normForward(ctx, kind, x, w, b, eps, stats, undefined, offset);
  const dx = normBackwardInput(ctx, kind, x, w, stats, dy, undefined, offset);
  const dw = normParamGrad(ctx, 'weight', x, stats, dy);
  const db = normParamGrad(ctx, 'bias', x, stats, dy);
  const result = { y: await ctx.read(y), stats: await ctx.read(stats), dx: await ctx.read(dx), dw: await ctx.read(dw), db: await ctx.read(db) };
  ctx.release(x, w, b, dy, stats, y, dx, dw, db);
  return result;
}

const ROWS = [1, 7, 33, 100];
const WIDTHS = [1, 3, 7, 33, 257, 300, 1000];
const KINDS: readonly { readonly kind: NormKind; readonly offset: 0 | 1 }[] = [
  { kind: 'layer', offset: 0 },
  { kind: 'rms', offset: 0 },
  { kind: 'rms', offset: 1 },
];

describe.each(NORM_VARIANTS)('norm kernels (%s variant)', (variant) => {
  for (const { kind, offset } of KINDS) {
    it(`${kind}${offset ? ' (1 + w)' : ''}: forward, stats, dx, dweight and dbias match float64`, async () => {
      const ctx = await context;
      forceNormVariant(ctx, variant);
      for (const R of ROWS) {
        for (const C of WIDTHS) {
          const c: Case = { kind, offset, R, C };
          const seed = 1000 * R + C + (kind === 'layer' ? 0 : 7) + offset;
          // A row mean of 3 makes LayerNorm's centring matter; weights near 1 (or near 0 with the offset).
          const data = {
            x: Float32Array.from(randomArray(R * C, seed, 2), (v) => v + (kind === 'layer' ? 3 : 0)),
            w: Float32Array.from(randomArray(C, seed + 1, 0.5), (v) => v + 1 - offset),
            b: randomArray(C, seed + 2, 0.1),
            dy: randomArray(R * C, seed + 3),
          };
          // C = 1 RMS: x̂ = x/√(x² + eps) is flat in x; a large eps keeps dx away from cancellation.
          const eps = C === 1 && kind === 'rms' ? 0.25 : 1e-5;
          const got = await runKernels(ctx, c, data, eps);
          const want = reference(c, data.x, data.w, data.b, data.dy, eps);
          const at = `R=${R} C=${C}`;
          // x − μ with |x| ≈ 3 rounds to ulp(3) ≈ 2.4e-7 before any arithmetic of ours.
          expect(relativeError(got.y, want.y), `y ${at}`).toBeLessThan(1e-5);
          expect(relativeError(got.stats, want.stats), `stats ${at}`).toBeLessThan(2e-6);
          // LayerNorm with C = 1: x̂ = 0 and dx = 0 exactly; elsewhere dx cancels to ~rstd·ulp terms.
          expect(relativeError(got.dx, want.dx), `dx ${at}`).toBeLessThan(2e-5);
          expect(relativeError(got.dw, want.dw), `dw ${at}`).toBeLessThan(1e-5);
          expect(relativeError(got.db, want.db), `db ${at}`).toBeLessThan(1e-5);
        }
      }
    });
  }

  it('is the variant every norm kernel uses while forced', async () => {
    const ctx = await context;
    forceNormVariant(ctx, variant);
    expect(normVariant(ctx)).toBe(variant);
  });
});

describe('norm variant choice', () => {
  it('picks the barrier-free serial kernels on a software adapter and workgroups on hardware', async () => {
    const ctx = await context;
    forceNormVariant(ctx, undefined);
    expect(normVariant(ctx)).toBe(ctx.info.isSoftware ? 'serial' : 'workgroup');
  });

  it('plans longer parameter-gradient chunks for the serial variant', () => {
    expect(paramChunkPlan(100, 'serial')).toEqual({ chunkRows: 4096, chunks: 1 });
    expect(paramChunkPlan(10_000, 'serial')).toEqual({ chunkRows: 4096, chunks: 3 });
    expect(paramChunkPlan(100, 'workgroup')).toEqual({ chunkRows: 64, chunks: 2 });
  });

  it('gives the same results from both variants up to f32 rounding, and each bit-for-bit repeatably', async () => {
    const ctx = await context;
    const c: Case = { kind: 'layer', offset: 0, R: 4500, C: 5 }; // the serial parameter gradient takes 2 chunks
    const data = { x: randomArray(c.R * c.C, 5, 2), w: randomArray(c.C, 6), b: randomArray(c.C, 7), dy: randomArray(c.R * c.C, 8) };
    const results: Result[] = [];
    for (const variant of NORM_VARIANTS) {
      forceNormVariant(ctx, variant);
      const first = await runKernels(ctx, c, data, 1e-5);
      const second = await runKernels(ctx, c, data, 1e-5);
      for (const key of ['y', 'stats', 'dx', 'dw', 'db'] as const) expect(Array.from(second[key]), `${variant} ${key}`).toEqual(Array.from(first[key]));
      results.push(first);
    }
    const [serial, workgroup] = results as [Result, Result];
    for (const key of ['y', 'stats', 'dx', 'dw', 'db'] as const) expect(relativeError(serial[key], workgroup[key]), key).toBeLessThan(1e-5);
  });
});
