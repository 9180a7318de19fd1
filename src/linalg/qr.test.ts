// Tests of linalg/qr.ts (CholeskyQR2 + Gram–Schmidt fallback) against float64 checks of the
// result: ‖QᵀQ − I‖_max and the span residual ‖Y − QQᵀY‖_F/‖Y‖_F on random matrices of odd
// shapes, ill-conditioned ones (cond 1e4 … 1e8, which must take the fallback), and rank-deficient
// ones (zero matrix, repeated columns).

import { describe, expect, it } from 'vitest';
import { GpuError } from '../errors';
import { testContext } from '../test/gpu';
import { orthonormalize, orthonormalizeWithFlag, type QrMethod } from './qr';
import { gaussian, geometric, knownSpectrum, orthogonalityError, projectionResidual } from './testMatrices';

async function run(Ydata: Float32Array, m: number, q: number, method: QrMethod = 'auto') {
  const ctx = await testContext();
  const Y = ctx.uploadF32(Ydata, [m, q]);
  const { Q, flag } = orthonormalizeWithFlag(ctx, Y, { method });
  const [Qd, f] = [await ctx.read(Q), (await ctx.readU32(flag))[0]];
  ctx.release(Y, Q, flag);
  return { orth: orthogonalityError(Qd, m, q), resid: projectionResidual(Ydata, Qd, m, q), flagged: f === 1, Q: Qd };
}

describe('orthonormalize', () => {
  it.each([
    [1, 1],
    [7, 1],
    [7, 7],
    [33, 7],
    [100, 33],
    [257, 16],
    [2000, 40],
  ])('random [%i, %i]: CholeskyQR2 without fallback, QᵀQ = I, span kept', async (m, q) => {
    const Y = Float32Array.from(gaussian(m * q, m * 31 + q));
    const r = await run(Y, m, q);
    expect(r.flagged).toBe(false);
    expect(r.orth).toBeLessThan(2e-6);
    expect(r.resid).toBeLessThan(2e-6);
  });

  it.each([1e2, 1e4, 1e6, 1e8])('ill-conditioned [300, 24], cond %d: QᵀQ = I and span kept', async (cond) => {
    const [m, q] = [300, 24];
    const sigma = geometric(q, 1, cond ** (-1 / (q - 1)));
    const Y = Float32Array.from(knownSpectrum(m, q, sigma, 5).W);
    const r = await run(Y, m, q);
    console.log(`cond ${cond}: flagged ${r.flagged}, orth ${r.orth.toExponential(2)}, resid ${r.resid.toExponential(2)}`);
    if (cond >= 1e6) expect(r.flagged).toBe(true);
    expect(r.orth).toBeLessThan(2e-6);
    expect(r.resid).toBeLessThan(2e-6);
  });

  it('CholeskyQR2 alone flags (and fails) at cond 1e6; forced Gram–Schmidt agrees on a random matrix', async () => {
    const [m, q] = [300, 24];
    const Y = Float32Array.from(knownSpectrum(m, q, geometric(q, 1, 1e-6 ** (1 / (q - 1))), 5).W);
    const chol = await run(Y, m, q, 'cholesky');
    expect(chol.flagged).toBe(true);
    expect(chol.orth < 1e-3).toBe(false); // large or NaN
    const Yr = Float32Array.from(gaussian(100 * 33, 3));
    const gs = await run(Yr, 100, 33, 'gram-schmidt');
    const cq = await run(Yr, 100, 33, 'cholesky');
    expect(gs.orth).toBeLessThan(2e-6);
    // Both are the Q of the same QR (R with positive diagonal): equal up to rounding.
    let diff = 0;
    for (let i = 0; i < gs.Q.length; i++) diff = Math.max(diff, Math.abs(gs.Q[i]! - cq.Q[i]!));
    expect(diff).toBeLessThan(1e-4);
  });

  it('rank-deficient input (zero matrix, repeated columns) still gives orthonormal Q spanning Y', async () => {
    const zero = await run(new Float32Array(50 * 5), 50, 5);
    expect(zero.flagged).toBe(true);
    expect(zero.orth).toBeLessThan(2e-6);
    const [m, q] = [60, 9];
    const Y = Float32Array.from(gaussian(m * q, 11));
    for (let i = 0; i < m; i++) {
      Y[i * q + 4] = Y[i * q + 1]!; // column 4 = column 1
      Y[i * q + 8] = 0; // column 8 = 0
    }
    const r = await run(Y, m, q);
    expect(r.flagged).toBe(true);
    expect(r.orth).toBeLessThan(2e-6);
    expect(r.resid).toBeLessThan(2e-6);
  });

  it('rejects wide matrices', async () => {
    const ctx = await testContext();
    const Y = ctx.empty([3, 5]);
    expect(() => orthonormalize(ctx, Y)).toThrow(GpuError);
    ctx.release(Y);
  });
});
