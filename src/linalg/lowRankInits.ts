// Residual low-rank inits beyond PiSSA (ADAPTERS.md "More methods"). Each gives A [r, in],
// B [out, r] and the frozen residual W_res = W − s·B·A (computed from the factors, so the model
// starts exactly at W up to f32 rounding). PEFT's code (src/peft/tuners/lora/layer.py) is the
// reference; what differs is said where it happens.
//   OLoRA   thin QR W = Q R: B = Q[:, :r], A = R[:r, :] (olora_init; no division by s).
//           R = QᵀW for a reduced QR, and Q[:, :r] spans W's first r columns, so only those are
//           orthonormalized: B = orth(W[:, :r]), A = Bᵀ W. CholeskyQR2 makes diag(R) positive;
//           LAPACK's Householder QR may flip the sign of a column of B and the matching row of
//           A. B·A is the same, and so is training (the loss and AdamW are symmetric under it).
//   MiLoRA  PiSSA's split of the r SMALLEST singular triplets: σ' = σ/s, B = U diag(√σ'),
//           A = diag(√σ') Vᵀ (official svd_init.py, mode "min"). Needs the full exact SVD.
//   CorDA   SVD of W C_fix = U Σ Vᵀ (C_fix the damped input covariance, covariance.ts), so
//           W = U Σ (Vᵀ C_fix⁻¹); IPM takes the top r triplets, KPM the bottom r;
//           B = U diag(√σ'), A = diag(√σ') (Vᵀ C_fix⁻¹) (corda_init; σ' = σ/s). Exact SVD, as PEFT.
//   LoRA-GA mean gradient G = U S Vᵀ (randomized SVD, q = min(4r, out, in), niter 4, as both the
//           official code and PEFT); A and B from disjoint triplets of the first 2r (direction),
//           scaled (scale): loragaIndices, loragaScales.
// The exact SVD is one-sided Jacobi (svd.ts): min(out, in) ≤ EXACT_SVD_MAX_SIDE, and slow for
// wide layers on software adapters (128×768 ≈ 9 s on SwiftShader).

import type { GpuTensor } from '../gpu/tensor';
import { JACOBI_MAX_ROWS } from '../kernels/jacobi';
import { matmul, matmulInto } from '../kernels/matmul';
import { copyColumns } from '../kernels/slice';
import { Tensor } from '../tensor/tensor';
import { gpuContextOf } from '../tensor/gpuContextOf';
import type { Runtime } from '../tensor/values';
import { dampedCholesky, solveRows } from './covariance';
import { subtractProduct, type LowRankInit } from './principal';
import { orthonormalize } from './qr';
import { randomizedSvd } from './rsvd';
import { exactSvd } from './svd';
import { InputError, UnsupportedError } from '../errors';

/** The largest min(out, in) the exact SVD takes. */
export const EXACT_SVD_MAX_SIDE = JACOBI_MAX_ROWS;

/** Selection-and-scale matrix P [k, r]: P[idx_j, j] = d_j. */
function picker(rt: Runtime, k: number, idx: readonly number[], d: readonly number[]): GpuTensor {
  const r = idx.length;
  const p = new Float32Array(k * r);
  idx.forEach((i, j) => (p[i * r + j] = d[j]!));
  return rt.uploadF32(p, [k, r], 'picker');
}

/** X [m, k] → [m, r] whose column j is d_j · X[:, idx_j]. */
export function pickColumns(rt: Runtime, X: GpuTensor, idx: readonly number[], d: readonly number[], what: string): GpuTensor {
  const ctx = gpuContextOf(rt);
  const P = picker(rt, X.shape[1]!, idx, d);
  const out = matmulInto(ctx, X, P, rt.empty([X.shape[0]!, idx.length], 'f32', what));
  rt.release(P);
  return out;
}

/** Y [k, n] → [r, n] whose row j is d_j · Y[idx_j, :]. */
export function pickRows(rt: Runtime, Y: GpuTensor, idx: readonly number[], d: readonly number[], what: string): GpuTensor {
  const ctx = gpuContextOf(rt);
  const P = picker(rt, Y.shape[0]!, idx, d);
  const out = matmulInto(ctx, P, Y, rt.empty([idx.length, Y.shape[1]!], 'f32', what), { transA: true });
  rt.release(P);
  return out;
}

export interface Triplets {
  /** [m, k] */
  readonly U: GpuTensor;
  /** [k] on the host, descending */
  readonly sigma: Float32Array;
  /** [k, n] */
  readonly Vt: GpuTensor;
}

