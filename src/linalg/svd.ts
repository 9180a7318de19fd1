// Dense SVDs on the GPU by one-sided Jacobi (shaders/jacobi.wgsl), f32:
//   smallSvd(ctx, C [q, n], {keep})  → { U [q, keep], S [keep], Vt [keep, n] }   (no readback)
//       the rSVD's small SVD: all sweeps inside one workgroup (q ≲ 128 rows, n up to thousands).
//       Cost ≈ 5·q²·n flops per sweep (3 dot products + 2 row rotations per pair; Û adds 4q per
//       pair), typically 6–10 sweeps; q − 1 barriers per sweep.
//   exactSvd(ctx, W [m, n], {keep, method}) → Promise<{ U [m, k], S [k], Vt [k, n], sweeps,
//       converged }>, k = keep ?? min(m, n): Jacobi on the rows of the smaller side (W, or Wᵀ when
//       m > n). method 'workgroup' runs smallSvd's kernel; 'rounds' dispatches one round of
//       disjoint pairs at a time with a workgroup per pair and reads one u32 per sweep to stop.
//       'auto' takes 'workgroup' on software adapters and up to 128 rows, else 'rounds'.
//       Cost ≈ 5·s²·l flops per sweep (s = min(m, n), l = max(m, n)), 8–12 sweeps; s ≤ 1024.
//       Measured on SwiftShader (2 cores, one workgroup ≈ 85 MFLOP/s): 90×90 0.9 s, 128×768
//       8.6 s, 256×256 ~10 s; 'rounds' costs ~20 ms per dispatch there (90×90: 20 s).
//   singularValues(ctx, W) → Promise<GpuTensor [min(m, n)]> (descending; no vectors, so about
//       40 % cheaper). W may be a batch [L, m, n] of one shape: S [L, min(m, n)] from one set of
//       dispatches (one workgroup per matrix, or per pair and matrix with 'rounds'), and one
//       status read per sweep for the whole batch.
// A matrix whose smaller side is over 1024 is refused (jacobi_extract's workgroup arrays) with a
// message that names the caller's `purpose` (e.g. "QPiSSA's init of model.layers.0.mlp.up_proj"),
// so the user learns what asked for it and what to change; norms.ts's nuclear norm never asks
// for one that large (it estimates instead).
// σ descending; for a zero σ the Vᵀ row (or U column, for m > n) is zero, not completed to an
// orthonormal set. Accuracy: |σ_i − σ_i(exact)| ≲ 1e-6·σ_1 (f32), reconstruction ~1e-6 relative.

import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import {
  JACOBI_MAX_ROWS,
  jacobiExtract,
  jacobiInit,
  jacobiReset,
  jacobiRound,
  jacobiRounds,
  jacobiSweeps,
  jacobiWorkspace,
  releaseJacobiWorkspace,
  type JacobiWorkspace,
} from '../kernels/jacobi';

/** Sweeps before giving up (convergence is quadratic; 6–12 is typical in f32). */
export const DEFAULT_MAX_SWEEPS = 30;

export interface SvdResult {
  readonly U: GpuTensor;
  readonly S: GpuTensor;
  readonly Vt: GpuTensor;
}

export interface ExactSvdResult extends SvdResult {
  /** Sweeps run, and whether the last one made no rotation. */
  readonly sweeps: number;
  readonly converged: boolean;
}

export type JacobiMethod = 'auto' | 'workgroup' | 'rounds';

export interface SvdOptions {
  /** Singular triplets to return (default: all). */
  readonly keep?: number;
  readonly maxSweeps?: number;
  readonly method?: JacobiMethod;
  /** What the SVD is for, as the user would name it (starts the refusal message of a too-large matrix). */
  readonly purpose?: string;
}

/** C [q, n] = U diag(S) Vt with U [q, keep], S [keep], Vt [keep, n]; one workgroup, no readback. */
export function smallSvd(ctx: GpuContext, C: GpuTensor, options: SvdOptions = {}): SvdResult {
  const w = jacobiWorkspace(ctx, C, { keep: options.keep });
  jacobiInit(ctx, w);
  jacobiSweeps(ctx, w, options.maxSweeps ?? DEFAULT_MAX_SWEEPS);
  jacobiExtract(ctx, w);
  releaseJacobiWorkspace(ctx, w, [w.U, w.S, w.Vt]);
  return { U: w.U, S: w.S, Vt: w.Vt };
}

