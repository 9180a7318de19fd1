// SORSA's orthonormal regulariser (official code):
//   L_reg = mean over the adapted layers' factors of ‖A Aᵀ − I‖_F and ‖Bᵀ B − I‖_F
// (Frobenius norms, not squared; A [r, in], B [out, r]; 2L terms for L layers).
//   ∂‖E‖_F/∂B = 2 B E / ‖E‖_F with E = BᵀB − I;  ∂‖F‖_F/∂A = 2 F A / ‖F‖_F with F = AAᵀ − I;
// ‖·‖ is taken as √(‖·‖² + ε) so the gradient is defined at init, where E ≈ 0.
// addOrthoGradients adds weight·∂L_reg/∂θ into the factors' gradients on the GPU (no readback);
// orthoDeviation reads L_reg back for the charts.

import type { GpuTensor } from '../gpu/tensor';
import { subInto } from '../kernels/elementwise';
import { matmulInto } from '../kernels/matmul';
import { sumSquares } from '../kernels/reduce';
import { axpyInverseNorm } from '../kernels/scalar';
import type { Tensor } from '../tensor/tensor';
import { gpuContextOf } from '../tensor/gpuContextOf';
import type { Runtime } from '../tensor/values';

export const ORTHO_EPS = 1e-12;

export interface OrthoFactors {
  readonly A: Tensor;
  readonly B: Tensor;
}

function identity(rt: Runtime, r: number): GpuTensor {
  const m = new Float32Array(r * r);
  for (let i = 0; i < r; i++) m[i * r + i] = 1;
  return rt.uploadF32(m, [r, r], 'identity');
}

/** E = Bᵀ B − I for B [out, r] (or F = A Aᵀ − I for A [r, in] with rowsGram). */
function gramMinusIdentity(rt: Runtime, X: GpuTensor, rowsGram: boolean): GpuTensor {
  const ctx = gpuContextOf(rt);
  const r = rowsGram ? X.shape[0]! : X.shape[1]!;
  const E = rt.empty([r, r], 'f32', 'gram − I');
  if (rowsGram) matmulInto(ctx, X, X, E, { transB: true });
  else matmulInto(ctx, X, X, E, { transA: true });
  const I = identity(rt, r);
  subInto(ctx, E, E, I);
  rt.release(I);
  return E;
}

export function addOrthoGradients(rt: Runtime, factors: readonly OrthoFactors[], weight: number): void {
  const ctx = gpuContextOf(rt);
  if (factors.length === 0 || weight === 0) return;
  const coef = (2 * weight) / (2 * factors.length);
  for (const { A, B } of factors) {
    if (B.grad) {
      const E = gramMinusIdentity(rt, B.data, false);
      const ss = sumSquares(ctx, E);
      const BE = matmulInto(ctx, B.data, E, rt.empty(B.shape, 'f32', 'B·E'));
      axpyInverseNorm(ctx, coef, BE, ss, ORTHO_EPS, B.grad);
      rt.release(E, ss, BE);
    }
    if (A.grad) {
      const F = gramMinusIdentity(rt, A.data, true);
      const ss = sumSquares(ctx, F);
      const FA = matmulInto(ctx, F, A.data, rt.empty(A.shape, 'f32', 'F·A'));
      axpyInverseNorm(ctx, coef, FA, ss, ORTHO_EPS, A.grad);
      rt.release(F, ss, FA);
    }
  }
}

/** L_reg as defined above (reads 2L scalars back). */
export async function orthoDeviation(rt: Runtime, factors: readonly OrthoFactors[]): Promise<number> {
  const ctx = gpuContextOf(rt);
  if (factors.length === 0) return 0;
  let total = 0;
  for (const { A, B } of factors) {
    for (const [X, rowsGram] of [
      [A.data, true],
      [B.data, false],
    ] as const) {
      const E = gramMinusIdentity(rt, X, rowsGram);
      const ss = sumSquares(ctx, E);
      const [value] = await rt.read(ss);
      rt.release(E, ss);
      total += Math.sqrt(value! + ORTHO_EPS);
    }
  }
  return total / (2 * factors.length);
}