/** All k = min(m, n) singular triplets by the exact SVD, or a clear refusal past its size. */
export async function fullSvd(rt: Runtime, M: GpuTensor, what: string): Promise<Triplets> {
  const ctx = gpuContextOf(rt);
  const [m, n] = M.shape as [number, number];
  if (Math.min(m, n) > EXACT_SVD_MAX_SIDE)
    throw new UnsupportedError(`${what}: needs an exact SVD, which takes min(out, in) ≤ ${EXACT_SVD_MAX_SIDE}; this matrix is [${m}, ${n}]`);
  const { U, S, Vt } = await exactSvd(ctx, M);
  const sigma = await rt.read(S);
  rt.release(S);
  return { U, sigma, Vt };
}

/** The first r (`top`) or last r (`bottom`) indices of k. */
export function spectrumEnd(k: number, r: number, end: 'top' | 'bottom'): number[] {
  return Array.from({ length: r }, (_, j) => (end === 'top' ? j : k - r + j));
}

function leaves(name: string, A: GpuTensor, B: GpuTensor, residual: GpuTensor, sigma: Float32Array): LowRankInit {
  return {
    A: Tensor.leaf(A, true, `${name}.lora_A`),
    B: Tensor.leaf(B, true, `${name}.lora_B`),
    residual: Tensor.leaf(residual, false, `${name}.weight`),
    sigma,
  };
}

/** PiSSA's split of the triplets `idx`: B = U diag(√σ'), A = diag(√σ') Vᵀ, σ' = σ/s; W_res = W − sBA. */
export function splitTriplets(rt: Runtime, W: Tensor, t: Triplets, idx: readonly number[], scaling: number, name: string): LowRankInit {
  const root = idx.map((i) => Math.sqrt(Math.max(t.sigma[i]!, 0) / scaling));
  const B = pickColumns(rt, t.U, idx, root, `${name}.lora_B`);
  const A = pickRows(rt, t.Vt, idx, root, `${name}.lora_A`);
  const residual = subtractProduct(rt, W.data, B, A, scaling, `${name}.residual`);
  return leaves(
    name,
    A,
    B,
    residual,
    Float32Array.from(idx, (i) => t.sigma[i]!),
  );
}

/** OLoRA: B = orth(W[:, :r]) = Q[:, :r], A = BᵀW = R[:r, :]. Needs r ≤ min(out, in). */
export function oloraInit(rt: Runtime, W: Tensor, scaling: number, rank: number, name: string): LowRankInit {
  const ctx = gpuContextOf(rt);
  const [out, inF] = W.shape as [number, number];
  if (rank > Math.min(out, inF)) throw new InputError(`${name}: OLoRA needs r ≤ min(out, in) = ${Math.min(out, inF)}`);
  const first = copyColumns(ctx, W.data, rt.empty([out, rank], 'f32', 'W[:, :r]'), { srcOffset: 0, dstOffset: 0, width: rank });
  const B = orthonormalize(ctx, first); // [out, r]
  rt.release(first);
  const A = matmulInto(ctx, B, W.data, rt.empty([rank, inF], 'f32', `${name}.lora_A`), { transA: true }); // [r, in]
  const residual = subtractProduct(rt, W.data, B, A, scaling, `${name}.residual`);
  return leaves(name, A, B, residual, new Float32Array(0));
}

/** MiLoRA: the r smallest singular triplets of W, split as PiSSA's. */
export async function miloraInit(rt: Runtime, W: Tensor, scaling: number, rank: number, name: string): Promise<LowRankInit> {
  const t = await fullSvd(rt, W.data, `${name} (MiLoRA)`);
  try {
    return splitTriplets(rt, W, t, spectrumEnd(t.sigma.length, rank, 'bottom'), scaling, name);
  } finally {
    rt.release(t.U, t.Vt);
  }
}

export type CordaMode = 'ipm' | 'kpm';

/** CorDA from the mean input covariance C [in, in]: IPM the top r triplets of W C_fix, KPM the bottom r. */
export async function cordaInit(
  rt: Runtime,
  W: Tensor,
  covariance: Tensor,
  mode: CordaMode,
  scaling: number,
  rank: number,
  name: string,
): Promise<LowRankInit & { damp: number }> {
  const ctx = gpuContextOf(rt);
  const [, inF] = W.shape as [number, number];
  const factor = dampedCholesky(await rt.read(covariance.data), inF);
  const fixed = rt.uploadF32(Float32Array.from(factor.fixed), [inF, inF], 'C_fix');
  const WC = matmul(ctx, W.data, fixed); // [out, in]
  rt.release(fixed);
  const t = await fullSvd(rt, WC, `${name} (CorDA)`).finally(() => rt.release(WC));
  try {
    const idx = spectrumEnd(t.sigma.length, rank, mode === 'ipm' ? 'top' : 'bottom');
    const root = idx.map((i) => Math.sqrt(Math.max(t.sigma[i]!, 0) / scaling));
    // A = diag(√σ') (Vᵀ C_fix⁻¹) for the chosen rows only: r solves against the host Cholesky factor.
    const rows = pickRows(rt, t.Vt, idx, root, 'diag(√σ′) chosen Vᵀ rows');
    const solved = solveRows(factor, await rt.read(rows), rank, inF);
    rt.release(rows);
    const A = rt.uploadF32(Float32Array.from(solved), [rank, inF], `${name}.lora_A`);
    const B = pickColumns(rt, t.U, idx, root, `${name}.lora_B`);
    const residual = subtractProduct(rt, W.data, B, A, scaling, `${name}.residual`);
    return {
      ...leaves(
        name,
        A,
        B,
        residual,
        Float32Array.from(idx, (i) => t.sigma[i]!),
      ),
      damp: factor.damp,
    };
  } finally {
    rt.release(t.U, t.Vt);
  }
}

