// Thin QR of a tall matrix, Q only: orthonormalize(ctx, Y [m, q]) → Q [m, q] with QᵀQ ≈ I and
// span(Q) = span(Y) (m ≥ q; q up to ~1024, meant for q ≤ ~128 sketches with m up to 4096+).
//
// CholeskyQR2 (Fukaya, Nakatsukasa, Yanagisawa, Yamamoto 2014), all on the GPU:
//   G = YᵀY (matmul); G = R₁ᵀR₁ (Cholesky, one workgroup); Q₁ = Y R₁⁻¹ (triangular solve);
//   then the same once more on Q₁ → Q. Cost ≈ 2·(m q² + m q² + q³/3) flops, mostly matmul.
// In f32 it works while cond(Y) ≲ 1e3 (cond(G) = cond(Y)² must stay well inside 1/ε). Beyond
// that the Cholesky meets a pivot ≤ tau·G_kk, sets a flag on the GPU, and a Gram–Schmidt kernel
// that is always dispatched behind it (and returns at once while the flag is 0) recomputes Q from
// Y by classical Gram–Schmidt applied twice per column (one workgroup, ≈ 4 m q² flops and ~8
// barriers per column). So there is no readback: the fallback decision stays on the GPU.
// The second pass uses a much stricter threshold: Q₁ should be nearly orthonormal, and a pivot
// of G₂ = Q₁ᵀQ₁ far below 1 means pass one lost too much and its result is not trusted.
// Rank-deficient Y (including Y = 0) takes the fallback, which completes Q with unit vectors.

import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { matmulInto } from '../kernels/matmul';
import { choleskyUpper, gramSchmidtIfFlagged, QR_MAX_COLUMNS, trsmUpperRight } from '../kernels/qr';

/** Pass-one pivot threshold (relative to G_kk): below it, column k is treated as dependent. */
export const CHOLQR_TAU_FIRST = 1e-5;
/** Pass-two pivot threshold: G₂ = Q₁ᵀQ₁ should be ≈ I, so its pivots should be ≈ 1. */
export const CHOLQR_TAU_SECOND = 1e-2;

export type QrMethod = 'auto' | 'cholesky' | 'gram-schmidt';

export interface QrOptions {
  /** 'auto': CholeskyQR2 with the Gram–Schmidt fallback; the others force one path (tests). */
  readonly method?: QrMethod;
}

export interface QrResult {
  /** [m, q], orthonormal columns. */
  readonly Q: GpuTensor;
  /** u32 [1]: 1 when CholeskyQR2 failed (and, with 'auto', Gram–Schmidt produced Q). */
  readonly flag: GpuTensor;
}

/** Q [m, q] with orthonormal columns spanning Y's. Y is not modified. */
export function orthonormalize(ctx: GpuContext, Y: GpuTensor, options: QrOptions = {}): GpuTensor {
  const { Q, flag } = orthonormalizeWithFlag(ctx, Y, options);
  ctx.release(flag);
  return Q;
}

/** orthonormalize, also returning the GPU flag that says whether the fallback ran. */
export function orthonormalizeWithFlag(ctx: GpuContext, Y: GpuTensor, options: QrOptions = {}): QrResult {
  const method = options.method ?? 'auto';
  if (Y.shape.length !== 2 || Y.dtype !== 'f32') throw new GpuError('Y must be an f32 matrix [m, q]', 'orthonormalize', Y.describe());
  const [m, q] = Y.shape as [number, number];
  if (q > m) throw new GpuError(`needs m ≥ q (a tall matrix), got [${m}, ${q}]`, 'orthonormalize', Y.describe());
  if (q > QR_MAX_COLUMNS) throw new GpuError(`at most ${QR_MAX_COLUMNS} columns`, 'orthonormalize', Y.describe());
  const Q = ctx.empty([m, q], 'f32', 'orthonormalize Q'); // [m, q]
  const flag = ctx.empty([1], 'u32', 'orthonormalize flag');
  if (q === 0 || m === 0) return { Q, flag };
  const R = ctx.empty([q, q], 'f32', 'orthonormalize R'); // [q, q]
  if (method === 'gram-schmidt') {
    ctx.write(flag, new Uint32Array([1]));
    gramSchmidtIfFlagged(ctx, Y, Q, R, flag);
    ctx.release(R);
    return { Q, flag };
  }
  const G = ctx.empty([q, q], 'f32', 'orthonormalize G'); // [q, q]
  const work = ctx.empty([2 * q], 'f32', 'orthonormalize work');
  const Q1 = ctx.empty([m, q], 'f32', 'orthonormalize Q1'); // [m, q]
  matmulInto(ctx, Y, Y, G, { transA: true });
  choleskyUpper(ctx, G, R, work, flag, CHOLQR_TAU_FIRST, true);
  trsmUpperRight(ctx, Y, R, Q1, flag);
  matmulInto(ctx, Q1, Q1, G, { transA: true });
  choleskyUpper(ctx, G, R, work, flag, CHOLQR_TAU_SECOND, false);
  trsmUpperRight(ctx, Q1, R, Q, flag);
  if (method === 'auto') gramSchmidtIfFlagged(ctx, Y, Q, R, flag);
  ctx.release(G, work, Q1, R);
  return { Q, flag };
}
