// Tests of linalg/svd.ts (one-sided Jacobi on the GPU) against float64: singular values of
// matrices with a known spectrum and of random matrices (float64 Jacobi of the same f32 data),
// reconstruction ‖W − UΣVᵀ‖/‖W‖, orthonormality of U and Vᵀ, odd shapes both ways round, both
// sweep methods, `keep`, and rank deficiency.

import { describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { relativeError } from '../test/reference';
import { exactSvd, singularValues, smallSvd, type JacobiMethod } from './svd';
import { gaussian, geometric, knownSpectrum, orthogonalityError, reconstructionError, singularValuesRef } from './testMatrices';

function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
  return t;
}

async function check(Wd: Float32Array, m: number, n: number, method: JacobiMethod = 'auto') {
  const ctx = await testContext();
  const W = ctx.uploadF32(Wd, [m, n]);
  const r = await exactSvd(ctx, W, { method });
  const k = Math.min(m, n);
  expect(r.U.shape).toEqual([m, k]);
  expect(r.S.shape).toEqual([k]);
  expect(r.Vt.shape).toEqual([k, n]);
  const [U, S, Vt] = [await ctx.read(r.U), await ctx.read(r.S), await ctx.read(r.Vt)];
  ctx.release(W, r.U, r.S, r.Vt);
  const ref = singularValuesRef(Wd, m, n);
  return {
    sigmaErr: relativeError(S, ref), // max |Δσ| / σ₁
    recon: reconstructionError(Wd, U, S, Vt, m, n, k),
    orthU: orthogonalityError(U, m, k),
    orthV: orthogonalityError(transpose(Vt, k, n), n, k),
    S,
    ref,
    sweeps: r.sweeps,
    converged: r.converged,
  };
}

describe('exactSvd', () => {
  it.each([
    [1, 1],
    [1, 7],
    [7, 1],
    [7, 33],
    [33, 7],
    [33, 100],
    [100, 33],
    [20, 257],
    [257, 20],
  ])('known spectrum [%i, %i] (σ geometric 1 → 1e-3): σ, reconstruction, orthonormal factors', async (m, n) => {
    const k = Math.min(m, n);
    const sigma = k === 1 ? [2.5] : geometric(k, 3, 1e-3 ** (1 / (k - 1)));
    const Wd = Float32Array.from(knownSpectrum(m, n, sigma, m * 13 + n).W);
    const r = await check(Wd, m, n);
    expect(r.converged).toBe(true);
    expect(r.sigmaErr).toBeLessThan(1e-5);
    expect(relativeError(r.S, sigma)).toBeLessThan(1e-5); // against the constructed spectrum too
    expect(r.recon).toBeLessThan(1e-5);
    expect(r.orthU).toBeLessThan(1e-5);
    expect(r.orthV).toBeLessThan(1e-5);
    // well-separated values are relatively accurate one by one
    for (let i = 0; i < k; i++) expect(Math.abs(r.S[i]! - r.ref[i]!) / r.ref[i]!, `σ_${i}`).toBeLessThan(2e-3);
  });

  // 'rounds' is one dispatch per round (~20 ms each on SwiftShader): kept small here.
  it.each(['workgroup', 'rounds'] as const)('random [20, 37] and [37, 20] with method %s', async (method) => {
    for (const [m, n] of [
      [20, 37],
      [37, 20],
    ] as const) {
      const Wd = Float32Array.from(gaussian(m * n, m + n));
      const r = await check(Wd, m, n, method);
      expect(r.converged).toBe(true);
      expect(r.sigmaErr).toBeLessThan(1e-5);
      expect(r.recon).toBeLessThan(1e-5);
      expect(r.orthU).toBeLessThan(1e-5);
      expect(r.orthV).toBeLessThan(1e-5);
    }
  });

  it('rank-deficient [9, 50] of rank 3: three σ, the rest ≈ 0, still reconstructs', async () => {
    const Wd = Float32Array.from(knownSpectrum(9, 50, [2, 1, 0.5], 4).W);
    const r = await check(Wd, 9, 50);
    expect(relativeError(r.S, [2, 1, 0.5, 0, 0, 0, 0, 0, 0])).toBeLessThan(1e-5);
    expect(r.recon).toBeLessThan(1e-5);
  });
});

