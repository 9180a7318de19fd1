// Tests of the crossEntropy op (shaders/cross_entropy.wgsl) against a float64 reference: odd
// shapes with ignored rows, [B, T, V] input, V = 50257 (GPT-2), logits of ±80 (stability), all rows
// ignored, out-of-range targets, the count kept on the GPU, repeatability, and the row-block
// kernels (lmHeadLoss's) giving bit-identical results to the whole-matrix ones. Everything runs
// once per variant of the reductions (serial and workgroup, forced on the context).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CROSS_ENTROPY_VARIANTS,
  forceCrossEntropyVariant,
  crossEntropyBackwardInPlace,
  crossEntropyBackwardInto,
  crossEntropyForwardInto,
  crossEntropyMeanInto,
  crossEntropyRowsInto,
  crossEntropySavedSize,
} from '../../kernels/crossEntropy';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray, rng } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { crossEntropy } from './crossEntropy';

// float64 reference: mean over rows with 0 ≤ target < V of logsumexp(x[n]) − x[n, target]; 0 if none.
function crossEntropyRef(logits: ArrayLike<number>, targets: ArrayLike<number>, V: number): Float64Array {
  const N = targets.length;
  let sum = 0;
  let count = 0;
  for (let n = 0; n < N; n++) {
    const t = targets[n]!;
    if (!(t >= 0 && t < V)) continue;
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, logits[n * V + v]!);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[n * V + v]! - m);
    sum += m + Math.log(s) - logits[n * V + t]!;
    count++;
  }
  return Float64Array.of(count > 0 ? sum / count : 0);
}

/** Targets in [0, V), with every `ignoreEvery`-th row set to −100. */
function randomTargets(N: number, V: number, seed: number, ignoreEvery = 0): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: N }, (_, n) => (ignoreEvery > 0 && n % ignoreEvery === ignoreEvery - 1 ? -100 : Math.floor(next() * V)));
}

async function check(shape: readonly number[], targets: Float32Array, options: { scale?: number; samples?: number } = {}) {
  const ctx = await testContext();
  const V = shape[shape.length - 1]!;
  const size = shape.reduce((a, b) => a * b, 1);
  return gradcheck(ctx, {
    inputs: [
      { name: 'logits', shape, data: randomArray(size, size + V, options.scale ?? 1) },
      { name: 'targets', shape: shape.slice(0, -1), data: targets, dtype: 'i32', requiresGrad: false },
    ],
    gpu: (g, [x, t]) => crossEntropy(g, x!, t!),
    cpu: ([x, t]) => crossEntropyRef(x!, t!, V),
    samples: options.samples,
  });
}

const context = testContext();

