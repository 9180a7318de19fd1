// The spectral drift (drift.ts) on the GPU's exact SVD: identical weights drift 0; a weight whose
// top-k singular subspaces are swapped for orthogonal ones (same σ) drifts 1 both sides with no σ
// change; random weights and perturbations of odd shapes against a float64 reference (orthogonal
// iteration, written here) through the projections P = QQᵀ: 1 − tr(P₀P₁)/k.

import { describe, expect, it } from 'vitest';
import { testContext } from '../../test/gpu';
import { gaussian, geometric, orthonormalizeColumns, randomOrthonormal, singularValuesRef } from '../../linalg/testMatrices';
import type { AdaptedModel, WeightTime, WeightView } from '../../adapters/types';
import type { GpuContext } from '../../gpu/context';
import { parameterFromArray } from '../../tensor/values';
import { SpectralDriftProbe, driftBetween, topSingular, type TopSingular } from './drift';

/** Y [rows, k] = op(A) X for A [m, n]: A X (X [n, k]) or Aᵀ X (X [m, k]). */
function apply(A: ArrayLike<number>, m: number, n: number, X: Float64Array, k: number, transpose: boolean): Float64Array {
  const [rows, inner] = transpose ? [n, m] : [m, n];
  const Y = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < inner; i++) {
      const a = transpose ? A[i * n + r]! : A[r * n + i]!;
      for (let t = 0; t < k; t++) Y[r * k + t]! += a * X[i * k + t]!;
    }
  }
  return Y;
}

/**
 * Float64 reference of the top-k singular subspaces of A [m, n], by another algorithm than the
 * GPU's Jacobi: orthogonal iteration V ← orth(AᵀA V) to convergence, U = orth(A V); σ from
 * testMatrices' float64 Jacobi.
 */
function subspacesRef(A: ArrayLike<number>, m: number, n: number, k: number): { U: Float64Array; S: Float64Array; V: Float64Array } {
  let V = orthonormalizeColumns(gaussian(n * k, 17 * m + n), n, k);
  for (let it = 0; it < 20000; it++) {
    const next = orthonormalizeColumns(apply(A, m, n, apply(A, m, n, V, k, false), k, true), n, k);
    const moved = gapRef(V, next, n, k);
    V = next;
    if (moved < 1e-15) break;
  }
  return { U: orthonormalizeColumns(apply(A, m, n, V, k, false), m, k), S: singularValuesRef(A, m, n).slice(0, k), V };
}

/** 1 − tr(P₀P₁)/k with P = QQᵀ for Q [len, k]. */
function gapRef(Q0: Float64Array, Q1: Float64Array, len: number, k: number): number {
  let trace = 0;
  for (let a = 0; a < len; a++) {
    for (let b = 0; b < len; b++) {
      let p0 = 0;
      let p1 = 0;
      for (let t = 0; t < k; t++) {
        p0 += Q0[a * k + t]! * Q0[b * k + t]!;
        p1 += Q1[b * k + t]! * Q1[a * k + t]!;
      }
      trace += p0 * p1;
    }
  }
  return 1 - trace / k;
}

/** W [m, n] = Σ_t U[:, t] σ_t V[:, t]ᵀ over the columns `cols` of U [m, c], V [n, c], as f32. */
function compose(U: Float64Array, V: Float64Array, sigma: readonly number[], cols: readonly number[], m: number, n: number, c: number): Float32Array {
  const W = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      cols.forEach((col, t) => (s += U[i * c + col]! * sigma[t]! * V[j * c + col]!));
      W[i * n + j] = s;
    }
  }
  return W;
}

async function decompose(W: Float32Array, m: number, n: number, k: number): Promise<TopSingular | null> {
  const ctx = await testContext();
  const t = ctx.uploadF32(W, [m, n]);
  try {
    return await topSingular(ctx, t, k);
  } finally {
    ctx.release(t);
  }
}

