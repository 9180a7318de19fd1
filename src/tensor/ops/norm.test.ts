// Tests of ops/norm.ts (layerNorm, rmsNorm): GPU forward against float64 references and GPU
// backward (dx, dweight, dbias) against finite differences, on odd shapes (C = 1, 7, 33), rows
// wider than a workgroup (C = 300, 4096), enough rows to take the two-pass parameter-gradient
// path, leading batch dims, accumulation into an existing .grad, no-grad inference, and
// bit-for-bit repeatable parameter gradients. Gemma's (1 + w) RMSNorm the same way, and the
// per-head q/k norm of Qwen3 and Gemma 3 (a reshape to [B, T, H, D] around rmsNorm).
// The fused residual add + norm (addLayerNorm, addRmsNorm): s and norm(s) and the gradients of a,
// b, weight and bias against float64 at rows 1, 7, 33, 100 × widths 1, 7, 33, 100, 576; finite
// differences with s used downstream or not, a or b already holding a gradient, a = b, frozen
// inputs; equality with add followed by the norm; the dispatches it saves.
// Everything runs once per kernel variant (serial rows and workgroup rows, forced on the context).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceNormVariant, NORM_VARIANTS, normForward, normParamGrad, paramChunkPlan } from '../../kernels/norm';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray, relativeError } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { add, mul, reshape } from './elementwiseOps';
import { addLayerNorm, addRmsNorm, layerNorm, rmsNorm, type AddNormResult } from './norm';

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

type FusedKind = { readonly kind: 'layer' | 'rms'; readonly offset: 0 | 1 };
const FUSED_KINDS: readonly FusedKind[] = [
  { kind: 'layer', offset: 0 },
  { kind: 'rms', offset: 0 },
  { kind: 'rms', offset: 1 },
];

/** float64 norm of x [R, C] and its backward for the output gradient dy: y, dx, dw = Σ dy·x̂, db = Σ dy. */
function normWithBackwardRef(
  { kind, offset }: FusedKind,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  dy: ArrayLike<number>,
  C: number,
  eps: number,
): { y: Float64Array; dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const R = x.length / C;
  const y = new Float64Array(R * C);
  const dx = new Float64Array(R * C);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    const at = (c: number) => r * C + c;
    let mean = 0;
    if (kind === 'layer') {
      for (let c = 0; c < C; c++) mean += x[at(c)]!;
      mean /= C;
    }
    let q = 0;
    for (let c = 0; c < C; c++) q += (x[at(c)]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(q / C + eps);
    const xhat = (c: number) => (x[at(c)]! - mean) * rstd;
    let sumG = 0;
    let sumGX = 0;
    for (let c = 0; c < C; c++) {
      const gc = dy[at(c)]! * (w[c]! + offset);
      y[at(c)] = xhat(c) * (w[c]! + offset) + (kind === 'layer' ? b[c]! : 0);
      sumG += gc;
      sumGX += gc * xhat(c);
      dw[c]! += dy[at(c)]! * xhat(c);
      db[c]! += dy[at(c)]!;
    }
    const meanG = kind === 'layer' ? sumG / C : 0;
    for (let c = 0; c < C; c++) dx[at(c)] = rstd * (dy[at(c)]! * (w[c]! + offset) - meanG - (xhat(c) * sumGX) / C);
  }
  return { y, dx, dw, db };
}

