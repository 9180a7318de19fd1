// Tests of ops/norm.ts (layerNorm, rmsNorm): GPU forward against float64 references and GPU
// backward (dx, dweight, dbias) against finite differences, on odd shapes (C = 1, 7, 33), rows
// wider than a workgroup (C = 300, 4096), enough rows to take the two-pass parameter-gradient
// path, leading batch dims, accumulation into an existing .grad, no-grad inference, and
// bit-for-bit repeatable parameter gradients. Gemma's (1 + w) RMSNorm the same way, and the
// per-head q/k norm of Qwen3 and Gemma 3 (a reshape to [B, T, H, D] around rmsNorm).
// Everything runs once per kernel variant (serial rows and workgroup rows, forced on the context).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceNormVariant, NORM_VARIANTS, normForward, normParamGrad, paramChunkPlan } from '../../kernels/norm';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray, relativeError } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { add, reshape } from './elementwiseOps';
import { layerNorm, rmsNorm } from './norm';

// ---- float64 references -------------------------------------------------------------------------

/** y [R, C] = (x − μ)/√(var + eps)·w + b per row, var biased (torch LayerNorm). */
function layerNormRef(x: Float64Array, w: Float64Array, b: Float64Array, C: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c]!;
    mean /= C;
    let variance = 0;
    for (let c = 0; c < C; c++) variance += (x[r * C + c]! - mean) ** 2;
    variance /= C;
    const rstd = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c]! - mean) * rstd * w[c]! + b[c]!;
  }
  return y;
}

/** y [R, C] = x/√(mean(x²) + eps)·(offset + w) per row (HF LlamaRMSNorm; Gemma3RMSNorm with offset 1). */
function rmsNormRef(x: Float64Array, w: Float64Array, C: number, eps: number, offset = 0): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let ms = 0;
    for (let c = 0; c < C; c++) ms += x[r * C + c]! ** 2;
    const rstd = 1 / Math.sqrt(ms / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = x[r * C + c]! * rstd * (offset + w[c]!);
  }
  return y;
}

const LAYER_EPS = 1e-5; // GPT-2
const RMS_EPS = 1e-6; // Llama

// [leading dims..., C]
const SHAPES: number[][] = [
  [1, 1],
  [7, 1],
  [1, 7],
  [7, 33],
  [33, 7],
  [2, 3, 33],
  [3, 300], // C wider than the 256-invocation workgroup
  [150, 5], // > 64 rows: parameter gradients take the chunked two-pass path
];

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const lastDim = (shape: readonly number[]) => shape[shape.length - 1]!;
// Weights around 1 (as trained norms are) and a small bias, so no output is dominated by b.
const weightData = (C: number, seed: number) => Float32Array.from(randomArray(C, seed, 0.5), (v) => 1 + v);

function layerCase(shape: number[]) {
  const C = lastDim(shape);
  return {
    inputs: [
      { name: 'x', shape, data: randomArray(size(shape), size(shape) + 1, 2) },
      { name: 'weight', shape: [C], data: weightData(C, C + 2) },
      { name: 'bias', shape: [C], data: randomArray(C, C + 3, 0.1) },
    ],
    gpu: (g: Graph, [x, w, b]: Tensor[]) => layerNorm(g, x!, w!, b!, LAYER_EPS),
    cpu: ([x, w, b]: Float64Array[]) => layerNormRef(x!, w!, b!, C, LAYER_EPS),
  };
}

