// Tests of shaders/spp.wgsl's kernels one by one against float64 references: forward and dx on
// odd shapes (in = 1, 7, 33, 100; out = 16, 48 with 3-row blocks that straddle the 4-row tiles),
// ∂L/∂Wcol and ∂L/∂Wrow for token counts 1, 7, 37 and every partial-chunk size (one chunk per
// 4 tokens up to one chunk in all), accumulation into existing gradients, columnSum, and the
// errors the wrappers raise. (The op's finite-difference tests are in tensor/ops/sppLinear.test.ts.)

import { describe, expect, it } from 'vitest';
import { GpuError } from '../errors';
import { testContext } from '../test/gpu';
import { randomArray, relativeError } from '../test/reference';
import { columnSum, sppForward, sppGradInput, sppGradWcol, sppGradWrow } from './spp';

const S = 2;

interface Case {
  readonly N: number;
  readonly inF: number;
  readonly outF: number;
  readonly x: Float32Array; // [N, in]
  readonly G: Float32Array; // [N, out]
  readonly W: Float32Array; // [out, in]
  readonly Wrow: Float32Array; // [16, in]
  readonly Wcol: Float32Array; // [out]
}

function makeCase(N: number, inF: number, outF: number): Case {
  const seed = N * 1000 + inF * 10 + outF;
  const W = randomArray(outF * inF, seed);
  for (let i = 0; i < W.length; i += 3) W[i] = 0;
  return {
    N,
    inF,
    outF,
    x: randomArray(N * inF, seed + 1),
    G: randomArray(N * outF, seed + 2),
    W,
    Wrow: randomArray(16 * inF, seed + 3),
    Wcol: randomArray(outF, seed + 4),
  };
}

/** W' [out, in] in float64. */
function merged(c: Case): Float64Array {
  const br = c.outF / 16;
  const M = new Float64Array(c.outF * c.inF);
  for (let i = 0; i < c.outF; i++) {
    const k = Math.floor(i / br);
    for (let j = 0; j < c.inF; j++) M[i * c.inF + j] = c.W[i * c.inF + j]! * (1 + S * c.Wcol[i]! * c.Wrow[k * c.inF + j]!);
  }
  return M;
}

/** D = Gᵀ x [out, in] in float64 (the reference may form it; the kernels do not). */
function dense(c: Case): Float64Array {
  const D = new Float64Array(c.outF * c.inF);
  for (let n = 0; n < c.N; n++) {
    for (let i = 0; i < c.outF; i++) {
      for (let j = 0; j < c.inF; j++) D[i * c.inF + j] = D[i * c.inF + j]! + c.G[n * c.outF + i]! * c.x[n * c.inF + j]!;
    }
  }
  return D;
}

function forwardRef(c: Case, bias?: Float32Array): Float64Array {
  const M = merged(c);
  const y = new Float64Array(c.N * c.outF);
  for (let n = 0; n < c.N; n++) {
    for (let i = 0; i < c.outF; i++) {
      let acc = bias ? bias[i]! : 0;
      for (let j = 0; j < c.inF; j++) acc += c.x[n * c.inF + j]! * M[i * c.inF + j]!;
      y[n * c.outF + i] = acc;
    }
  }
  return y;
}

function gradXRef(c: Case): Float64Array {
  const M = merged(c);
  const dx = new Float64Array(c.N * c.inF);
  for (let n = 0; n < c.N; n++) {
    for (let j = 0; j < c.inF; j++) {
      let acc = 0;
      for (let i = 0; i < c.outF; i++) acc += c.G[n * c.outF + i]! * M[i * c.inF + j]!;
      dx[n * c.inF + j] = acc;
    }
  }
  return dx;
}

