// Randomized truncated SVD (Halko, Martinsson, Tropp 2011, Alg. 4.4), as PEFT's PiSSA
// `pissa_niter_K` runs it through torch.svd_lowrank (ADAPTERS.md, PiSSA "Fast SVD"):
//   q = min(r + p, m, n)
//   Ω ~ N(0, 1) [n, q]                       (Philox, seed/stream: reproducible)
//   Q = orth(W Ω)                            [m, q]
//   K times { Q' = orth(Wᵀ Q) [n, q];  Q = orth(W Q') [m, q] }
//   C = Qᵀ W                                 [q, n]
//   C = Û diag(σ) Vᵀ                         (one-sided Jacobi, one workgroup)
//   U = Q Û[:, :r] [m, r],  S = σ[:r] [r],  Vt = Vᵀ[:r] [r, n]
// W [m, n] row-major (PyTorch's [out, in]). p = 0 is PEFT's choice (q = r); p = 5..10 is more
// accurate at the same r. Everything stays on the GPU, with no readback (orth's Gram–Schmidt
// fallback is decided on the GPU), so this is synchronous: read the outputs or record more work.
// Cost per call: 2(2K + 2)·m·n·q flops of matmul, 2K + 1 thin QRs of [m or n, q], and the small
// SVD (≈ 5 q² n flops per sweep).

import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { matmul, matmulInto } from '../kernels/matmul';
import { randomNormal } from '../kernels/random';
import { orthonormalize } from './qr';
import { smallSvd, type SvdResult } from './svd';

export interface RsvdOptions {
  /** r: singular triplets returned. */
  readonly rank: number;
  /** p: extra sketch columns (default 0, as PEFT). */
  readonly oversample?: number;
  /** K: power iterations (default 2, torch.svd_lowrank's default). */
  readonly niter?: number;
  /** Seed (integer in [0, 2⁵³)) and stream (u32, e.g. the layer index) of Ω. */
  readonly seed: number;
  readonly stream?: number;
}

export interface RsvdResult extends SvdResult {
  /** Sketch width used, min(r + p, m, n). */
  readonly q: number;
}

/** W ≈ U diag(S) Vt with U [m, r], S [r] (descending), Vt [r, n]. */
export function randomizedSvd(ctx: GpuContext, W: GpuTensor, options: RsvdOptions): RsvdResult {
  const { rank: r, oversample = 0, niter = 2, seed, stream = 0 } = options;
  if (W.shape.length !== 2 || W.dtype !== 'f32') throw new GpuError('W must be an f32 matrix [m, n]', 'randomizedSvd', W.describe());
  const [m, n] = W.shape as [number, number];
  const label = `W ${W.describe()}, rank ${r}, oversample ${oversample}, niter ${niter}`;
  if (!Number.isInteger(r) || r < 1 || r > Math.min(m, n)) throw new GpuError(`rank must be in [1, min(m, n) = ${Math.min(m, n)}]`, 'randomizedSvd', label);
  if (!Number.isInteger(oversample) || oversample < 0) throw new GpuError('oversample must be a non-negative integer', 'randomizedSvd', label);
  if (!Number.isInteger(niter) || niter < 0) throw new GpuError('niter must be a non-negative integer', 'randomizedSvd', label);
  const q = Math.min(r + oversample, m, n);

  const omega = randomNormal(ctx, [n, q], seed, stream); // Ω [n, q]
  const Y = matmul(ctx, W, omega); // [m, q]
  ctx.release(omega);
  let Q = orthonormalize(ctx, Y); // [m, q]
  const Z = ctx.empty([n, q], 'f32', 'rsvd WᵀQ'); // [n, q]
  for (let k = 0; k < niter; k++) {
    matmulInto(ctx, W, Q, Z, { transA: true });
    ctx.release(Q);
    const Qn = orthonormalize(ctx, Z); // [n, q]
    matmulInto(ctx, W, Qn, Y);
    ctx.release(Qn);
    Q = orthonormalize(ctx, Y);
  }
  ctx.release(Y, Z);
  const C = matmul(ctx, Q, W, { transA: true }); // [q, n]
  const small = smallSvd(ctx, C, { keep: r }); // Û [q, r], S [r], Vt [r, n]
  ctx.release(C);
  const U = matmul(ctx, Q, small.U); // [m, r]
  ctx.release(Q, small.U);
  return { U, S: small.S, Vt: small.Vt, q };
}
