// Tests of linalg/nuclear.ts (randomized nuclear norm) and the exact/estimated choice in norms.ts:
// the tridiagonal eigen-solver and the Gauss / Gauss–Radau bracket in float64; the GPU estimate
// against Σσ of matrices built with a known spectrum (noise-like, flat, decaying, low rank +
// noise; several shapes, both orientations), within its own stated error and within a fixed
// relative tolerance; a matrix whose smaller side is over 1024 (where the exact SVD refuses);
// an NF4 quantization error against the exact Jacobi value (8 independent estimates, and their
// mean within 0.6 %); batched = one at a time, bit for bit.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { dequantizeNf4, quantizeNf4, releaseNf4 } from '../kernels/nf4';
import { subInto } from '../kernels/elementwise';
import { randomNormal } from '../kernels/random';
import { copyColumns } from '../kernels/slice';
import { testContext } from '../test/gpu';
import { rng } from '../test/reference';
import { estimateNuclearNorms, sqrtQuadrature, tridiagonalEigen } from './nuclear';
import { frobeniusNorms, nuclearNorm, nuclearNorms } from './norms';
import { singularValues } from './svd';
import { gaussian, geometric, knownSpectrum } from './testMatrices';

/** Sorted samples of a density on [lo, hi] by rejection (peak ≤ top). */
function sample(count: number, seed: number, lo: number, hi: number, density: (x: number) => number, top: number): number[] {
  const next = rng(seed);
  const out: number[] = [];
  while (out.length < count) {
    const x = lo + (hi - lo) * next();
    if (next() * top <= density(x)) out.push(x);
  }
  return out.sort((a, b) => b - a);
}

/** Singular values of a square noise matrix (quarter-circle law on [0, 2]). */
const quarterCircle = (k: number, seed: number) => sample(k, seed, 0, 2, (x) => Math.sqrt(4 - x * x), 2);

/** Singular values of a Gaussian s × l noise matrix, c = s/l (Marchenko–Pastur for σ²). */
function marchenkoPastur(k: number, c: number, seed: number): number[] {
  const a = (1 - Math.sqrt(c)) ** 2;
  const b = (1 + Math.sqrt(c)) ** 2;
  return sample(k, seed, a, b, (x) => Math.sqrt((b - x) * (x - a)) / x, 2 / a).map(Math.sqrt);
}

const sum = (v: readonly number[]) => v.reduce((a, b) => a + b, 0);

function upload(ctx: GpuContext, W: Float64Array, m: number, n: number): GpuTensor {
  return ctx.uploadF32(Float32Array.from(W), [m, n]);
}

