// Adapter inits built on the SVD (ADAPTERS.md), as tensor-level functions so the adapter code
// above never handles GPU arrays:
//   principal factors  W ≈ U_r diag(σ_r) V_rᵀ   (randomized SVD, PEFT's niter, optional
//                      oversampling; or exact one-sided Jacobi)
//   PiSSA              σ' = σ_r/s, A = diag(√σ') V_rᵀ [r, in], B = U_r diag(√σ') [out, r],
//                      W_res = W − s·B A  (computed from the factors, so W_res + sBA == W
//                      up to f32 rounding even when the SVD is approximate)
//   SORSA              B = U_r, S = σ_r, A = V_rᵀ, W_res = W − s·B diag(S) A
// Nothing is read back: the diagonals (√σ', σ) are formed on the GPU from S (kernels/diagonal.ts)
// and applied by matmul, so an init records its kernels and returns, and a method's layers are
// recorded back to back while the GPU works (no per-layer round trip on the init path).
// An exact SVD (`exact`) that refuses a matrix names `purpose` (e.g. "PiSSA's init of <layer>").

import type { GpuTensor } from '../gpu/tensor';
import { diagonalFrom } from '../kernels/diagonal';
import { copy, signScaledInto } from '../kernels/elementwise';
import { matmulInto } from '../kernels/matmul';
import { Tensor } from '../tensor/tensor';
import { gpuContextOf } from '../tensor/gpuContextOf';
import type { Runtime } from '../tensor/values';
import { randomizedSvd } from './rsvd';
import { exactSvd } from './svd';

export interface SvdSettings {
  readonly rank: number;
  /** Power iterations (PEFT's pissa_niter_K). */
  readonly niter: number;
  /** Extra sketch columns (0 = PEFT). */
  readonly oversample: number;
  readonly exact: boolean;
  readonly seed: number;
  /** What the SVD is for, as the user would name it (an exact SVD's refusal starts with it). */
  readonly purpose?: string;
}

export interface Principal {
  /** [out, r] */
  readonly U: GpuTensor;
  /** [r] on the GPU, descending */
  readonly S: GpuTensor;
  /** [r, in] */
  readonly Vt: GpuTensor;
}

/** The r principal triplets of W, left on the GPU (the randomized SVD reads nothing back; the exact one reads one status word per batch of sweeps). */
export async function principal(rt: Runtime, W: GpuTensor, s: SvdSettings): Promise<Principal> {
  const ctx = gpuContextOf(rt);
  const [out, inF] = W.shape as [number, number];
  const rank = Math.min(s.rank, out, inF);
  return s.exact
    ? exactSvd(ctx, W, { keep: rank, purpose: s.purpose })
    : randomizedSvd(ctx, W, { rank, niter: s.niter, oversample: s.oversample, seed: s.seed });
}

/** X [m, r] · D, into a new tensor. */
function timesDiagonal(rt: Runtime, X: GpuTensor, D: GpuTensor, what: string): GpuTensor {
  const ctx = gpuContextOf(rt);
  return matmulInto(ctx, X, D, rt.empty(X.shape, 'f32', what));
}

/** D · X [r, n], into a new tensor. */
function diagonalTimes(rt: Runtime, D: GpuTensor, X: GpuTensor, what: string): GpuTensor {
  const ctx = gpuContextOf(rt);
  return matmulInto(ctx, D, X, rt.empty(X.shape, 'f32', what));
}

/**
 * PiSSA's factors of W: with σ' = σ_r/s, A = diag(√σ') V_rᵀ [r, in] and B = U_r diag(√σ') [out, r]
 * (so s·B·A = U_r diag(σ_r) V_rᵀ), all on the GPU.
 */
