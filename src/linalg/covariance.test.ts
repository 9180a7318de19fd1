import { describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { accumulateScaledGram, dampedCholesky, scaleCovariance, solveRows } from './covariance';
import { gaussian } from './testMatrices';

/** Σ_samples X̂ᵀX̂ / samples with X̂ = X / |max X| (PEFT's CorDA hook), float64. */
function covarianceRef(samples: readonly Float64Array[], n: number): Float64Array {
  const C = new Float64Array(n * n);
  for (const X of samples) {
    const peak = Math.abs(Math.max(...X));
    const rows = X.length / n;
    for (let t = 0; t < rows; t++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) C[i * n + j]! += (X[t * n + i]! / peak) * (X[t * n + j]! / peak);
  }
  return C.map((v) => v / samples.length);
}

describe('CorDA covariance', () => {
  it('accumulates X̂ᵀX̂ per sample with the signed maximum, as float64', async () => {
    const rt = await testContext();
    const n = 12;
    // A negative-dominated sample: its signed max is small and positive (|min| would be wrong).
    const a = gaussian(7 * n, 3).map((v) => 3 * v);
    const b = gaussian(5 * n, 4).map((v) => -Math.abs(v) + 0.05);
    const C = rt.uploadF32(new Float32Array(n * n), [n, n]);
    for (const [X, shape] of [
      [a, [1, 7, n]],
      [b, [5, n]],
    ] as const) {
      const x = rt.uploadF32(Float32Array.from(X), shape);
      accumulateScaledGram(rt, x, C);
      rt.release(x);
    }
    scaleCovariance(rt, C, 1 / 2);
    const got = await rt.read(C);
    rt.release(C);
    const want = covarianceRef([Float64Array.from(Float32Array.from(a)), Float64Array.from(Float32Array.from(b))], n);
    const scale = Math.max(...Array.from(want, Math.abs));
    for (let k = 0; k < want.length; k++) expect(Math.abs(got[k]! - want[k]!), `C[${k}]`).toBeLessThan(1e-5 * scale);
  });

  it('damps a singular covariance to PEFT’s 1 % of its mean diagonal and solves rows against it', () => {
    const n = 6;
    // Rank 2: X [2, n] → C = XᵀX is singular, so only the damping makes it factor.
    const X = gaussian(2 * n, 9);
    const C = new Float64Array(n * n);
    for (let t = 0; t < 2; t++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) C[i * n + j]! += X[t * n + i]! * X[t * n + j]!;
    const f = dampedCholesky(C, n);
    expect(f.damp).toBe(0.01);
    let mean = 0;
    for (let i = 0; i < n; i++) mean += C[i * n + i]! / n;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(f.fixed[i * n + j]).toBeCloseTo(C[i * n + j]! + (i === j ? 0.01 * mean : 0), 12);
    // v C_fix⁻¹ · C_fix = v for two rows.
    const V = gaussian(2 * n, 10);
    const solved = solveRows(f, V, 2, n);
    for (let r = 0; r < 2; r++)
      for (let j = 0; j < n; j++) {
        let back = 0;
        for (let k = 0; k < n; k++) back += solved[r * n + k]! * f.fixed[k * n + j]!;
        expect(Math.abs(back - V[r * n + j]!)).toBeLessThan(1e-9);
      }
    expect(() => dampedCholesky(new Float64Array(n * n), n)).toThrow(/no calibration activations/);
  });
});