describe('Lanczos quadrature (float64)', () => {
  it('tridiagonalEigen: nodes, weights and moments of T', () => {
    const { nodes, weights } = tridiagonalEigen([2, 2], [1]);
    expect([...nodes].sort()).toEqual([1, 3].map((v) => expect.closeTo(v, 12)));
    expect([...weights]).toEqual([0.5, 0.5].map((v) => expect.closeTo(v, 12)));
    const alpha = [3, 1.5, 2.2, 0.7, 4];
    const beta = [0.9, 0.3, 1.1, 0.2];
    const t = tridiagonalEigen(alpha, beta);
    const moment = (p: number) => t.nodes.reduce((acc, x, i) => acc + t.weights[i]! * x ** p, 0);
    expect(moment(0)).toBeCloseTo(1, 12);
    expect(moment(1)).toBeCloseTo(alpha[0]!, 12); // e₁ᵀ T e₁
    expect(moment(2)).toBeCloseTo(alpha[0]! ** 2 + beta[0]! ** 2, 12); // e₁ᵀ T² e₁
  });

  it('Gauss over-estimates and Gauss–Radau under-estimates uᵀG^{1/2}u, and the bracket closes with more steps', () => {
    const s = 200;
    const lambda = geometric(s, 1, 0.96).map((v) => v * v);
    const u = gaussian(s, 3);
    const norm = Math.hypot(...u);
    const exact = lambda.reduce((acc, l, i) => acc + Math.sqrt(l) * (u[i]! / norm) ** 2, 0);
    let previousWidth = Infinity;
    for (const steps of [4, 8, 16, 32]) {
      // Lanczos in float64 on diag(λ) with full reorthogonalisation (reference).
      const V: Float64Array[] = [Float64Array.from(u, (x) => x / norm)];
      const alpha: number[] = [];
      const beta: number[] = [];
      for (let j = 0; j < steps; j++) {
        const w = Float64Array.from(V[j]!, (x, i) => lambda[i]! * x);
        for (let pass = 0; pass < 2; pass++) {
          for (const v of V) {
            const c = v.reduce((acc, x, i) => acc + x * w[i]!, 0);
            for (let i = 0; i < s; i++) w[i]! -= c * v[i]!;
          }
        }
        alpha.push(V[j]!.reduce((acc, x, i) => acc + x * lambda[i]! * x, 0));
        const b = Math.hypot(...w);
        beta.push(b);
        V.push(w.map((x) => x / b));
      }
      const { gauss, radau } = sqrtQuadrature(alpha, beta);
      expect(radau).toBeLessThanOrEqual(exact * (1 + 1e-12));
      expect(gauss).toBeGreaterThanOrEqual(exact * (1 - 1e-12));
      expect(gauss - radau).toBeLessThan(previousWidth);
      previousWidth = gauss - radau;
    }
    expect(previousWidth / exact).toBeLessThan(0.05);
  });

  it('a breakdown (exhausted Krylov space) gives the exact value', () => {
    // G = diag(1, 4) from e₁ + e₂: two steps span everything; β₂ = 0.
    const alpha = [2.5, 2.5, 0];
    const beta = [1.5, 0, 0];
    const { gauss, radau } = sqrtQuadrature(alpha, beta);
    expect(gauss).toBeCloseTo(0.5 * 1 + 0.5 * 2, 12);
    expect(radau).toBe(gauss);
  });
});

