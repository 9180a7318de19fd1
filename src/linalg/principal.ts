// Adapter inits built on the SVD (ADAPTERS.md), as tensor-level functions so the adapter code
// above never handles GPU arrays:
//   principal factors  W ≈ U_r diag(σ_r) V_rᵀ   (randomized SVD, PEFT's niter, optional
//                      oversampling; or exact one-sided Jacobi)
//   PiSSA              σ' = σ_r/s, A = diag(√σ') V_rᵀ [r, in], B = U_r diag(√σ') [out, r],
//                      W_res = W − s·B A  (computed from the factors, so W_res + sBA == W
//                      up to f32 rounding even when the SVD is approximate)
//   SORSA              B = U_r, S = σ_r, A = V_rᵀ, W_res = W − s·B diag(S) A
// The r singular values are read back (r floats, init only) to form the small diagonals on
// the CPU; every [out, in]-sized product stays on the GPU.

import type { GpuTensor } from '../gpu/tensor';
import { copy, signScaledInto } from '../kernels/elementwise';
import { matmulInto } from '../kernels/matmul';
import { Tensor } from '../tensor/tensor';
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
}

export interface Principal {
  /** [out, r] */
  readonly U: GpuTensor;
  /** [r] on the host, descending */
  readonly sigma: Float32Array;
  /** [r, in] */
  readonly Vt: GpuTensor;
}

export async function principal(rt: Runtime, W: GpuTensor, s: SvdSettings): Promise<Principal> {
  const [out, inF] = W.shape as [number, number];
  const rank = Math.min(s.rank, out, inF);
  const { U, S, Vt } = s.exact ? await exactSvd(rt, W, { keep: rank }) : randomizedSvd(rt, W, { rank, niter: s.niter, oversample: s.oversample, seed: s.seed });
  const sigma = await rt.read(S);
  rt.release(S);
  return { U, sigma, Vt };
}

function diagonal(rt: Runtime, d: ArrayLike<number>): GpuTensor {
  const r = d.length;
  const m = new Float32Array(r * r);
  for (let i = 0; i < r; i++) m[i * r + i] = d[i]!;
  return rt.uploadF32(m, [r, r], 'diagonal');
}

/** X [m, r] · diag(d), into a new tensor. */
function scaleColumns(rt: Runtime, X: GpuTensor, d: ArrayLike<number>, what: string): GpuTensor {
  const D = diagonal(rt, d);
  const out = matmulInto(rt, X, D, rt.empty(X.shape, 'f32', what));
  rt.release(D);
  return out;
}

/** diag(d) · X [r, n], into a new tensor. */
function scaleRows(rt: Runtime, X: GpuTensor, d: ArrayLike<number>, what: string): GpuTensor {
  const D = diagonal(rt, d);
  const out = matmulInto(rt, D, X, rt.empty(X.shape, 'f32', what));
  rt.release(D);
  return out;
}

/** W − s · B · A (B [out, r], A [r, in]) as a new tensor. */
export function subtractProduct(rt: Runtime, W: GpuTensor, B: GpuTensor, A: GpuTensor, s: number, what: string): GpuTensor {
  const out = copy(rt, W, rt.empty(W.shape, 'f32', what));
  return matmulInto(rt, B, A, out, { alpha: -s, accumulate: true });
}

export interface LowRankInit {
  readonly A: Tensor;
  readonly B: Tensor;
  readonly S?: Tensor;
  /** The frozen base that replaces W. */
  readonly residual: Tensor;
  readonly sigma: Float32Array;
}

export async function pissaInit(rt: Runtime, W: Tensor, scaling: number, svd: SvdSettings, name: string): Promise<LowRankInit> {
  const { U, sigma, Vt } = await principal(rt, W.data, svd);
  const root = Array.from(sigma, (v) => Math.sqrt(Math.max(v, 0) / scaling));
  const A = scaleRows(rt, Vt, root, `${name}.lora_A`);
  const B = scaleColumns(rt, U, root, `${name}.lora_B`);
  rt.release(U, Vt);
  const residual = subtractProduct(rt, W.data, B, A, scaling, `${name}.residual`);
  return { A: Tensor.leaf(A, true, `${name}.lora_A`), B: Tensor.leaf(B, true, `${name}.lora_B`), residual: Tensor.leaf(residual, false, `${name}.weight`), sigma };
}

export async function sorsaInit(rt: Runtime, W: Tensor, scaling: number, svd: SvdSettings, name: string): Promise<LowRankInit> {
  const { U, sigma, Vt } = await principal(rt, W.data, svd);
  const US = scaleColumns(rt, U, sigma, 'U·diag(S)');
  const residual = subtractProduct(rt, W.data, US, Vt, scaling, `${name}.residual`);
  rt.release(US);
  const S = rt.uploadF32(sigma, [sigma.length], `${name}.sorsa_S`);
  return {
    A: Tensor.leaf(Vt, true, `${name}.sorsa_A`),
    B: Tensor.leaf(U, true, `${name}.sorsa_B`),
    S: Tensor.leaf(S, true, `${name}.sorsa_S`),
    residual: Tensor.leaf(residual, false, `${name}.weight`),
    sigma,
  };
}

/**
 * LoRA-SB: from the summed first-step gradient G [out, in] of a dense weight,
 * ΔW = −η · sign(G) (Adam's first step), truncated by SVD to U_r diag(σ_r) V_rᵀ;
 * B = U_r [out, r] and A = V_rᵀ [r, in] frozen, R = diag(σ_r) [r, r] trainable.
 */
export async function lorasbInit(rt: Runtime, gradient: GpuTensor, eta: number, svd: SvdSettings, name: string): Promise<{ A: Tensor; B: Tensor; R: Tensor; sigma: Float32Array }> {
  const delta = signScaledInto(rt, rt.empty(gradient.shape, 'f32', 'LoRA-SB ΔW'), gradient, -eta);
  const { U, sigma, Vt } = await principal(rt, delta, svd);
  rt.release(delta);
  const R = diagonal(rt, sigma);
  return { A: Tensor.leaf(Vt, false, `${name}.lorasb_A`), B: Tensor.leaf(U, false, `${name}.lorasb_B`), R: Tensor.leaf(R, true, `${name}.lorasb_R`), sigma };
}