export async function principalFactors(rt: Runtime, W: GpuTensor, scaling: number, svd: SvdSettings): Promise<{ A: GpuTensor; B: GpuTensor }> {
  const ctx = gpuContextOf(rt);
  const { U, S, Vt } = await principal(rt, W, svd);
  const D = diagonalFrom(ctx, S, { divisor: scaling, power: 0.5 }, 'diag √(σ/s)');
  const A = diagonalTimes(rt, D, Vt, 'A');
  const B = timesDiagonal(rt, U, D, 'B');
  rt.release(U, S, Vt, D);
  return { A, B };
}

/** W − s · B · A (B [out, r], A [r, in]) as a new tensor. */
export function subtractProduct(rt: Runtime, W: GpuTensor, B: GpuTensor, A: GpuTensor, s: number, what: string): GpuTensor {
  const ctx = gpuContextOf(rt);
  const out = copy(ctx, W, rt.empty(W.shape, 'f32', what));
  return matmulInto(ctx, B, A, out, { alpha: -s, accumulate: true });
}

export interface LowRankInit {
  readonly A: Tensor;
  readonly B: Tensor;
  readonly S?: Tensor;
  /** The frozen base that replaces W. */
  readonly residual: Tensor;
  /** The singular values used, on the host, where an init read them (the SVD-split inits of lowRankInits.ts). */
  readonly sigma?: Float32Array;
}

export async function pissaInit(rt: Runtime, W: Tensor, scaling: number, svd: SvdSettings, name: string): Promise<LowRankInit> {
  const { A, B } = await principalFactors(rt, W.data, scaling, { purpose: `PiSSA's init of ${name}`, ...svd });
  const residual = subtractProduct(rt, W.data, B, A, scaling, `${name}.residual`);
  return { A: Tensor.leaf(A, true, `${name}.lora_A`), B: Tensor.leaf(B, true, `${name}.lora_B`), residual: Tensor.leaf(residual, false, `${name}.weight`) };
}

export async function sorsaInit(rt: Runtime, W: Tensor, scaling: number, svd: SvdSettings, name: string): Promise<LowRankInit> {
  const ctx = gpuContextOf(rt);
  const { U, S, Vt } = await principal(rt, W.data, { purpose: `SORSA's init of ${name}`, ...svd });
  const D = diagonalFrom(ctx, S, {}, 'diag(S)');
  const US = timesDiagonal(rt, U, D, 'U·diag(S)');
  rt.release(D);
  const residual = subtractProduct(rt, W.data, US, Vt, scaling, `${name}.residual`);
  rt.release(US);
  return {
    A: Tensor.leaf(Vt, true, `${name}.sorsa_A`),
    B: Tensor.leaf(U, true, `${name}.sorsa_B`),
    S: Tensor.leaf(S, true, `${name}.sorsa_S`),
    residual: Tensor.leaf(residual, false, `${name}.weight`),
  };
}

/**
 * LoRA-SB: from the summed first-step gradient G [out, in] of a dense weight,
 * ΔW = −η · sign(G) (Adam's first step), truncated by SVD to U_r diag(σ_r) V_rᵀ;
 * B = U_r [out, r] and A = V_rᵀ [r, in] frozen, R = diag(σ_r) [r, r] trainable.
 */
export async function lorasbInit(rt: Runtime, gradient: GpuTensor, eta: number, svd: SvdSettings, name: string): Promise<{ A: Tensor; B: Tensor; R: Tensor }> {
  const ctx = gpuContextOf(rt);
  const delta = signScaledInto(ctx, rt.empty(gradient.shape, 'f32', 'LoRA-SB ΔW'), gradient, -eta);
  const { U, S, Vt } = await principal(rt, delta, { purpose: `LoRA-SB's init of ${name}`, ...svd });
  rt.release(delta);
  const R = diagonalFrom(ctx, S, {}, `${name}.lorasb_R`);
  rt.release(S);
  return { A: Tensor.leaf(Vt, false, `${name}.lorasb_A`), B: Tensor.leaf(U, false, `${name}.lorasb_B`), R: Tensor.leaf(R, true, `${name}.lorasb_R`) };
}
