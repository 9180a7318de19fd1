// Tests of linalg/norms.ts against float64: the Frobenius norm and the nuclear norm (sum of the
// constructed singular values, and float64 Jacobi on random matrices) on odd shapes.

import { describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { frobeniusNorm, nuclearNorm } from './norms';
import { gaussian, geometric, knownSpectrum, singularValuesRef } from './testMatrices';

describe('norms', () => {
  it.each([
    [1, 1],
    [7, 1],
    [1, 33],
    [33, 100],
    [100, 7],
    [48, 48],
  ])('Frobenius and nuclear norms of random [%i, %i] match float64', async (m, n) => {
    const ctx = await testContext();
    const Ed = Float32Array.from(gaussian(m * n, m * 7 + n));
    const E = ctx.uploadF32(Ed, [m, n]);
    const fro = Math.sqrt(Ed.reduce((a, v) => a + v * v, 0));
    const nuc = singularValuesRef(Ed, m, n).reduce((a, v) => a + v, 0);
    expect(Math.abs((await frobeniusNorm(ctx, E)) - fro) / fro).toBeLessThan(1e-6);
    expect(Math.abs((await nuclearNorm(ctx, E)) - nuc) / nuc).toBeLessThan(1e-5);
    ctx.release(E);
  });

  it('nuclear norm of a known spectrum [60, 257] is Σσ, Frobenius is √Σσ²', async () => {
    const ctx = await testContext();
    const sigma = geometric(60, 5, 0.9);
    const E = ctx.uploadF32(Float32Array.from(knownSpectrum(60, 257, sigma, 2).W), [60, 257]);
    const nuc = sigma.reduce((a, s) => a + s, 0);
    const fro = Math.sqrt(sigma.reduce((a, s) => a + s * s, 0));
    expect(Math.abs((await nuclearNorm(ctx, E)) - nuc) / nuc).toBeLessThan(1e-5);
    expect(Math.abs((await frobeniusNorm(ctx, E)) - fro) / fro).toBeLessThan(1e-6);
    ctx.release(E);
  });

  it('zero matrix: both norms are 0', async () => {
    const ctx = await testContext();
    const E = ctx.uploadF32(new Float32Array(12 * 5), [12, 5]);
    expect(await frobeniusNorm(ctx, E)).toBe(0);
    expect(await nuclearNorm(ctx, E)).toBe(0);
    ctx.release(E);
  });
});
