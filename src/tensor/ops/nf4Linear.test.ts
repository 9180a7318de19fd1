// nf4Linear against a float64 linear layer whose weight is the reference dequantization of the
// same NF4 codes (bit-exact to the GPU's): forward, ∂L/∂x and ∂L/∂b by finite differences, with
// and without double quantization, odd sizes and leading batch dimensions; no gradient reaches Q.

import { describe, expect, it } from 'vitest';
import { dequantizeNf4Ref, quantizeNf4Ref } from '../../io/nf4Reference';
import { quantizeNf4, releaseNf4 } from '../../kernels/nf4';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { linearRef, randomArray } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { add } from './elementwiseOps';
import { nf4Linear } from './nf4Linear';

describe('nf4Linear', () => {
  for (const [N, inF, outF, doubleQuant] of [
    [1, 1, 1, false],
    [7, 33, 5, false],
    [12, 8, 100, true],
    [5, 100, 7, true],
  ] as const) {
    it(`forward and backward match float64 and finite differences (N=${N}, in=${inF}, out=${outF}${doubleQuant ? ', double quant' : ''})`, async () => {
      const ctx = await testContext();
      const w = randomArray(outF * inF, 17 + inF, 0.1);
      const deq = dequantizeNf4Ref(quantizeNf4Ref(w, { doubleQuant }));
      const W = ctx.uploadF32(w, [outF, inF]);
      const q = quantizeNf4(ctx, W, { doubleQuant });
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'x', shape: [N, inF] },
          { name: 'b', shape: [outF] },
        ],
        gpu: (g, [x, b]) => nf4Linear(g, x!, q, b),
        cpu: ([x, b]) => linearRef(x!, deq, b, N, inF, outF),
      });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(Object.keys(result.gradErrors).sort()).toEqual(['b', 'x']);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
      releaseNf4(ctx, q);
      ctx.release(W);
    });
  }

  it('handles leading batch dimensions and no bias', async () => {
    const ctx = await testContext();
    const [B, T, inF, outF] = [2, 3, 65, 6];
    const w = randomArray(outF * inF, 3, 0.1);
    const deq = dequantizeNf4Ref(quantizeNf4Ref(w));
    const W = ctx.uploadF32(w, [outF, inF]);
    const q = quantizeNf4(ctx, W);
    const result = await gradcheck(ctx, {
      inputs: [{ name: 'x', shape: [B, T, inF] }],
      gpu: (g, [x]) => nf4Linear(g, x!, q),
      cpu: ([x]) => linearRef(x!, deq, undefined, B * T, inF, outF),
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.x).toBeLessThan(1e-4);
    releaseNf4(ctx, q);
    ctx.release(W);
  });

  it('adds into an existing x gradient when x feeds two layers', async () => {
    const ctx = await testContext();
    const [N, inF, outF] = [3, 10, 4];
    const w = randomArray(outF * inF, 5, 0.1);
    const deq = dequantizeNf4Ref(quantizeNf4Ref(w));
    const W = ctx.uploadF32(w, [outF, inF]);
    const q = quantizeNf4(ctx, W);
    const result = await gradcheck(ctx, {
      inputs: [{ name: 'x', shape: [N, inF] }],
      // y = y1 + y2, both from x: backward gives x a fresh dx from one, then accumulates the other in place.
      gpu: (g, [x]) => add(g, nf4Linear(g, x!, q), nf4Linear(g, x!, q)),
      cpu: ([x]) => linearRef(x!, deq, undefined, N, inF, outF).map((v) => 2 * v),
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.x).toBeLessThan(1e-4);
    releaseNf4(ctx, q);
    ctx.release(W);
  });

  it('sends no gradient anywhere when neither x nor b requires one', async () => {
    const ctx = await testContext();
    const W = ctx.uploadF32(randomArray(12, 1), [3, 4]);
    const q = quantizeNf4(ctx, W);
    const g = new Graph(ctx);
    const x = Tensor.leaf(ctx.uploadF32(randomArray(8, 2), [2, 4]), false, 'x');
    const y = nf4Linear(g, x, q);
    expect(y.requiresGrad).toBe(false);
    expect(y.shape).toEqual([2, 3]);
    expect(() => nf4Linear(g, Tensor.leaf(ctx.uploadF32(randomArray(10, 2), [2, 5]), true, 'bad'), q)).toThrow(/does not end in 4/);
    g.destroy();
    releaseNf4(ctx, q);
    ctx.release(W, x.data);
  });
});