describe('spectral drift', () => {
  it('is 0 for identical weights', async () => {
    for (const [m, n, k] of [
      [1, 7, 1],
      [33, 7, 4],
      [7, 33, 3],
      [100, 33, 8],
    ] as const) {
      const W = Float32Array.from(gaussian(m * n, m * 31 + n));
      const a = (await decompose(W, m, n, k))!;
      const b = (await decompose(W, m, n, k))!;
      const d = driftBetween(a, b);
      expect(d.left).toBeLessThan(1e-5);
      expect(d.right).toBeLessThan(1e-5);
      expect(d.sigmaChange).toBe(0);
    }
  });

  it('is 1 both sides, with no σ change, when the top-k subspaces are swapped for orthogonal ones', async () => {
    for (const [m, n, k] of [
      [33, 100, 8],
      [100, 33, 4],
      [7, 33, 3],
    ] as const) {
      const c = 2 * k;
      const U = randomOrthonormal(m, c, 3 * m + n);
      const V = randomOrthonormal(n, c, 5 * n + m);
      const sigma = geometric(c, 4, 0.8);
      const top = Array.from({ length: k }, (_, t) => t);
      const next = top.map((t) => t + k);
      // W₀'s top-k directions are U's first k columns; W₁ gives their σ to the next k (orthogonal) and vice versa.
      const W0 = compose(U, V, sigma, [...top, ...next], m, n, c);
      const W1 = compose(U, V, sigma, [...next, ...top], m, n, c);
      const d = driftBetween((await decompose(W0, m, n, k))!, (await decompose(W1, m, n, k))!);
      expect(d.left).toBeGreaterThan(1 - 1e-5);
      expect(d.right).toBeGreaterThan(1 - 1e-5);
      expect(d.sigmaChange).toBeLessThan(1e-5);
    }
  });

  it('matches a float64 reference on random weights and perturbations of odd shapes', async () => {
    for (const [m, n, k, scale] of [
      [7, 33, 3, 1],
      [33, 7, 2, 1],
      [100, 33, 8, 0.5],
      [33, 100, 5, 1],
      [1, 7, 1, 0.7],
    ] as const) {
      // A decaying spectrum keeps the top-k subspace well separated (the f32 SVD's vectors are then accurate).
      const sigma = geometric(Math.min(m, n), 5, 0.75);
      const W0d = compose(
        randomOrthonormal(m, sigma.length, m + 2 * n),
        randomOrthonormal(n, sigma.length, n + 3 * m),
        sigma,
        sigma.map((_, i) => i),
        m,
        n,
        sigma.length,
      );
      const noise = gaussian(m * n, 7 * m + n);
      const W0 = Float32Array.from(W0d);
      const W1 = Float32Array.from(W0d, (x, i) => x + (scale * noise[i]!) / Math.sqrt(Math.max(m, n)));
      const d = driftBetween((await decompose(W0, m, n, k))!, (await decompose(W1, m, n, k))!);
      const r0 = subspacesRef(W0, m, n, k);
      const r1 = subspacesRef(W1, m, n, k);
      const sigmaRef = Math.sqrt(r0.S.reduce((s, x, i) => s + (r1.S[i]! - x) ** 2, 0)) / Math.sqrt(r0.S.reduce((s, x) => s + x * x, 0));
      expect(Math.abs(d.left - gapRef(r0.U, r1.U, m, k))).toBeLessThan(3e-5);
      expect(Math.abs(d.right - gapRef(r0.V, r1.V, n, k))).toBeLessThan(3e-5);
      expect(Math.abs(d.sigmaChange - sigmaRef)).toBeLessThan(1e-6);
      // The perturbation did turn each subspace smaller than its whole space.
      if (k < m) expect(d.left).toBeGreaterThan(1e-4);
      if (k < n) expect(d.right).toBeGreaterThan(1e-4);
    }
  });

  it('refuses a weight holding a non-finite value', async () => {
    const W = Float32Array.from(gaussian(7 * 33, 1));
    W[40] = Number.NaN;
    expect(await decompose(W, 7, 33, 3)).toBeNull();
  });
});

describe('SpectralDriftProbe', () => {
  /** Enough of an AdaptedModel for the probe: one projection whose init and current weights are given. */
  function adaptedWith(ctx: GpuContext, init: Float32Array, now: Float32Array, m: number, n: number): AdaptedModel {
    const view = (values: Float32Array): WeightView => ({ tensor: parameterFromArray(ctx, values, [m, n], 'layer.weight', false), owned: true });
    return { effectiveWeight: (_rt: unknown, _name: string, when: WeightTime) => view(when === 'init' ? init : now) } as unknown as AdaptedModel;
  }

  it('decomposes an init weight once: a later one equal up to f32 rounding reuses it, a quantized-size change does not', async () => {
    const ctx = await testContext();
    const [m, n, k] = [33, 100, 4];
    const W = Float32Array.from(gaussian(m * n, 11));
    const noise = gaussian(m * n, 12);
    const rounded = Float32Array.from(W, (x, i) => x + 1e-7 * noise[i]!); // PiSSA's W_res + BA
    const quantized = Float32Array.from(W, (x, i) => x + 1e-2 * noise[i]!); // an NF4 copy's error
    const trained = Float32Array.from(W, (x, i) => x + 0.3 * noise[i]!);
    const probe = new SpectralDriftProbe(ctx, ['layer'], k);
    const [a, b, c] = [W, rounded, quantized].map((init) => adaptedWith(ctx, init, trained, m, n));
    const first = await probe.baseline(a!);
    const second = await probe.baseline(b!);
    const third = await probe.baseline(c!);
    expect(second.layers.get('layer')).toBe(first.layers.get('layer'));
    expect(third.layers.get('layer')).not.toBe(first.layers.get('layer'));
    const drift = await probe.measure(a!, first);
    const direct = driftBetween((await decompose(W, m, n, k))!, (await decompose(trained, m, n, k))!);
    expect(drift.k).toBe(k);
    expect(drift.layers).toEqual([{ layer: 'layer', ...direct }]);
    expect(drift.meanLeft).toBe(direct.left);
    expect(ctx.pool.stats().liveBuffers).toBe(0); // every view and SVD output released
  });
});