export type LoraGaDirection = 'ArB2r' | 'A2rBr' | 'ArBr';
export type LoraGaScale = 'stable' | 'unit' | 'gd';
/** 'official': Outsider565/LoRA-GA (the paper); 'peft': PEFT's lora_ga_init. */
export type LoraGaReference = 'official' | 'peft';

export interface LoraGaOptions {
  readonly rank: number;
  readonly direction: LoraGaDirection;
  readonly scale: LoraGaScale;
  /** γ of the stable scale (16 in both codes). */
  readonly gamma: number;
  readonly reference: LoraGaReference;
  /** Power iterations of the randomized SVD (4 in both codes). */
  readonly niter: number;
  readonly seed: number;
}

/**
 * Which of the first 2r triplets of G go to A (rows of Vᵀ) and B (columns of U):
 *   ArB2r (default)  A ← 0..r−1,      B ← r..2r−1      (paper: A = V[:, :r]ᵀ, B = U[:, r:2r])
 *   A2rBr            A ← r..2r−1,     B ← 0..r−1
 *   ArBr             A ← 1, 3, 5, …,  B ← 0, 2, 4, …
 */
export function loragaIndices(direction: LoraGaDirection, r: number): { a: number[]; b: number[] } {
  const range = (start: number, step: number) => Array.from({ length: r }, (_, j) => start + step * j);
  if (direction === 'ArB2r') return { a: range(0, 1), b: range(r, 1) };
  if (direction === 'A2rBr') return { a: range(r, 1), b: range(0, 1) };
  return { a: range(1, 2), b: range(0, 2) };
}

/**
 * Per-row factors of A and per-column factors of B, with c = out^¼/√γ:
 *   official  stable: A·c, B·c;  gd: A/s, B/s;  unit: none. (B, A orthonormal up to the scale.)
 *   peft      B·diag(S_B) first (S_B: G's singular values at B's indices, G the MEAN gradient),
 *             then stable: B·c only;  gd_scale: A/s, B/s;  unit: none.
 */
export function loragaScales(o: LoraGaOptions, out: number, scaling: number, sigmaB: readonly number[]): { a: number[]; b: number[] } {
  const c = out ** 0.25 / Math.sqrt(o.gamma);
  const r = sigmaB.length;
  const a = new Array<number>(r).fill(1);
  const b = o.reference === 'peft' ? [...sigmaB] : new Array<number>(r).fill(1);
  const both = (f: number) => {
    for (let j = 0; j < r; j++) {
      a[j]! *= f;
      b[j]! *= f;
    }
  };
  if (o.scale === 'gd') both(1 / scaling);
  else if (o.scale === 'stable') {
    if (o.reference === 'peft') for (let j = 0; j < r; j++) b[j]! *= c;
    else both(c);
  }
  return { a, b };
}

/** LoRA-GA from the summed gradient of `batches` batches (G = sum / batches, as both codes average). */
export async function loragaInit(
  rt: Runtime,
  W: Tensor,
  gradientSum: GpuTensor,
  batches: number,
  scaling: number,
  o: LoraGaOptions,
  name: string,
): Promise<LowRankInit> {
  const ctx = gpuContextOf(rt);
  const [out, inF] = W.shape as [number, number];
  const r = o.rank;
  if (2 * r > Math.min(out, inF)) throw new InputError(`${name}: LoRA-GA needs 2r ≤ min(out, in) = ${Math.min(out, inF)}`);
  const { U, S, Vt } = randomizedSvd(ctx, gradientSum, { rank: 2 * r, oversample: 2 * r, niter: o.niter, seed: o.seed });
  const sigma = (await rt.read(S)).map((v) => v / batches);
  rt.release(S);
  try {
    const idx = loragaIndices(o.direction, r);
    const d = loragaScales(
      o,
      out,
      scaling,
      idx.b.map((i) => sigma[i]!),
    );
    const A = pickRows(rt, Vt, idx.a, d.a, `${name}.lora_A`);
    const B = pickColumns(rt, U, idx.b, d.b, `${name}.lora_B`);
    const residual = subtractProduct(rt, W.data, B, A, scaling, `${name}.residual`);
    return leaves(name, A, B, residual, sigma);
  } finally {
    rt.release(U, Vt);
  }
}