/** ADAPTERS.md: ∂Wcol[i] = s Σ_j D_ij W_ij Wrow[k(i), j]; ∂Wrow[k, j] = s Σ_{i∈k} D_ij W_ij Wcol[i]. */
function gradAdapterRef(c: Case): { dWcol: Float64Array; dWrow: Float64Array } {
  const D = dense(c);
  const br = c.outF / 16;
  const dWcol = new Float64Array(c.outF);
  const dWrow = new Float64Array(16 * c.inF);
  for (let i = 0; i < c.outF; i++) {
    const k = Math.floor(i / br);
    for (let j = 0; j < c.inF; j++) {
      const e = D[i * c.inF + j]! * c.W[i * c.inF + j]!;
      dWcol[i] = dWcol[i]! + S * e * c.Wrow[k * c.inF + j]!;
      dWrow[k * c.inF + j] = dWrow[k * c.inF + j]! + S * e * c.Wcol[i]!;
    }
  }
  return { dWcol, dWrow };
}

const SHAPES: [number, number, number][] = [
  [1, 1, 16],
  [7, 7, 48],
  [7, 33, 16],
  [37, 100, 48],
];

describe('spp kernels', () => {
  it('forward (with and without bias) and dx match float64', async () => {
    const ctx = await testContext();
    for (const [N, inF, outF] of SHAPES) {
      const c = makeCase(N, inF, outF);
      const [x, G, W, Wrow, Wcol] = [
        ctx.uploadF32(c.x, [N, inF]),
        ctx.uploadF32(c.G, [N, outF]),
        ctx.uploadF32(c.W, [outF, inF]),
        ctx.uploadF32(c.Wrow, [16, inF]),
        ctx.uploadF32(c.Wcol, [outF]),
      ];
      const biasData = randomArray(outF, 99);
      const bias = ctx.uploadF32(biasData, [outF]);
      const where = `N=${N} in=${inF} out=${outF}`;
      expect(relativeError(await ctx.read(sppForward(ctx, x, W, Wrow, Wcol, S)), forwardRef(c)), where).toBeLessThan(1e-5);
      expect(relativeError(await ctx.read(sppForward(ctx, x, W, Wrow, Wcol, S, bias)), forwardRef(c, biasData)), where).toBeLessThan(1e-5);
      expect(relativeError(await ctx.read(sppGradInput(ctx, G, W, Wrow, Wcol, S)), gradXRef(c)), where).toBeLessThan(1e-5);
      ctx.release(x, G, W, Wrow, Wcol, bias);
    }
  });

  it("∂L/∂Wcol and ∂L/∂Wrow match ADAPTERS.md's sums over D = Gᵀx for every partial-chunk size", async () => {
    const ctx = await testContext();
    for (const [N, inF, outF] of SHAPES) {
      const c = makeCase(N, inF, outF);
      const want = gradAdapterRef(c);
      const [x, G, W, Wrow, Wcol] = [
        ctx.uploadF32(c.x, [N, inF]),
        ctx.uploadF32(c.G, [N, outF]),
        ctx.uploadF32(c.W, [outF, inF]),
        ctx.uploadF32(c.Wrow, [16, inF]),
        ctx.uploadF32(c.Wcol, [outF]),
      ];
      for (const rowsPerPartial of [4, 8, 32, 64]) {
        const where = `N=${N} in=${inF} out=${outF} rowsPerPartial=${rowsPerPartial}`;
        const dWcol = sppGradWcol(ctx, x, G, W, Wrow, S, { rowsPerPartial });
        const dWrow = sppGradWrow(ctx, x, G, W, Wcol, S, { rowsPerPartial });
        expect(dWcol.shape, where).toEqual([outF]);
        expect(dWrow.shape, where).toEqual([16, inF]);
        expect(relativeError(await ctx.read(dWcol), want.dWcol), where).toBeLessThan(1e-5);
        expect(relativeError(await ctx.read(dWrow), want.dWrow), where).toBeLessThan(1e-5);
        ctx.release(dWcol, dWrow);
      }
      ctx.release(x, G, W, Wrow, Wcol);
    }
  });

  it('accumulates into an existing gradient', async () => {
    const ctx = await testContext();
    const c = makeCase(7, 33, 16);
    const want = gradAdapterRef(c);
    const [x, G, W, Wrow, Wcol] = [
      ctx.uploadF32(c.x, [7, 33]),
      ctx.uploadF32(c.G, [7, 16]),
      ctx.uploadF32(c.W, [16, 33]),
      ctx.uploadF32(c.Wrow, [16, 33]),
      ctx.uploadF32(c.Wcol, [16]),
    ];
    const start = randomArray(16 * 33, 5);
    const gradRow = ctx.uploadF32(start, [16, 33]);
    const gradCol = ctx.uploadF32(start.subarray(0, 16), [16]);
    sppGradWrow(ctx, x, G, W, Wcol, S, { into: gradRow, accumulate: true });
    sppGradWcol(ctx, x, G, W, Wrow, S, { into: gradCol, accumulate: true });
    expect(
      relativeError(
        await ctx.read(gradRow),
        want.dWrow.map((v, i) => v + start[i]!),
      ),
    ).toBeLessThan(1e-5);
    expect(
      relativeError(
        await ctx.read(gradCol),
        want.dWcol.map((v, i) => v + start[i]!),
      ),
    ).toBeLessThan(1e-5);
  });

  it('columnSum sums rows, scales, accumulates', async () => {
    const ctx = await testContext();
    for (const [P, C] of [
      [1, 1],
      [7, 33],
      [100, 7],
    ] as const) {
      const data = randomArray(P * C, P + C);
      const a = ctx.uploadF32(data, [P, C]);
      const want = new Float64Array(C);
      for (let i = 0; i < P * C; i++) want[i % C] = want[i % C]! + data[i]!;
      expect(relativeError(await ctx.read(columnSum(ctx, a)), want)).toBeLessThan(1e-6);
      const into = ctx.uploadF32(new Float32Array(C).fill(1), [C]);
      columnSum(ctx, a, { alpha: -3, into, accumulate: true });
      expect(
        relativeError(
          await ctx.read(into),
          want.map((v) => 1 - 3 * v),
        ),
      ).toBeLessThan(1e-6);
      ctx.release(a, into);
    }
  });

  it('raises GpuErrors on bad shapes and options', async () => {
    const ctx = await testContext();
    const t = (shape: number[]) => ctx.uploadF32(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    const [x, G, W, Wrow, Wcol] = [t([3, 8]), t([3, 16]), t([16, 8]), t([16, 8]), t([16])];
    expect(() => sppForward(ctx, x, t([20, 8]), Wrow, t([20]), S)).toThrow(/multiple of 16/);
    expect(() => sppForward(ctx, t([3, 7]), W, Wrow, Wcol, S)).toThrow(/x must be \[N, 8\]/);
    expect(() => sppForward(ctx, x, W, Wrow, Wcol, S, t([8]))).toThrow(/bias/);
    expect(() => sppForward(ctx, x, W, Wrow, Wcol, Number.NaN)).toThrow(/not finite/);
    expect(() => sppGradInput(ctx, x, W, Wrow, Wcol, S)).toThrow(/G must be \[N, 16\]/);
    expect(() => sppGradWcol(ctx, x, t([4, 16]), W, Wrow, S)).toThrow(/token counts/);
    expect(() => sppGradWrow(ctx, x, G, W, Wcol, S, { rowsPerPartial: 6 })).toThrow(/multiple of 4/);
    expect(() => sppGradWrow(ctx, x, G, W, Wcol, S, { accumulate: true })).toThrow(/into/);
    expect(() => sppGradWrow(ctx, x, G, W, Wcol, S, { into: t([16, 7]) })).toThrow(GpuError);
    expect(() => columnSum(ctx, x, { into: x })).toThrow(GpuError);
  });
});
