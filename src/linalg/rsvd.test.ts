// Tests of linalg/rsvd.ts on matrices with a known spectrum (W = U diag(σ) Vᵀ built in float64):
// singular values against the constructed σ and against exactSvd, orthonormal factors, the
// Eckart–Young residual, odd column counts, accuracy improving with niter and oversampling,
// exact recovery of an exactly rank-r matrix, and bit-for-bit determinism in the seed.

import { describe, expect, it } from 'vitest';
import { GpuError } from '../errors';
import { testContext } from '../test/gpu';
import { relativeError } from '../test/reference';
import { randomizedSvd, type RsvdOptions } from './rsvd';
import { exactSvd } from './svd';
import { geometric, knownSpectrum, orthogonalityError, reconstructionError } from './testMatrices';

function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
  return t;
}

async function rsvd(Wd: Float32Array, m: number, n: number, options: RsvdOptions) {
  const ctx = await testContext();
  const W = ctx.uploadF32(Wd, [m, n]);
  const res = randomizedSvd(ctx, W, options);
  const r = options.rank;
  expect(res.U.shape).toEqual([m, r]);
  expect(res.S.shape).toEqual([r]);
  expect(res.Vt.shape).toEqual([r, n]);
  const out = { U: await ctx.read(res.U), S: await ctx.read(res.S), Vt: await ctx.read(res.Vt), q: res.q };
  ctx.release(W, res.U, res.S, res.Vt);
  return out;
}

describe('randomizedSvd', () => {
  it.each([
    [50, 1, 1],
    [40, 7, 3],
    [64, 33, 5],
    [90, 100, 8],
    [70, 257, 8],
  ])('known spectrum [%i, %i], rank %i, niter 2, oversample 8: σ, factors, residual', async (m, n, r) => {
    const k = Math.min(m, n);
    const sigma = geometric(k, 2, 0.6);
    const Wd = Float32Array.from(knownSpectrum(m, n, sigma, m + 3 * n).W);
    const res = await rsvd(Wd, m, n, { rank: r, oversample: 8, niter: 2, seed: 1 });
    expect(res.q).toBe(Math.min(r + 8, m, n));
    expect(relativeError(res.S, sigma.slice(0, r))).toBeLessThan(1e-5);
    expect(orthogonalityError(res.U, m, r)).toBeLessThan(1e-5);
    expect(orthogonalityError(transpose(res.Vt, r, n), n, r)).toBeLessThan(1e-5);
    const tail = Math.sqrt(sigma.slice(r).reduce((a, s) => a + s * s, 0) / sigma.reduce((a, s) => a + s * s, 0));
    expect(Math.abs(reconstructionError(Wd, res.U, res.S, res.Vt, m, n, r) - tail)).toBeLessThan(1e-5);
  });

  it('matches exactSvd on a slowly decaying spectrum, and improves with niter and oversampling', async () => {
    const ctx = await testContext();
    const [m, n, r] = [96, 160, 8];
    const sigma = geometric(96, 1, 0.97); // slow decay: the sketch alone is not enough
    const Wd = Float32Array.from(knownSpectrum(m, n, sigma, 77).W);
    const W = ctx.uploadF32(Wd, [m, n]);
    const exact = await exactSvd(ctx, W, { keep: r });
    const exactS = await ctx.read(exact.S);
    ctx.release(W, exact.U, exact.S, exact.Vt);
    expect(relativeError(exactS, sigma.slice(0, r))).toBeLessThan(1e-5);
    const err = async (niter: number, oversample: number) => relativeError((await rsvd(Wd, m, n, { rank: r, niter, oversample, seed: 5 })).S, exactS);
    const e0 = await err(0, 0);
    const e2 = await err(2, 0);
    const e8 = await err(8, 0);
    const e8p = await err(8, 10);
    expect(e2).toBeLessThan(e0);
    expect(e8).toBeLessThan(e2);
    expect(e8p).toBeLessThan(e8);
    expect(e8p).toBeLessThan(1e-3);
  });

  it('recovers an exactly rank-r matrix with PEFT settings (oversample 0, niter 2)', async () => {
    const [m, n, r] = [33, 100, 4];
    const sigma = [3, 1, 0.3, 0.1];
    const Wd = Float32Array.from(knownSpectrum(m, n, sigma, 21).W);
    const res = await rsvd(Wd, m, n, { rank: r, seed: 3 });
    expect(res.q).toBe(r);
    expect(relativeError(res.S, sigma)).toBeLessThan(1e-5);
    expect(reconstructionError(Wd, res.U, res.S, res.Vt, m, n, r)).toBeLessThan(1e-5);
  });

  it('is deterministic in the seed; another seed or stream gives another sketch', async () => {
    const [m, n, r] = [40, 57, 3];
    const Wd = Float32Array.from(knownSpectrum(m, n, geometric(40, 1, 0.95), 8).W);
    const a = await rsvd(Wd, m, n, { rank: r, seed: 11, niter: 1 });
    const b = await rsvd(Wd, m, n, { rank: r, seed: 11, niter: 1 });
    const c = await rsvd(Wd, m, n, { rank: r, seed: 11, stream: 1, niter: 1 });
    expect(Array.from(b.U)).toEqual(Array.from(a.U));
    expect(Array.from(b.S)).toEqual(Array.from(a.S));
    expect(Array.from(b.Vt)).toEqual(Array.from(a.Vt));
    expect(Array.from(c.S)).not.toEqual(Array.from(a.S));
  });

  it('rejects a rank above min(m, n)', async () => {
    const ctx = await testContext();
    const W = ctx.empty([5, 3]);
    expect(() => randomizedSvd(ctx, W, { rank: 4, seed: 0 })).toThrow(GpuError);
    ctx.release(W);
  });
});
