// Tests of the sparse-update linear op (SHiRA's form) against a float64 reference that builds
// W + ΔW densely: forward and finite-difference gradients of x, values and bias (several shapes,
// leading batch dimensions, more tokens than a workgroup), accumulation when used twice, the
// merged weight equals W off the mask bit for bit, zero values reproduce plain linear exactly,
// and shape/frozen-weight errors.

import { describe, expect, it } from 'vitest';
import { randomLeaf, testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { linearRef, randomArray, relativeError, rng } from '../../test/reference';
import { sparseGradValues } from '../../kernels/sparseDelta';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { add } from './elementwiseOps';
import { linear } from './linear';
import { mergedSparseDelta, sparseDeltaLinear } from './sparseDeltaLinear';

/** k distinct flat positions in [0, total), ascending. */
function positions(total: number, k: number, seed: number): Float32Array {
  const next = rng(seed);
  const chosen = new Set<number>();
  while (chosen.size < k) chosen.add(Math.floor(next() * total));
  return Float32Array.from([...chosen].sort((a, b) => a - b));
}

/** y = x (W + ΔW)ᵀ (+ b) in float64. */
function reference(
  x: Float64Array,
  W: Float64Array,
  values: Float64Array,
  idx: Float64Array,
  b: Float64Array | undefined,
  N: number,
  inF: number,
  outF: number,
): Float64Array {
  const M = Float64Array.from(W);
  for (let t = 0; t < idx.length; t++) M[idx[t]!]! += values[t]!;
  return linearRef(x, M, b, N, inF, outF);
}

describe('sparseDeltaLinear', () => {
  for (const [outF, inF, k, withBias] of [
    [5, 7, 9, true],
    [16, 33, 40, false],
    [24, 48, 300, true],
  ] as const) {
    it(`forward and backward match float64 and finite differences (N=5, out=${outF}, in=${inF}, k=${k}${withBias ? ', bias' : ''})`, async () => {
      const ctx = await testContext();
      const N = 5;
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'x', shape: [N, inF] },
          { name: 'W', shape: [outF, inF], requiresGrad: false },
          { name: 'values', shape: [k] },
          { name: 'idx', shape: [k], data: positions(outF * inF, k, outF + inF), dtype: 'u32', requiresGrad: false },
          ...(withBias ? [{ name: 'b', shape: [outF] }] : []),
        ],
        gpu: (g, [x, W, values, idx, b]) => sparseDeltaLinear(g, x!, W!, values!, idx!, b),
        cpu: ([x, W, values, idx, b]) => reference(x!, W!, values!, idx!, b, N, inF, outF),
      });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(Object.keys(result.gradErrors).sort()).toEqual(withBias ? ['b', 'values', 'x'] : ['values', 'x']);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    });
  }

  it('handles leading batch dimensions, more tokens and entries than one workgroup, and accumulates when used twice', async () => {
    const ctx = await testContext();
    const [B, T, inF, outF, k] = [2, 19, 33, 32, 280];
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [B, T, inF] },
        { name: 'W', shape: [outF, inF], requiresGrad: false },
        { name: 'values', shape: [k] },
        { name: 'idx', shape: [k], data: positions(outF * inF, k, 3), dtype: 'u32', requiresGrad: false },
        { name: 'b', shape: [outF] },
      ],
      gpu: (g, [x, W, v, idx, b]) => add(g, sparseDeltaLinear(g, x!, W!, v!, idx!, b), sparseDeltaLinear(g, x!, W!, v!, idx!, b)),
      cpu: ([x, W, v, idx, b]) => reference(x!, W!, v!, idx!, b, B * T, inF, outF).map((y) => 2 * y),
      samples: 40,
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(Object.keys(result.gradErrors).sort()).toEqual(['b', 'values', 'x']);
    for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
  });

  it('zero values give plain linear exactly; the merge is W off the mask bit for bit and W + v on it', async () => {
    const ctx = await testContext();
    const [N, inF, outF, k] = [6, 20, 12, 30];
    const w = randomArray(outF * inF, 4);
    const idx = positions(outF * inF, k, 5);
    const upload = (data: ArrayLike<number>, shape: number[], dtype: 'f32' | 'u32' = 'f32') =>
      Tensor.leaf(dtype === 'f32' ? ctx.uploadF32(data, shape) : ctx.upload(Uint32Array.from(data), shape, 'u32'), false, 't');
    const x = upload(randomArray(N * inF, 6), [N, inF]);
    const W = upload(w, [outF, inF]);
    const indices = upload(idx, [k], 'u32');
    const zeros = upload(new Float32Array(k), [k]);
    const values = upload(randomArray(k, 7), [k]);
    const g = new Graph(ctx, false);
    const plain = await ctx.read(linear(g, x, W).data);
    const withZeros = await ctx.read(sparseDeltaLinear(g, x, W, zeros, indices).data);
    expect(Array.from(withZeros)).toEqual(Array.from(plain));
    const merged = mergedSparseDelta(ctx, W, values, indices, 'merged');
    const m = await ctx.read(merged.data);
    const v = await ctx.read(values.data);
    const onMask = new Map(Array.from(idx, (p, t) => [p, t]));
    for (let p = 0; p < w.length; p++) {
      const t = onMask.get(p);
      expect(m[p], `entry ${p}`).toBe(t === undefined ? w[p] : Math.fround(w[p]! + v[t]!));
    }
    const viaMerged = await ctx.read(linear(g, x, merged).data);
    const viaOp = await ctx.read(sparseDeltaLinear(g, x, W, values, indices).data);
    expect(relativeError(viaOp, viaMerged)).toBeLessThan(1e-6);
    g.destroy();
    ctx.release(x.data, W.data, indices.data, zeros.data, values.data, merged.data);
  });

  it('sparseGradValues adds into an existing gradient and skips out-of-range indices', async () => {
    const ctx = await testContext();
    const [N, rows, cols] = [3, 4, 5];
    const xs = randomArray(N * cols, 1);
    const gs = randomArray(N * rows, 2);
    const idx = [0, 7, 19, 20, 1000];
    const x = ctx.uploadF32(xs, [N, cols]);
    const G = ctx.uploadF32(gs, [N, rows]);
    const ids = ctx.upload(Uint32Array.from(idx), [idx.length], 'u32');
    const into = ctx.uploadF32([1, 1, 1, 1, 1], [idx.length]);
    const got = await ctx.read(sparseGradValues(ctx, x, G, ids, rows, { into, accumulate: true, s: 2 }));
    idx.forEach((p, t) => {
      let d = 0;
      if (p < rows * cols) for (let n = 0; n < N; n++) d += gs[n * rows + Math.floor(p / cols)]! * xs[n * cols + (p % cols)]!;
      expect(got[t]).toBeCloseTo(1 + 2 * d, 5);
    });
    ctx.release(x, G, ids, into);
  });

  it('rejects bad shapes, trainable W and float indices', async () => {
    const ctx = await testContext();
    const g = new Graph(ctx);
    const leaf = (shape: number[], requiresGrad = true) => randomLeaf(ctx, shape, requiresGrad);
    const idx = Tensor.leaf(ctx.upload(Uint32Array.from([0, 3]), [2], 'u32'), false, 'idx');
    const x = leaf([2, 8]);
    expect(() => sparseDeltaLinear(g, x, leaf([4, 8]), leaf([2]), idx)).toThrow(/frozen/);
    expect(() => sparseDeltaLinear(g, x, leaf([4, 8], false), leaf([3]), idx)).toThrow(/must both be \[k\]/);
    expect(() => sparseDeltaLinear(g, x, leaf([4, 8], false), leaf([2]), leaf([2], false))).toThrow(/u32/);
    expect(() => sparseDeltaLinear(g, leaf([2, 7]), leaf([4, 8], false), leaf([2]), idx)).toThrow(/does not end in 8/);
    g.destroy();
  });
});
