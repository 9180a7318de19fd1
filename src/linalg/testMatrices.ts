// Float64 CPU helpers for the linalg tests: random orthonormal factors, matrices with a known
// spectrum W = U diag(σ) Vᵀ (U [m, k], V [n, k], k = σ.length), products, orthogonality and
// projection residuals, and a reference one-sided Jacobi SVD (float64, plain loops).
// Matrices are row-major Float64Array unless said otherwise. Test code only.

import { rng } from '../test/reference';

/** Standard normal values (Box–Muller on the seeded mulberry32 stream). */
export function gaussian(size: number, seed: number): Float64Array {
  const next = rng(seed);
  const out = new Float64Array(size);
  for (let i = 0; i < size; i += 2) {
    const u1 = 1 - next();
    const u2 = next();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < size) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** The columns of a [rows, cols] (rows ≥ cols) made orthonormal in place: Gram–Schmidt, twice. */
export function orthonormalizeColumns(a: Float64Array, rows: number, cols: number): Float64Array {
  for (let j = 0; j < cols; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let t = 0; t < j; t++) {
        let c = 0;
        for (let i = 0; i < rows; i++) c += a[i * cols + t]! * a[i * cols + j]!;
        for (let i = 0; i < rows; i++) a[i * cols + j]! -= c * a[i * cols + t]!;
      }
    }
    let n = 0;
    for (let i = 0; i < rows; i++) n += a[i * cols + j]! ** 2;
    n = Math.sqrt(n);
    for (let i = 0; i < rows; i++) a[i * cols + j]! /= n;
  }
  return a;
}

/** [rows, cols] (rows ≥ cols) with orthonormal columns: orthonormalizeColumns of a Gaussian matrix. */
export function randomOrthonormal(rows: number, cols: number, seed: number): Float64Array {
  return orthonormalizeColumns(gaussian(rows * cols, seed), rows, cols);
}

/** W [m, n] = U diag(σ) Vᵀ with random orthonormal U [m, k], V [n, k]; k = σ.length ≤ min(m, n). */
export function knownSpectrum(m: number, n: number, sigma: readonly number[], seed: number): { W: Float64Array; U: Float64Array; V: Float64Array } {
  const k = sigma.length;
  const U = randomOrthonormal(m, k, seed);
  const V = randomOrthonormal(n, k, seed + 7919);
  const W = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += U[i * k + t]! * sigma[t]! * V[j * k + t]!;
      W[i * n + j] = s;
    }
  }
  return { W, U, V };
}

/** σ_i = top · decay^i, i < k. */
export function geometric(k: number, top: number, decay: number): number[] {
  return Array.from({ length: k }, (_, i) => top * decay ** i);
}

/** ‖QᵀQ − I‖_max for Q [m, q]. */
export function orthogonalityError(Q: ArrayLike<number>, m: number, q: number): number {
  let worst = 0;
  for (let a = 0; a < q; a++) {
    for (let b = a; b < q; b++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += Q[i * q + a]! * Q[i * q + b]!;
      worst = Math.max(worst, Math.abs(s - (a === b ? 1 : 0)));
    }
  }
  return worst;
}

/** ‖Y − Q QᵀY‖_F / ‖Y‖_F for Y, Q [m, q] (the part of Y outside span(Q)). */
export function projectionResidual(Y: ArrayLike<number>, Q: ArrayLike<number>, m: number, q: number): number {
  let num = 0;
  let den = 0;
  for (let j = 0; j < q; j++) {
    const c = new Float64Array(q);
    for (let t = 0; t < q; t++) for (let i = 0; i < m; i++) c[t]! += Q[i * q + t]! * Y[i * q + j]!;
    for (let i = 0; i < m; i++) {
      let p = 0;
      for (let t = 0; t < q; t++) p += Q[i * q + t]! * c[t]!;
      num += (Y[i * q + j]! - p) ** 2;
      den += Y[i * q + j]! ** 2;
    }
  }
  return Math.sqrt(num / den);
}

/** ‖W − U diag(S) Vt‖_F / ‖W‖_F, U [m, k], S [k], Vt [k, n]. */
export function reconstructionError(
  W: ArrayLike<number>,
  U: ArrayLike<number>,
  S: ArrayLike<number>,
  Vt: ArrayLike<number>,
  m: number,
  n: number,
  k: number,
): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += U[i * k + t]! * S[t]! * Vt[t * n + j]!;
      num += (W[i * n + j]! - s) ** 2;
      den += W[i * n + j]! ** 2;
    }
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Singular values (descending) of A [m, n] by float64 one-sided Jacobi on the rows of the wider orientation. */
export function singularValuesRef(A: ArrayLike<number>, m: number, n: number): Float64Array {
  const [rows, len] = m <= n ? [m, n] : [n, m];
  const x = new Float64Array(rows * len);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) x[m <= n ? i * n + j : j * m + i] = A[i * n + j]!;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let a = 0; a < rows; a++) {
      for (let b = a + 1; b < rows; b++) {
        let al = 0;
        let be = 0;
        let ga = 0;
        for (let k = 0; k < len; k++) {
          const u = x[a * len + k]!;
          const v = x[b * len + k]!;
          al += u * u;
          be += v * v;
          ga += u * v;
        }
        if (Math.abs(ga) <= 1e-15 * Math.sqrt(al * be)) continue;
        rotated = true;
        const zeta = (be - al) / (2 * ga);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let k = 0; k < len; k++) {
          const u = x[a * len + k]!;
          const v = x[b * len + k]!;
          x[a * len + k] = c * u - s * v;
          x[b * len + k] = s * u + c * v;
        }
      }
    }
    if (!rotated) break;
  }
  const sv = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let k = 0; k < len; k++) s += x[i * len + k]! ** 2;
    sv[i] = Math.sqrt(s);
  }
  return sv.sort((p, q) => q - p);
}