describe('randomized nuclear norm on the GPU', () => {
  const cases: [string, number, number, (k: number) => number[]][] = [
    ['quarter-circle (square noise)', 300, 300, (k) => quarterCircle(k, 11)],
    ['Marchenko–Pastur, wide', 260, 700, (k) => marchenkoPastur(k, 260 / 700, 12)],
    ['Marchenko–Pastur, tall', 640, 280, (k) => marchenkoPastur(k, 280 / 640, 13)],
    ['flat [0.5, 1.5]', 330, 400, (k) => sample(k, 14, 0.5, 1.5, () => 1, 1)],
    ['geometric decay 0.99^i', 300, 520, (k) => geometric(k, 3, 0.99)],
    ['low rank + noise', 400, 360, (k) => [...[40, 25, 18, 12, 9, 7, 5, 4], ...quarterCircle(k - 8, 15)]],
  ];
  it.each(cases)('%s [%i, %i]: within the stated error and within 1.5 percent of Σσ', async (_name, m, n, spectrum) => {
    const ctx = await testContext();
    const sigma = spectrum(Math.min(m, n));
    const truth = sum(sigma);
    const E = upload(ctx, knownSpectrum(m, n, sigma, m + n).W, m, n);
    const [est] = await estimateNuclearNorms(ctx, E, { streams: [m] });
    ctx.release(E);
    const err = Math.abs(est!.value - truth);
    expect(err, `estimate ${est!.value}, Σσ ${truth}, stated error ${est!.error}`).toBeLessThanOrEqual(est!.error);
    expect(err / truth).toBeLessThan(0.015);
    expect(est!.error / truth).toBeLessThan(0.05);
    expect(est!.frobenius / Math.hypot(...sigma)).toBeCloseTo(1, 5);
  });

  it('min(m, n) > 1024: the exact SVD refuses (naming its purpose), the estimate works', async () => {
    const ctx = await testContext();
    // E = A ⊗ B [34·33, 33·32] = [1122, 1056]: σ(E) = {σ_i(A)·σ_j(B)}, so ‖E‖_* = ‖A‖_*·‖B‖_* (full rank).
    const [ma, na, mb, nb] = [34, 33, 33, 32];
    const sa = quarterCircle(33, 16);
    const sb = geometric(32, 2, 0.93);
    const A = knownSpectrum(ma, na, sa, 17).W;
    const B = knownSpectrum(mb, nb, sb, 18).W;
    const [m, n] = [ma * mb, na * nb];
    const K = new Float32Array(m * n);
    for (let i = 0; i < ma; i++)
      for (let j = 0; j < na; j++) for (let p = 0; p < mb; p++) for (let q = 0; q < nb; q++) K[(i * mb + p) * n + j * nb + q] = A[i * na + j]! * B[p * nb + q]!;
    const E = ctx.uploadF32(K, [m, n]);
    await expect(singularValues(ctx, E, { purpose: "QPiSSA's init of model.layers.0.mlp.up_proj" })).rejects.toThrow(
      /^QPiSSA's init of model\.layers\.0\.mlp\.up_proj: the exact SVD .* at most 1024, and this one is 1122 × 1056/,
    );
    const [result] = await nuclearNorms(ctx, E);
    ctx.release(E);
    const truth = sum(sa) * sum(sb);
    expect(result!.method).toBe('randomized');
    const err = Math.abs(result!.value - truth);
    expect(err, `estimate ${result!.value}, Σσ ${truth}, stated error ${result!.error}`).toBeLessThanOrEqual(result!.error);
    expect(err / truth).toBeLessThan(0.015);
  }, 300_000);

  it('an NF4 quantization error [128, 352]: 8 independent estimates agree with the exact Jacobi value', async () => {
    const ctx = await testContext();
    const [m, n, L] = [128, 352, 8];
    const W = randomNormal(ctx, [m, n], 21, 0, { std: 0.02 });
    const q = quantizeNf4(ctx, W);
    const D = dequantizeNf4(ctx, q);
    const E = subInto(ctx, D, W, D);
    releaseNf4(ctx, q);
    const exact = await nuclearNorms(ctx, E, { exactMaxSide: 128 });
    expect(exact[0]!.method).toBe('exact');
    // The same E eight times, each with its own probes.
    const batch = ctx.empty([L, m, n]);
    for (let b = 0; b < L; b++) copyColumns(ctx, E.view([1, m * n]), batch.view([1, L * m * n]), { srcOffset: 0, dstOffset: b * m * n, width: m * n });
    const estimated = await nuclearNorms(ctx, batch, { exactMaxSide: 0, estimate: { streams: Array.from({ length: L }, (_, b) => 40 + b) } });
    ctx.release(W, E, batch);
    let mean = 0;
    for (const e of estimated) {
      expect(e.method).toBe('randomized');
      expect(Math.abs(e.value - exact[0]!.value)).toBeLessThanOrEqual(e.error);
      expect(Math.abs(e.value - exact[0]!.value) / exact[0]!.value).toBeLessThan(0.02); // s = 128: SE ≈ 0.3 %
      mean += e.value / L;
    }
    expect(Math.abs(mean / exact[0]!.value - 1)).toBeLessThan(0.006);
    expect(await nuclearNorm(ctx, ctx.uploadF32(new Float32Array(6), [2, 3]))).toBe(0);
  });

  it('a batch gives each matrix exactly what it gets alone (estimate, exact, Frobenius)', async () => {
    const ctx = await testContext();
    const [L, m, n] = [3, 90, 70];
    const batch = ctx.uploadF32(Float32Array.from(gaussian(L * m * n, 5)), [L, m, n]);
    const single = (b: number) => ctx.uploadF32(Float32Array.from(gaussian(L * m * n, 5).subarray(b * m * n, (b + 1) * m * n)), [m, n]);
    const streams = [4, 9, 2];
    const batched = await nuclearNorms(ctx, batch, { exactMaxSide: 0, estimate: { streams } });
    const exactBatched = await nuclearNorms(ctx, batch);
    const froBatched = await frobeniusNorms(ctx, batch);
    for (let b = 0; b < L; b++) {
      const E = single(b);
      expect((await nuclearNorms(ctx, E, { exactMaxSide: 0, estimate: { streams: [streams[b]!] } }))[0]).toEqual(batched[b]);
      expect((await nuclearNorms(ctx, E))[0]).toEqual(exactBatched[b]);
      expect((await frobeniusNorms(ctx, E))[0]).toBe(froBatched[b]);
      ctx.release(E);
    }
    ctx.release(batch);
  });
});