describe.each(CROSS_ENTROPY_VARIANTS)('crossEntropy (%s variant)', (variant) => {
  beforeAll(async () => forceCrossEntropyVariant(await context, variant));
  afterAll(async () => forceCrossEntropyVariant(await context, undefined));

  // f32 exp/log (SwiftShader's are accurate to a few ulp) bound the forward at ~1e-6 relative.
  for (const [N, V, ignoreEvery] of [
    [1, 1, 0],
    [1, 7, 0],
    [7, 33, 3],
    [33, 7, 4],
    [3, 300, 2], // V wider than the 256-wide workgroup
  ] as const) {
    it(`forward and backward match float64 and finite differences (N=${N}, V=${V}, ignore every ${ignoreEvery || 'none'})`, async () => {
      const result = await check([N, V], randomTargets(N, V, N * 31 + V, ignoreEvery), { samples: 64 });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(Object.keys(result.gradErrors)).toEqual(['logits']);
      expect(result.gradErrors.logits).toBeLessThan(1e-4);
    });
  }

  it('takes [B, T, V] logits and [B, T] targets', async () => {
    const result = await check([2, 3, 5], randomTargets(6, 5, 9, 4));
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.logits).toBeLessThan(1e-4);
  });

  it('handles V = 50257 (one workgroup looping over the row)', async () => {
    const V = 50257;
    const targets = Float32Array.of(V - 1, 12345);
    const result = await check([2, V], targets, { samples: 48 });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.logits).toBeLessThan(1e-4);
  });

  it('is stable for logits of ±80', async () => {
    const result = await check([7, 33], randomTargets(7, 33, 5, 3), { scale: 80, samples: 64 });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.logits).toBeLessThan(1e-4);
  });

  it('gives loss 0 and gradient 0 when every row is ignored', async () => {
    const ctx = await testContext();
    const [N, V] = [5, 7];
    const g = new Graph(ctx);
    const logits = Tensor.leaf(ctx.uploadF32(randomArray(N * V, 3), [N, V]), true, 'logits');
    const targets = Tensor.leaf(
      ctx.upload(
        Int32Array.from({ length: N }, () => -100),
        [N],
        'i32',
      ),
      false,
      'targets',
    );
    const loss = crossEntropy(g, logits, targets);
    expect(Array.from(await ctx.read(loss.data))).toEqual([0]);
    g.backward(loss);
    expect(Array.from(await ctx.read(logits.grad!))).toEqual(new Array(N * V).fill(0));
    ctx.release(logits.data, logits.grad, targets.data);
    g.destroy();
  });

  it('treats targets outside [0, V) as ignored, counts on the GPU, and zeroes ignored rows of the gradient', async () => {
    const ctx = await testContext();
    const [N, V] = [6, 4];
    const targetValues = Float32Array.of(0, -100, 3, 4, -1, 1e6); // rows 0 and 2 counted
    const result = await check([N, V], targetValues);
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.logits).toBeLessThan(1e-4);

    const logits = ctx.uploadF32(randomArray(N * V, 8), [N, V]);
    const targets = ctx.upload(Int32Array.from(targetValues), [N], 'i32');
    const loss = ctx.empty([1]);
    const saved = ctx.empty([crossEntropySavedSize(N)]);
    crossEntropyForwardInto(ctx, logits, targets, loss, saved);
    expect((await ctx.read(saved))[3 * N]).toBe(2);

    const g = new Graph(ctx);
    const x = Tensor.leaf(logits, true, 'logits');
    g.backward(crossEntropy(g, x, Tensor.leaf(targets, false, 'targets')));
    const grad = await ctx.read(x.grad!);
    for (const n of [1, 3, 4, 5]) expect(Array.from(grad.subarray(n * V, (n + 1) * V)), `row ${n}`).toEqual([0, 0, 0, 0]);
    for (const n of [0, 2]) expect(Math.abs(grad.subarray(n * V, (n + 1) * V).reduce((a, b) => a + b, 0))).toBeLessThan(1e-6); // rows sum to 0
    ctx.release(logits, targets, loss, saved, x.grad);
    g.destroy();
  });

  it('gives bit-identical results on repeated runs', async () => {
    const ctx = await testContext();
    const [N, V] = [9, 300];
    const logits = ctx.uploadF32(randomArray(N * V, 21, 5), [N, V]);
    const targets = ctx.upload(Int32Array.from(randomTargets(N, V, 22, 4)), [N], 'i32');
    const runs: number[][] = [];
    for (let r = 0; r < 2; r++) {
      const g = new Graph(ctx);
      const x = Tensor.leaf(logits, true, 'logits');
      const loss = crossEntropy(g, x, Tensor.leaf(targets, false, 'targets'));
      const lossValue = await ctx.read(loss.data);
      g.backward(loss);
      runs.push([...lossValue, ...(await ctx.read(x.grad!))]);
      ctx.release(x.grad);
      g.destroy();
    }
    expect(runs[1]).toEqual(runs[0]);
    ctx.release(logits, targets);
  });

  it('rejects f32 or mis-sized targets', async () => {
    const ctx = await testContext();
    const g = new Graph(ctx);
    const logits = Tensor.leaf(ctx.uploadF32(randomArray(6, 1), [2, 3]), true, 'logits');
    const f32Targets = Tensor.leaf(ctx.uploadF32([0, 1], [2]), false, 'targets');
    expect(() => crossEntropy(g, logits, f32Targets)).toThrow(/targets must be i32/);
    const short = Tensor.leaf(ctx.upload(Int32Array.of(0), [1], 'i32'), false, 'targets');
    expect(() => crossEntropy(g, logits, short)).toThrow(/one entry per row/);
    ctx.release(logits.data, f32Targets.data, short.data);
    g.destroy();
  });

  it('row blocks (forward, mean, in-place backward) give bit-identical results to the whole matrix', async () => {
    const ctx = await testContext();
    const [N, V] = [7, 300];
    const values = randomArray(N * V, 31, 4);
    const logits = ctx.uploadF32(values, [N, V]);
    const targets = ctx.upload(Int32Array.from(randomTargets(N, V, 32, 3)), [N], 'i32');
    const gy = ctx.uploadF32([0.75], [1]);
    const [loss, saved, dlogits] = [ctx.empty([1]), ctx.empty([crossEntropySavedSize(N)]), ctx.empty([N, V])];
    crossEntropyForwardInto(ctx, logits, targets, loss, saved);
    crossEntropyBackwardInto(ctx, logits, targets, saved, gy, dlogits);

    const [blockLoss, blockSaved] = [ctx.empty([1]), ctx.empty([crossEntropySavedSize(N)])];
    const blocks = [
      [0, 3],
      [3, 3],
      [6, 1],
    ] as const;
    const blockData = blocks.map(([row0, rows]) => ctx.uploadF32(values.subarray(row0 * V, (row0 + rows) * V), [rows, V]));
    blocks.forEach(([row0], i) => crossEntropyRowsInto(ctx, blockData[i]!, targets, blockSaved, row0));
    crossEntropyMeanInto(ctx, targets, V, blockLoss, blockSaved);
    blocks.forEach(([row0], i) => crossEntropyBackwardInPlace(ctx, blockData[i]!, targets, blockSaved, gy, row0));

    expect(Array.from(await ctx.read(blockLoss))).toEqual(Array.from(await ctx.read(loss)));
    expect(Array.from(await ctx.read(blockSaved))).toEqual(Array.from(await ctx.read(saved)));
    const whole = await ctx.read(dlogits);
    for (const [i, [row0, rows]] of blocks.entries()) {
      expect(Array.from(await ctx.read(blockData[i]!)), `rows ${row0}..`).toEqual(Array.from(whole.subarray(row0 * V, (row0 + rows) * V)));
    }
    expect(() => crossEntropyRowsInto(ctx, blockData[0]!, targets, blockSaved, 5)).toThrow(/outside the 7 targets/);
    ctx.release(logits, targets, gy, loss, saved, dlogits, blockLoss, blockSaved, ...blockData);
  });
});