async function runSweeps(ctx: GpuContext, w: JacobiWorkspace, method: JacobiMethod, maxSweeps: number): Promise<{ sweeps: number; converged: boolean }> {
  jacobiInit(ctx, w);
  // SwiftShader pays ~20 ms per dispatch, so one workgroup wins there at every size; a GPU
  // prefers a workgroup per pair once there are enough pairs to fill it.
  const useGroup = method === 'workgroup' || (method === 'auto' && (ctx.info.isSoftware || w.q <= 128));
  // status [batch, 4]: the batch has converged when every matrix has.
  const words = (status: Uint32Array, k: number) => Array.from({ length: w.batch }, (_, b) => status[4 * b + k]!);
  if (useGroup) {
    jacobiSweeps(ctx, w, maxSweeps);
    const status = await ctx.readU32(w.status);
    return { sweeps: Math.max(...words(status, 1)), converged: words(status, 2).every((c) => c === 1) };
  }
  const rounds = jacobiRounds(w.q);
  for (let sweep = 1; sweep <= maxSweeps; sweep++) {
    for (let r = 0; r < rounds; r++) jacobiRound(ctx, w, r);
    const rotated = words(await ctx.readU32(w.status), 0).reduce((a, b) => a + b, 0);
    if (rotated === 0) return { sweeps: sweep, converged: true };
    jacobiReset(ctx, w);
  }
  return { sweeps: maxSweeps, converged: false };
}

function shapeOf(W: GpuTensor, kernel: string, purpose: string | undefined, batched = false): [number, number] {
  const ok = W.dtype === 'f32' && (W.shape.length === 2 || (batched && W.shape.length === 3));
  if (!ok) throw new GpuError(`W must be an f32 matrix [m, n]${batched ? ' or a batch [L, m, n]' : ''}`, kernel, W.describe());
  const [m, n] = W.shape.slice(-2) as [number, number];
  if (Math.min(m, n) > JACOBI_MAX_ROWS) {
    const limit = `the exact SVD (one-sided Jacobi) takes matrices whose smaller side is at most ${JACOBI_MAX_ROWS}, and this one is ${m} × ${n}; the randomized SVD has no such limit`;
    throw new GpuError(purpose ? `${purpose}: ${limit}` : limit.charAt(0).toUpperCase() + limit.slice(1), kernel, W.describe());
  }
  return [m, n];
}

/** W [m, n] = U diag(S) Vt, U [m, k], S [k], Vt [k, n], k = keep ?? min(m, n). */
export async function exactSvd(ctx: GpuContext, W: GpuTensor, options: SvdOptions = {}): Promise<ExactSvdResult> {
  const [m, n] = shapeOf(W, 'exactSvd', options.purpose);
  const w = jacobiWorkspace(ctx, W, { keep: options.keep, transposed: m > n });
  const { sweeps, converged } = await runSweeps(ctx, w, options.method ?? 'auto', options.maxSweeps ?? DEFAULT_MAX_SWEEPS);
  jacobiExtract(ctx, w);
  // transposed: the workspace's U [m, k] holds W's U (= Ṽ of Wᵀ), its Vt [k, n] holds W's Vᵀ.
  releaseJacobiWorkspace(ctx, w, [w.U, w.S, w.Vt]);
  return { U: w.U, S: w.S, Vt: w.Vt, sweeps, converged };
}

/** σ(W) descending, [min(m, n)] (or [L, min(m, n)] for a batch W [L, m, n]), without singular vectors. */
export async function singularValues(ctx: GpuContext, W: GpuTensor, options: Omit<SvdOptions, 'keep'> = {}): Promise<GpuTensor> {
  const [m, n] = shapeOf(W, 'singularValues', options.purpose, true);
  const w = jacobiWorkspace(ctx, W, { transposed: m > n, wantU: false });
  await runSweeps(ctx, w, options.method ?? 'auto', options.maxSweeps ?? DEFAULT_MAX_SWEEPS);
  jacobiExtract(ctx, w);
  releaseJacobiWorkspace(ctx, w, [w.S]);
  return w.S;
}