/** The fused op of `k` on tensors (bias only for LayerNorm). */
function fusedOp(g: Graph, k: FusedKind, a: Tensor, b: Tensor, w: Tensor, bias: Tensor | undefined, eps: number): AddNormResult {
  return k.kind === 'layer' ? addLayerNorm(g, a, b, w, bias!, eps) : addRmsNorm(g, a, b, w, eps, { weightOffset: k.offset });
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

  describe('residual add fused into the norm (addLayerNorm, addRmsNorm)', () => {
    const label = (k: FusedKind) => `${k.kind}${k.offset ? ' (1 + w)' : ''}`;
    // C = 1 RMS: x̂ = x/√(x² + eps) is flat in x; a large eps keeps dx away from cancellation.
    const epsFor = (k: FusedKind, C: number) => (k.kind === 'layer' ? LAYER_EPS : C === 1 ? 0.25 : RMS_EPS);

    for (const k of FUSED_KINDS) {
      it(`${label(k)}: s, norm(s) and the gradients of a, b, weight, bias match float64 (rows 1–100, widths 1–576)`, async () => {
        const ctx = await testContext();
        for (const R of [1, 7, 33, 100]) {
          for (const C of [1, 7, 33, 100, 576]) {
            const seed = 10 * R + C;
            const aData = Float32Array.from(randomArray(R * C, seed, 2), (v) => v + (k.kind === 'layer' ? 3 : 0));
            const bData = randomArray(R * C, seed + 1);
            const wData = Float32Array.from(randomArray(C, seed + 2, 0.5), (v) => v + 1 - k.offset);
            const biasData = randomArray(C, seed + 3, 0.1);
            const mData = randomArray(R * C, seed + 4);
            const seedData = randomArray(R * C, seed + 5);
            const eps = epsFor(k, C);
            const g = new Graph(ctx);
            const leaf = (data: Float32Array, shape: number[], grad: boolean) => Tensor.leaf(ctx.uploadF32(data, shape), grad, 'leaf');
            const [a, b, w] = [leaf(aData, [R, C], true), leaf(bData, [R, C], true), leaf(wData, [C], true)];
            const bias = k.kind === 'layer' ? leaf(biasData, [C], true) : undefined;
            const m = leaf(mData, [R, C], false);
            const { sum, normed } = fusedOp(g, k, a, b, w, bias, eps);
            // L = Σ seed·(s ⊙ m + norm(s)): ds = seed ⊙ m, dn = seed.
            const out = add(g, mul(g, sum, m), normed);
            const seedGrad = ctx.uploadF32(seedData, [R, C]);
            g.backward(out, seedGrad);
            const s64 = Float64Array.from(aData, (v, i) => v + bData[i]!);
            const want = normWithBackwardRef(k, s64, wData, biasData, seedData, C, eps);
            const wantIn = want.dx.map((v, i) => v + seedData[i]! * mData[i]!);
            const at = `R=${R} C=${C}`;
            expect(relativeError(await ctx.read(sum.data), s64), `s ${at}`).toBeLessThan(1e-7);
            expect(relativeError(await ctx.read(normed.data), want.y), `y ${at}`).toBeLessThan(1e-5);
            expect(relativeError(await ctx.read(a.grad!), wantIn), `da ${at}`).toBeLessThan(2e-5);
            expect(relativeError(await ctx.read(b.grad!), wantIn), `db ${at}`).toBeLessThan(2e-5);
            expect(relativeError(await ctx.read(w.grad!), want.dw), `dweight ${at}`).toBeLessThan(1e-5);
            if (bias) expect(relativeError(await ctx.read(bias.grad!), want.db), `dbias ${at}`).toBeLessThan(1e-5);
            ctx.release(seedGrad, ...[a, b, w, bias, m].flatMap((t) => (t ? [t.data, t.grad] : [])));
            g.destroy();
          }
        }
      });
    }

    // [a, b, weight, (bias), m] inputs for a finite-difference case of shape `shape`.
    function fusedInputs(k: FusedKind, shape: number[]) {
      const C = lastDim(shape);
      return [
        { name: 'a', shape, data: randomArray(size(shape), 31, 2) },
        { name: 'b', shape, data: randomArray(size(shape), 32) },
        { name: 'weight', shape: [C], data: Float32Array.from(randomArray(C, 33, 0.5), (v) => v + 1 - k.offset) },
        ...(k.kind === 'layer' ? [{ name: 'bias', shape: [C], data: randomArray(C, 34, 0.1) }] : []),
        { name: 'm', shape, data: randomArray(size(shape), 35), requiresGrad: false },
      ];
    }
    const splitInputs = (k: FusedKind, t: Tensor[]) =>
      (k.kind === 'layer' ? t : [t[0], t[1], t[2], undefined, t[3]]) as [Tensor, Tensor, Tensor, Tensor | undefined, Tensor];
    const splitRef = (k: FusedKind, t: Float64Array[]) =>
      (k.kind === 'layer' ? t : [t[0], t[1], t[2], new Float64Array(t[2]!.length), t[3]]) as [
        Float64Array,
        Float64Array,
        Float64Array,
        Float64Array,
        Float64Array,
      ];
    const normRef = (k: FusedKind, x: Float64Array, w: Float64Array, b: Float64Array, C: number) =>
      normWithBackwardRef(k, x, w, b, new Float64Array(x.length), C, epsFor(k, C)).y;
    const plus = (x: Float64Array, y: Float64Array) => x.map((v, i) => v + y[i]!);
    const times = (x: Float64Array, y: Float64Array) => x.map((v, i) => v * y[i]!);

    // How the op's outputs reach the loss: which gradients s, a and b hold when its backward runs.
    const USES: readonly {
      name: string;
      gpu: (g: Graph, r: AddNormResult, a: Tensor, b: Tensor, m: Tensor) => Tensor;
      cpu: (s: Float64Array, n: Float64Array, a: Float64Array, b: Float64Array, m: Float64Array) => Float64Array;
    }[] = [
      { name: 's ⊙ m + norm(s)', gpu: (g, r, _a, _b, m) => add(g, mul(g, r.sum, m), r.normed), cpu: (s, n, _a, _b, m) => plus(times(s, m), n) },
      { name: 'norm(s) only (no gradient for s)', gpu: (_g, r) => r.normed, cpu: (_s, n) => n },
      {
        name: 'norm(s) + a ⊙ m (a has a gradient first)',
        gpu: (g, r, a, _b, m) => add(g, r.normed, mul(g, a, m)),
        cpu: (_s, n, a, _b, m) => plus(n, times(a, m)),
      },
      {
        name: 's + norm(s) + a + b (a and b have gradients first)',
        gpu: (g, r, a, b) => add(g, add(g, add(g, r.sum, r.normed), a), b),
        cpu: (s, n, a, b) => plus(plus(plus(s, n), a), b),
      },
    ];

    for (const k of FUSED_KINDS) {
      for (const use of USES) {
        it(`${label(k)}: gradients match finite differences for ${use.name}`, async () => {
          const ctx = await testContext();
          for (const shape of [
            [7, 33],
            [2, 3, 33],
            [150, 5],
          ]) {
            const C = lastDim(shape);
            const result = await gradcheck(ctx, {
              inputs: fusedInputs(k, shape),
              gpu: (g, t) => {
                const [a, b, w, bias, m] = splitInputs(k, t);
                return use.gpu(g, fusedOp(g, k, a, b, w, bias, epsFor(k, C)), a, b, m);
              },
              cpu: (t) => {
                const [a, b, w, bias, m] = splitRef(k, t);
                const s = plus(a, b);
                return use.cpu(s, normRef(k, s, w, bias, C), a, b, m);
              },
              samples: 32,
            });
            expect(result.forwardError, `[${shape}]`).toBeLessThan(1e-5);
            expect(Object.keys(result.gradErrors).sort(), `[${shape}]`).toEqual(k.kind === 'layer' ? ['a', 'b', 'bias', 'weight'] : ['a', 'b', 'weight']);
            for (const [name, error] of Object.entries(result.gradErrors)) expect(error, `${name} [${shape}]`).toBeLessThan(1e-4);
          }
        });
      }
    }

    it('handles s = a + a and frozen a, b (only the weight trains)', async () => {
      const ctx = await testContext();
      const k: FusedKind = { kind: 'rms', offset: 0 };
      const [R, C] = [7, 33];
      for (const uses of [
        [true, false],
        [false, true],
      ] as const) {
        const [twice, frozen] = uses;
        const result = await gradcheck(ctx, {
          inputs: [
            { name: 'x', shape: [R, C], data: randomArray(R * C, 41, 2), requiresGrad: !frozen },
            { name: 'weight', shape: [C], data: Float32Array.from(randomArray(C, 42, 0.5), (v) => v + 1) },
            { name: 'm', shape: [R, C], data: randomArray(R * C, 43), requiresGrad: false },
          ],
          gpu: (g, [x, w, m]) => {
            const r = addRmsNorm(g, x!, twice ? x! : m!, w!, RMS_EPS);
            return add(g, mul(g, r.sum, m!), r.normed);
          },
          cpu: ([x, w, m]) => {
            const s = plus(x!, twice ? x! : m!);
            return plus(times(s, m!), normRef(k, s, w!, new Float64Array(C), C));
          },
          samples: 32,
        });
        expect(result.forwardError).toBeLessThan(1e-5);
        expect(Object.keys(result.gradErrors).sort()).toEqual(frozen ? ['weight'] : ['weight', 'x']);
        for (const [name, error] of Object.entries(result.gradErrors)) expect(error, `${name} twice=${twice}`).toBeLessThan(1e-4);
      }
    });

    // The same step written both ways: L = Σ seed·(s ⊙ m + norm(s)) with s = a + b.
    async function step(k: FusedKind, fused: boolean, R: number, C: number) {
      const ctx = await testContext();
      const g = new Graph(ctx);
      const [a, b] = [1, 2].map((i) => Tensor.leaf(ctx.uploadF32(randomArray(R * C, 50 + i, 2), [R, C]), true, `in${i}`)) as [Tensor, Tensor];
      const w = Tensor.leaf(ctx.uploadF32(weightData(C, 53), [C]), true, 'w');
      const bias = k.kind === 'layer' ? Tensor.leaf(ctx.uploadF32(randomArray(C, 54, 0.1), [C]), true, 'bias') : undefined;
      const m = Tensor.leaf(ctx.uploadF32(randomArray(R * C, 55), [R, C]), false, 'm');
      const eps = epsFor(k, C);
      const start = ctx.counters().dispatches;
      let r: AddNormResult;
      if (fused) {
        r = fusedOp(g, k, a, b, w, bias, eps);
      } else {
        const sum = add(g, a, b);
        r = { sum, normed: k.kind === 'layer' ? layerNorm(g, sum, w, bias!, eps) : rmsNorm(g, sum, w, eps, { weightOffset: k.offset }) };
      }
      const forwardDispatches = ctx.counters().dispatches - start;
      const out = add(g, mul(g, r.sum, m), r.normed);
      const seedGrad = ctx.uploadF32(randomArray(R * C, 56), [R, C]);
      const before = ctx.counters().dispatches;
      g.backward(out, seedGrad);
      const backwardDispatches = ctx.counters().dispatches - before;
      const values = await Promise.all([r.sum.data, r.normed.data, a.grad!, b.grad!, w.grad!, ...(bias ? [bias.grad!] : [])].map((t) => ctx.read(t)));
      ctx.release(seedGrad, ...[a, b, w, bias, m].flatMap((t) => (t ? [t.data, t.grad] : [])));
      g.destroy();
      return { forwardDispatches, backwardDispatches, values };
    }

    for (const k of FUSED_KINDS) {
      it(`${label(k)}: equals add followed by the norm, in 1 forward dispatch instead of 2 and 1 fewer backward dispatch`, async () => {
        for (const [R, C] of [
          [7, 33],
          [33, 100],
        ] as const) {
          const plain = await step(k, false, R, C);
          const fused = await step(k, true, R, C);
          expect(fused.forwardDispatches).toBe(1);
          expect(plain.forwardDispatches).toBe(2);
          // Gone: the copy of ∂L/∂s for b. (Both add the norm's dx into ∂L/∂s in place: a plain
          // norm accumulates into its input's existing gradient too.)
          expect(plain.backwardDispatches - fused.backwardDispatches).toBe(1);
          // s, norm(s), dweight, dbias bit for bit; da, db up to the order of the addition ds + dx
          // (and an FMA the compiler may form from it).
          for (const [i, name] of ['s', 'y', 'da', 'db', 'dweight', 'dbias'].entries()) {
            if (!plain.values[i]) continue;
            if (name === 'da' || name === 'db') expect(relativeError(fused.values[i]!, plain.values[i]!), `${name} [${R},${C}]`).toBeLessThan(1e-6);
            else expect(Array.from(fused.values[i]!), `${name} [${R},${C}]`).toEqual(Array.from(plain.values[i]!));
          }
        }
      });
    }

    it('runs without a graph recording gradients, keeping only s and norm(s)', async () => {
      const ctx = await testContext();
      const [R, C] = [5, 33];
      const g = new Graph(ctx, false);
      const [a, b] = [1, 2].map((i) => Tensor.leaf(ctx.uploadF32(randomArray(R * C, 60 + i), [R, C]), true, `in${i}`)) as [Tensor, Tensor];
      const w = Tensor.leaf(ctx.uploadF32(weightData(C, 63), [C]), true, 'w');
      const live = ctx.stats().liveBytes;
      const { sum, normed } = addRmsNorm(g, a, b, w, RMS_EPS);
      expect(sum.requiresGrad || normed.requiresGrad).toBe(false);
      expect(ctx.stats().liveBytes - live).toBe(sum.data.entry.sizeClass + normed.data.entry.sizeClass);
      ctx.release(a.data, b.data, w.data);
      g.destroy();
    });
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
