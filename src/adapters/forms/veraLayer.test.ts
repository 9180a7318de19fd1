// VeRA's form against a float64 reference that slices the shared projections as PEFT does
// (A[:, :in], B[:out, :]) and builds ΔW = diag(b) B_sl diag(d) A_sl: forward and finite-difference
// gradients of x, d and b for a layer narrower than the projections in both directions and for
// one of their full size; the merged weight (now and at init) against the same reference; the
// slices' sharing (one A copy per width, B views).

import { describe, expect, it } from 'vitest';
import { DenseLinear } from '../../models/linearLayer';
import { Graph } from '../../tensor/graph';
import { Tensor } from '../../tensor/tensor';
import { readTensor } from '../../tensor/values';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { linearRef, randomArray, relativeError } from '../../test/reference';
import { VeraLayer, VeraProjections } from './veraLayer';

const [R, IN_MAX, OUT_MAX] = [3, 9, 7];

/** W + diag(b) B[:out] diag(d) A[:, :in] in float64. */
function mergedRef(
  W: ArrayLike<number>,
  A: ArrayLike<number>,
  Bm: ArrayLike<number>,
  d: ArrayLike<number>,
  b: ArrayLike<number>,
  out: number,
  inF: number,
): Float64Array {
  const M = Float64Array.from(W);
  for (let i = 0; i < out; i++)
    for (let k = 0; k < R; k++) for (let j = 0; j < inF; j++) M[i * inF + j]! += b[i]! * Bm[i * R + k]! * d[k]! * A[k * IN_MAX + j]!;
  return M;
}

describe('VeraLayer', () => {
  for (const [out, inF] of [
    [5, 6],
    [OUT_MAX, IN_MAX],
  ] as const) {
    it(`forward and gradients of x, d, b match float64 and finite differences (layer [${out}, ${inF}] on projections [${R}, ${IN_MAX}] / [${OUT_MAX}, ${R}])`, async () => {
      const ctx = await testContext();
      const N = 4;
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'x', shape: [N, inF] },
          { name: 'W', shape: [out, inF], requiresGrad: false },
          { name: 'bias', shape: [out], requiresGrad: false },
          { name: 'A', shape: [R, IN_MAX], requiresGrad: false },
          { name: 'B', shape: [OUT_MAX, R], requiresGrad: false },
          { name: 'd', shape: [R] },
          { name: 'b', shape: [out] },
        ],
        gpu: (g, [x, W, bias, A, B, d, b]) => new VeraLayer('t', new DenseLinear('t', W!, bias), new VeraProjections(A!, B!), ctx, d!, b!).forward(g, x!),
        cpu: ([x, W, bias, A, B, d, b]) => linearRef(x!, mergedRef(W!, A!, B!, d!, b!, out, inF), bias, N, inF, out),
      });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(Object.keys(result.gradErrors).sort()).toEqual(['b', 'd', 'x']);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    });
  }

  it('merges as diag(b) B[:out] diag(d) A[:, :in] now and at init; layers of one width share one copy of A, B slices are views', async () => {
    const ctx = await testContext();
    const [out, inF] = [5, 6];
    const leaf = (data: Float32Array, shape: number[], grad = false) => Tensor.leaf(ctx.uploadF32(data, shape), grad, 't');
    const [w, a, bm] = [randomArray(out * inF, 1), randomArray(R * IN_MAX, 2), randomArray(OUT_MAX * R, 3)];
    const projections = new VeraProjections(leaf(a, [R, IN_MAX]), leaf(bm, [OUT_MAX, R]));
    const [d0, b0] = [new Float32Array(R).fill(0.1), new Float32Array(out)];
    const layer = new VeraLayer('t', new DenseLinear('t', leaf(w, [out, inF])), projections, ctx, leaf(d0, [R], true), leaf(b0, [out], true));
    await layer.snapshot(ctx);
    const [d1, b1] = [randomArray(R, 4), randomArray(out, 5)];
    ctx.write(layer.d.data, d1);
    ctx.write(layer.b.data, b1);
    const now = layer.effectiveWeight(ctx, 'now');
    expect(relativeError(await readTensor(ctx, now.tensor), mergedRef(w, a, bm, d1, b1, out, inF))).toBeLessThan(1e-6);
    const init = layer.effectiveWeight(ctx, 'init');
    expect(Array.from(await readTensor(ctx, init.tensor))).toEqual(Array.from(w)); // b = 0: W exactly
    ctx.release(now.tensor.data, init.tensor.data);
    const twin = new VeraLayer('u', new DenseLinear('u', leaf(w, [out, inF])), projections, ctx, leaf(d0, [R], true), leaf(b0, [out], true));
    expect(twin.A).toBe(layer.A);
    expect(twin.B.data.buffer).toBe(projections.B.data.buffer);
    expect(projections.bytes).toBe(4 * (R * IN_MAX + OUT_MAX * R + R * inF));
    // Same merge through the forward pass: x · W_effᵀ.
    const g = new Graph(ctx, false);
    const x = leaf(randomArray(2 * inF, 6), [2, inF]);
    const y = await readTensor(ctx, layer.forward(g, x));
    expect(relativeError(y, linearRef(await readTensor(ctx, x), mergedRef(w, a, bm, d1, b1, out, inF), undefined, 2, inF, out))).toBeLessThan(1e-5);
    g.destroy();
    projections.release(ctx);
  });
});