describe('smallSvd and singularValues', () => {
  it('smallSvd keeps the leading triplets of C [24, 300]', async () => {
    const ctx = await testContext();
    const [q, n, keep] = [24, 300, 5];
    const sigma = geometric(q, 1, 0.8);
    const Cd = Float32Array.from(knownSpectrum(q, n, sigma, 9).W);
    const C = ctx.uploadF32(Cd, [q, n]);
    const r = smallSvd(ctx, C, { keep });
    expect(r.U.shape).toEqual([q, keep]);
    expect(r.Vt.shape).toEqual([keep, n]);
    const [U, S, Vt] = [await ctx.read(r.U), await ctx.read(r.S), await ctx.read(r.Vt)];
    expect(relativeError(S, sigma.slice(0, keep))).toBeLessThan(1e-5);
    expect(orthogonalityError(U, q, keep)).toBeLessThan(1e-5);
    expect(orthogonalityError(transpose(Vt, keep, n), n, keep)).toBeLessThan(1e-5);
    // The rank-5 truncation error equals σ_5 (Eckart–Young) in the Frobenius norm.
    const tail = Math.sqrt(sigma.slice(keep).reduce((a, s) => a + s * s, 0));
    const total = Math.sqrt(sigma.reduce((a, s) => a + s * s, 0));
    expect(Math.abs(reconstructionError(Cd, U, S, Vt, q, n, keep) - tail / total)).toBeLessThan(1e-5);
    ctx.release(C, r.U, r.S, r.Vt);
  });

  it('singularValues matches float64 on both orientations', async () => {
    const ctx = await testContext();
    for (const [m, n] of [
      [33, 7],
      [7, 33],
      [90, 90],
    ] as const) {
      const Wd = Float32Array.from(gaussian(m * n, 100 + m));
      const W = ctx.uploadF32(Wd, [m, n]);
      const S = await singularValues(ctx, W);
      expect(relativeError(await ctx.read(S), singularValuesRef(Wd, m, n)), `[${m}, ${n}]`).toBeLessThan(1e-5);
      ctx.release(W, S);
    }
  });

  it.each(['workgroup', 'rounds'] as const)('singularValues of a batch [L, m, n] equals each matrix alone, both orientations (%s)', async (method) => {
    const ctx = await testContext();
    for (const [L, m, n] of [
      [3, 20, 9],
      [2, 9, 20],
    ] as const) {
      const all = Float32Array.from(gaussian(L * m * n, 300 + m));
      const batch = ctx.uploadF32(all, [L, m, n]);
      const S = await singularValues(ctx, batch, { method });
      expect(S.shape).toEqual([L, Math.min(m, n)]);
      const together = await ctx.read(S);
      ctx.release(batch, S);
      for (let b = 0; b < L; b++) {
        const W = ctx.uploadF32(all.subarray(b * m * n, (b + 1) * m * n), [m, n]);
        const alone = await singularValues(ctx, W, { method });
        expect(together.subarray(b * Math.min(m, n), (b + 1) * Math.min(m, n)), `[${L}, ${m}, ${n}] #${b}`).toEqual(await ctx.read(alone));
        ctx.release(W, alone);
      }
    }
  });

  it("refuses a smaller side over 1024 with the caller's purpose first", async () => {
    const ctx = await testContext();
    const W = ctx.empty([1025, 1030]);
    await expect(exactSvd(ctx, W, { purpose: "PiSSA's init of model.layers.3.mlp.up_proj" })).rejects.toThrow(
      "PiSSA's init of model.layers.3.mlp.up_proj: the exact SVD (one-sided Jacobi) takes matrices whose smaller side is at most 1024, and this one is 1025 × 1030",
    );
    await expect(singularValues(ctx, W)).rejects.toThrow(
      /^The exact SVD \(one-sided Jacobi\) takes matrices whose smaller side is at most 1024, and this one is 1025 × 1030; the randomized SVD has no such limit/,
    );
    ctx.release(W);
  });
});