// With C = 1, y = x/√(x² + eps)·w is nearly flat (dy/dx = eps·w/(x² + eps)^1.5 ≈ 1e-5 for eps = 1e-6):
// the f32 backward, rstd·g·(1 − x̂²), then cancels to a few ulps of rstd·g, fine in absolute terms
// but not relative to so small a gradient. A large eps makes that case a real test.
function rmsCase(shape: number[], eps = lastDim(shape) === 1 ? 0.25 : RMS_EPS) {
  const C = lastDim(shape);
  return {
    inputs: [
      { name: 'x', shape, data: randomArray(size(shape), size(shape) + 4, 2) },
      { name: 'weight', shape: [C], data: weightData(C, C + 5) },
    ],
    gpu: (g: Graph, [x, w]: Tensor[]) => rmsNorm(g, x!, w!, eps),
    cpu: ([x, w]: Float64Array[]) => rmsNormRef(x!, w!, C, eps),
  };
}

const context = testContext();

describe.each(NORM_VARIANTS)('%s variant', (variant) => {
  beforeAll(async () => forceNormVariant(await context, variant));
  afterAll(async () => forceNormVariant(await context, undefined));

  describe('layerNorm', () => {
    it.each(SHAPES.map((s) => [s]))('matches float64 and finite differences on %j', async (shape) => {
      const ctx = await testContext();
      const result = await gradcheck(ctx, { ...layerCase(shape), samples: 32 });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(Object.keys(result.gradErrors).sort()).toEqual(['bias', 'weight', 'x']);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    });

    it('works on rows of C = 4096', async () => {
      const ctx = await testContext();
      const result = await gradcheck(ctx, { ...layerCase([3, 4096]), samples: 32 });
      expect(result.forwardError).toBeLessThan(1e-5);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    });

    it('works on rows of C = 1 (y = bias, dx = 0)', async () => {
      const ctx = await testContext();
      const g = new Graph(ctx);
      const x = Tensor.leaf(ctx.uploadF32([3, -2, 0.5], [3, 1]), true, 'x');
      const w = Tensor.leaf(ctx.uploadF32([2], [1]), true, 'w');
      const b = Tensor.leaf(ctx.uploadF32([0.25], [1]), true, 'b');
      const y = layerNorm(g, x, w, b, LAYER_EPS);
      g.backward(y, ctx.uploadF32([1, 2, 3], [3, 1]));
      expect(Array.from(await ctx.read(y.data))).toEqual([0.25, 0.25, 0.25]);
      expect(Array.from(await ctx.read(x.grad!))).toEqual([0, 0, 0]);
      expect(Array.from(await ctx.read(w.grad!))).toEqual([0]);
      expect(Array.from(await ctx.read(b.grad!))).toEqual([6]);
      ctx.release(x.data, w.data, b.data, x.grad, w.grad, b.grad);
      g.destroy();
    });

    it('accumulates into existing gradients (the same weights used twice)', async () => {
      const ctx = await testContext();
      for (const shape of [
        [7, 33],
        [150, 5],
      ]) {
        const one = layerCase(shape);
        const result = await gradcheck(ctx, {
          inputs: one.inputs,
          gpu: (g, t) => add(g, one.gpu(g, t), one.gpu(g, t)),
          cpu: (t) => one.cpu(t).map((v) => 2 * v),
        });
        expect(result.forwardError, `[${shape}]`).toBeLessThan(1e-5);
        for (const [name, error] of Object.entries(result.gradErrors)) expect(error, `${name} [${shape}]`).toBeLessThan(1e-4);
      }
    });

    it('runs without a graph recording gradients', async () => {
      const ctx = await testContext();
      const shape = [5, 33];
      const { inputs, cpu } = layerCase(shape);
      const g = new Graph(ctx, false);
      const tensors = inputs.map((i) => Tensor.leaf(ctx.uploadF32(i.data, i.shape), true, i.name));
      const live = ctx.stats().liveBytes;
      const y = layerNorm(g, tensors[0]!, tensors[1]!, tensors[2]!, LAYER_EPS);
      expect(y.requiresGrad).toBe(false);
      // Only the output stays allocated (the stats buffer went back to the pool).
      expect(ctx.stats().liveBytes - live).toBe(y.data.entry.sizeClass);
      const want = cpu(inputs.map((i) => Float64Array.from(i.data)));
      expect(relativeError(await ctx.read(y.data), want)).toBeLessThan(1e-5);
      ctx.release(...tensors.map((t) => t.data));
      g.destroy();
    });
  });

  describe('rmsNorm', () => {
    it.each(SHAPES.map((s) => [s]))('matches float64 and finite differences on %j', async (shape) => {
      const ctx = await testContext();
      const result = await gradcheck(ctx, { ...rmsCase(shape), samples: 32 });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(Object.keys(result.gradErrors).sort()).toEqual(['weight', 'x']);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    });

    it('works on rows of C = 4096 and C = 1', async () => {
      const ctx = await testContext();
      for (const shape of [
        [3, 4096],
        [5, 1],
      ]) {
        const result = await gradcheck(ctx, { ...rmsCase(shape), samples: 32 });
        expect(result.forwardError, `[${shape}]`).toBeLessThan(1e-5);
        for (const [name, error] of Object.entries(result.gradErrors)) expect(error, `${name} [${shape}]`).toBeLessThan(1e-4);
      }
    });

    it('accumulates into existing gradients (the same weight used twice)', async () => {
      const ctx = await testContext();
      const one = rmsCase([150, 5]);
      const result = await gradcheck(ctx, {
        inputs: one.inputs,
        gpu: (g, t) => add(g, one.gpu(g, t), one.gpu(g, t)),
        cpu: (t) => one.cpu(t).map((v) => 2 * v),
      });
      expect(result.forwardError).toBeLessThan(1e-5);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    });
  });

  // Gemma stores its norm weights as offsets from one: centred on 0 rather than 1.
  function gemmaRmsCase(shape: number[]) {
    const C = lastDim(shape);
    return {
      inputs: [
        { name: 'x', shape, data: randomArray(size(shape), size(shape) + 6, 2) },
        { name: 'weight', shape: [C], data: randomArray(C, C + 7, 0.5) },
      ],
      gpu: (g: Graph, [x, w]: Tensor[]) => rmsNorm(g, x!, w!, RMS_EPS, { weightOffset: 1 }),
      cpu: ([x, w]: Float64Array[]) => rmsNormRef(x!, w!, C, RMS_EPS, 1),
    };
  }

  describe('rmsNorm with weight offset 1 (Gemma)', () => {
    it.each([[[7, 33]], [[2, 3, 33]], [[150, 5]], [[3, 300]]])('matches float64 and finite differences on %j', async (shape) => {
      const ctx = await testContext();
      const result = await gradcheck(ctx, { ...gemmaRmsCase(shape), samples: 32 });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(Object.keys(result.gradErrors).sort()).toEqual(['weight', 'x']);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    });

    it('equals the plain rmsNorm with weight 1 + w', async () => {
      const ctx = await testContext();
      const shape = [4, 9];
      const { inputs } = gemmaRmsCase(shape);
      const g = new Graph(ctx, false);
      const x = Tensor.leaf(ctx.uploadF32(inputs[0]!.data, shape), false, 'x');
      const w = Tensor.leaf(ctx.uploadF32(inputs[1]!.data, [9]), false, 'w');
      const w1 = Tensor.leaf(
        ctx.uploadF32(
          inputs[1]!.data.map((v) => 1 + v),
          [9],
        ),
        false,
        'w1',
      );
      const a = await ctx.read(rmsNorm(g, x, w, RMS_EPS, { weightOffset: 1 }).data);
      const b = await ctx.read(rmsNorm(g, x, w1, RMS_EPS).data);
      expect(Array.from(a)).toEqual(Array.from(b));
      g.destroy();
      ctx.release(x.data, w.data, w1.data);
    });
  });

  describe('per-head rmsNorm (Qwen3 / Gemma 3 q_norm, k_norm)', () => {
    // q [B, T, H·D] normalised over each head's D entries with one weight [D] shared by the heads.
    for (const weightOffset of [0, 1] as const) {
      it(`matches float64 and finite differences through a reshape (weight offset ${weightOffset})`, async () => {
        const ctx = await testContext();
        const [B, T, H, D] = [2, 3, 4, 6];
        const result = await gradcheck(ctx, {
          inputs: [
            { name: 'q', shape: [B, T, H * D], data: randomArray(B * T * H * D, 21, 2) },
            { name: 'weight', shape: [D], data: Float32Array.from(randomArray(D, 22, 0.5), (v) => v + 1 - weightOffset) },
          ],
          gpu: (g, [q, w]) => reshape(g, rmsNorm(g, reshape(g, q!, [B, T, H, D]), w!, RMS_EPS, { weightOffset }), [B, T, H * D]),
          cpu: ([q, w]) => rmsNormRef(q!, w!, D, RMS_EPS, weightOffset),
          samples: 32,
        });
        expect(result.forwardError).toBeLessThan(1e-5);
        for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
      });
    }
  });

  describe('norm parameter gradients', () => {
    it('are bit-for-bit repeatable and match float64 on many rows', async () => {
      const ctx = await testContext();
      const [R, C] = [5000, 3]; // workgroup: 79 chunks of 64 rows; serial: 2 of 4096
      expect(paramChunkPlan(R, variant)).toEqual(variant === 'serial' ? { chunkRows: 4096, chunks: 2 } : { chunkRows: 64, chunks: 79 });
      const xData = randomArray(R * C, 11, 2);
      const dyData = randomArray(R * C, 12);
      const x = ctx.uploadF32(xData, [R, C]);
      const dy = ctx.uploadF32(dyData, [R, C]);
      const w = ctx.uploadF32(new Float32Array(C).fill(1), [C]);
      const stats = ctx.empty([R, 2]);
      ctx.release(normForward(ctx, 'rms', x, w, undefined, RMS_EPS, stats));
      const runs = [];
      for (let i = 0; i < 2; i++) {
        const dw = normParamGrad(ctx, 'weight', x, stats, dy);
        const db = normParamGrad(ctx, 'bias', x, stats, dy);
        runs.push([await ctx.read(dw), await ctx.read(db)]);
        ctx.release(dw, db);
      }
      expect(Array.from(runs[1]![0]!)).toEqual(Array.from(runs[0]![0]!));
      expect(Array.from(runs[1]![1]!)).toEqual(Array.from(runs[0]![1]!));
      const wantW = new Float64Array(C);
      const wantB = new Float64Array(C);
      for (let r = 0; r < R; r++) {
        let ms = 0;
        for (let c = 0; c < C; c++) ms += xData[r * C + c]! ** 2;
        const rstd = 1 / Math.sqrt(ms / C + RMS_EPS);
        for (let c = 0; c < C; c++) {
          wantW[c]! += dyData[r * C + c]! * xData[r * C + c]! * rstd;
          wantB[c]! += dyData[r * C + c]!;
        }
      }
      // Sums of 5000 terms of both signs: compare against Σ|terms|-scale, not the (smaller) result.
      expect(relativeError(runs[0]![0]!, wantW)).toBeLessThan(1e-4);
      expect(relativeError(runs[0]![1]!, wantB)).toBeLessThan(1e-4);
      ctx.release(x, dy, w, stats);
    });

    it('rejects mismatched shapes with the kernel and shapes in the message', async () => {
      const ctx = await testContext();
      const g = new Graph(ctx);
      const x = Tensor.leaf(ctx.uploadF32(new Float32Array(12), [3, 4]), true, 'x');
      const w = Tensor.leaf(ctx.uploadF32(new Float32Array(5), [5]), true, 'w');
      expect(() => rmsNorm(g, x, w, RMS_EPS)).toThrow(/weight must be \[4\].*rmsNorm.*x \[3,4\]/);
      ctx.release(x.data, w.data);
      g.destroy();
    });
  });
});
