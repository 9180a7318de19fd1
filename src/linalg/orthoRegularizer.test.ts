import { describe, expect, it } from 'vitest';
import { fill } from '../kernels/elementwise';
import { Tensor } from '../tensor/tensor';
import { testContext } from '../test/gpu';
import { randomArray, relativeError } from '../test/reference';
import { addOrthoGradients, orthoDeviation, ORTHO_EPS } from './orthoRegularizer';

// float64 L_reg for one layer: (‖A Aᵀ − I‖_F + ‖Bᵀ B − I‖_F) / 2, A [r, n], B [m, r]
function regRef(A: Float64Array, B: Float64Array, r: number, n: number, m: number): number {
  const norm = (gram: (a: number, b: number) => number) => {
    let s = 0;
    for (let a = 0; a < r; a++) for (let b = 0; b < r; b++) s += (gram(a, b) - (a === b ? 1 : 0)) ** 2;
    return Math.sqrt(s + ORTHO_EPS);
  };
  const fa = norm((a, b) => {
    let d = 0;
    for (let k = 0; k < n; k++) d += A[a * n + k]! * A[b * n + k]!;
    return d;
  });
  const fb = norm((a, b) => {
    let d = 0;
    for (let k = 0; k < m; k++) d += B[k * r + a]! * B[k * r + b]!;
    return d;
  });
  return (fa + fb) / 2;
}

describe('SORSA orthonormal regulariser', () => {
  for (const [r, n, m] of [
    [1, 7, 5],
    [3, 33, 7],
    [4, 12, 16],
  ] as const) {
    it(`value and gradient match float64 and finite differences (r=${r}, A [${r},${n}], B [${m},${r}])`, async () => {
      const ctx = await testContext();
      const a = randomArray(r * n, 3 + r);
      const b = randomArray(m * r, 5 + r);
      const A = Tensor.leaf(ctx.uploadF32(a, [r, n]), true, 'A');
      const B = Tensor.leaf(ctx.uploadF32(b, [m, r]), true, 'B');
      A.grad = fill(ctx, ctx.empty([r, n]), 0);
      B.grad = fill(ctx, ctx.empty([m, r]), 0);
      const weight = 0.7;
      addOrthoGradients(ctx, [{ A, B }], weight);
      const gA = await ctx.read(A.grad);
      const gB = await ctx.read(B.grad);
      const A64 = Float64Array.from(a);
      const B64 = Float64Array.from(b);
      expect(Math.abs((await orthoDeviation(ctx, [{ A, B }])) - regRef(A64, B64, r, n, m))).toBeLessThan(1e-5 * regRef(A64, B64, r, n, m));
      const h = 1e-6;
      const fd = (x: Float64Array) =>
        Array.from(x, (_, i) => {
          const v = x[i]!;
          x[i] = v + h;
          const plus = regRef(A64, B64, r, n, m);
          x[i] = v - h;
          const minus = regRef(A64, B64, r, n, m);
          x[i] = v;
          return (weight * (plus - minus)) / (2 * h);
        });
      expect(relativeError(gA, fd(A64))).toBeLessThan(1e-4);
      expect(relativeError(gB, fd(B64))).toBeLessThan(1e-4);
      ctx.release(A.data, B.data, A.grad, B.grad);
    });
  }
});
