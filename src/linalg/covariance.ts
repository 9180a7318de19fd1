// CorDA's input covariance and its damped factorization (ADAPTERS.md "More methods", PEFT
// src/peft/tuners/lora/corda.py: calib_cov_distribution, collect_eigens_for_layer).
//
// Accumulation, per calibration SAMPLE (one sequence, PEFT's forward hook on a batch of one):
//   X̂ = X / |max(X)|      X [tokens, in]; max is the signed maximum entry (torch.max(input).abs())
//   C += X̂ᵀ X̂             [in, in]
// then C /= samples. All on the GPU with no readback: max and its square are [1] tensors, and the
// division is axpy_inverse_norm's x / √(m² + ε) into a zeroed buffer (ε = 1e-30 only keeps an
// all-zero sample finite; PEFT would stop there with a NaN error).
//
// Damping (host, float64): C_fix = C + d · mean(diag C) · I with d = 0.01, doubled until the
// factorization holds. PEFT inverts C_fix in f32 and doubles d until ‖C_fix C_fix⁻¹ − I‖_F < 0.05;
// here C_fix = L Lᵀ (Cholesky, float64) and the few rows CorDA needs are solved against it, so no
// inverse is formed. For a positive semi-definite C, cond(C_fix) ≤ 100·in + 1 and the float64
// factor meets PEFT's bound at the first d; d doubles only when a pivot is not positive (C made
// indefinite by f32 rounding). PEFT's f32 inverse can double d on ill-conditioned covariances
// where this does not: a small difference in the damping, none in the algorithm.
// Cost: in³/3 multiply-adds for the factor (≈ 1 s for in = 1536 in JavaScript, ≈ 20 s for 4096),
// in² per solved row; the [in, in] covariance of every target stays on the GPU during calibration.

import type { GpuTensor } from '../gpu/tensor';
import { axpyInverseNorm } from '../kernels/scalar';
import { fill, scaleInto } from '../kernels/elementwise';
import { matmulInto } from '../kernels/matmul';
import { max, sumSquares } from '../kernels/reduce';
import { gpuContextOf } from '../tensor/gpuContextOf';
import type { Runtime } from '../tensor/values';
import { InputError, InternalError } from '../errors';

const SAMPLE_EPS = 1e-30;

/** C [in, in] += X̂ᵀX̂ with X̂ = X / |max(X)| for one sample X [..., in]. */
export function accumulateScaledGram(rt: Runtime, x: GpuTensor, C: GpuTensor): void {
  const ctx = gpuContextOf(rt);
  const inF = C.shape[0]!;
  if (C.shape.length !== 2 || C.shape[1] !== inF || x.size % inF !== 0)
    throw new InternalError(`covariance [${C.shape.join(', ')}] does not fit input [${x.shape.join(', ')}]`);
  const X = x.view([x.size / inF, inF]); // [tokens, in]
  const peak = max(ctx, X); // [1] signed maximum
  const peak2 = sumSquares(ctx, peak); // [1] max²
  const scaled = fill(ctx, rt.empty(X.shape, 'f32', 'X / |max X|'), 0);
  axpyInverseNorm(ctx, 1, X, peak2, SAMPLE_EPS, scaled);
  matmulInto(ctx, scaled, scaled, C, { transA: true, accumulate: true });
  rt.release(peak, peak2, scaled);
}

/** C ← f·C in place (the mean over samples: f = 1/samples). */
export function scaleCovariance(rt: Runtime, C: GpuTensor, f: number): void {
  const ctx = gpuContextOf(rt);
  scaleInto(ctx, C, C, f);
}

export interface DampedCholesky {
  /** L [n, n] row-major, lower triangular: C + d·mean(diag C)·I = L Lᵀ. */
  readonly L: Float64Array;
  /** C_fix = C + d·mean(diag C)·I [n, n]. */
  readonly fixed: Float64Array;
  /** The damping d used. */
  readonly damp: number;
}

/** In-place Cholesky of a symmetric [n, n] (lower triangle read and written); false at a non-positive pivot. */
function choleskyInPlace(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;
    let d = a[rowJ + j]!;
    for (let k = 0; k < j; k++) d -= a[rowJ + k]! ** 2;
    if (!(d > 0)) return false;
    const ljj = Math.sqrt(d);
    a[rowJ + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const rowI = i * n;
      let s = a[rowI + j]!;
      for (let k = 0; k < j; k++) s -= a[rowI + k]! * a[rowJ + k]!;
      a[rowI + j] = s / ljj;
    }
    for (let k = j + 1; k < n; k++) a[rowJ + k] = 0;
  }
  return true;
}

/** C_fix = C + d·mean(diag C)·I, d = 0.01 doubled until C_fix = L Lᵀ exists (PEFT's damping rule). */
export function dampedCholesky(C: ArrayLike<number>, n: number): DampedCholesky {
  if (C.length !== n * n) throw new InternalError(`covariance has ${C.length} entries, expected ${n}×${n}`);
  let trace = 0;
  for (let i = 0; i < n; i++) trace += C[i * n + i]!;
  const mean = trace / n;
  if (!(mean > 0) || !Number.isFinite(mean))
    throw new InputError(`the covariance has no positive diagonal (mean ${mean}): no calibration activations reached this layer`);
  for (let damp = 0.01; damp < 1e6; damp *= 2) {
    const fixed = Float64Array.from(C);
    for (let i = 0; i < n; i++) fixed[i * n + i]! += damp * mean;
    const L = fixed.slice();
    if (choleskyInPlace(L, n)) return { L, fixed, damp };
  }
  throw new InputError('the covariance could not be damped into a positive definite matrix');
}

/** Each row v of V [rows, n] replaced by v C_fix⁻¹ (= (C_fix⁻¹ vᵀ)ᵀ, C_fix symmetric), by two triangular solves with L. */
export function solveRows(f: DampedCholesky, V: ArrayLike<number>, rows: number, n: number): Float64Array {
  const { L } = f;
  const out = new Float64Array(rows * n);
  const y = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < n; i++) {
      let s = V[r * n + i]!;
      for (let k = 0; k < i; k++) s -= L[i * n + k]! * y[k]!;
      y[i] = s / L[i * n + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = y[i]!;
      for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * out[r * n + k]!;
      out[r * n + i] = s / L[i * n + i]!;
    }
  }
  return out;
}
