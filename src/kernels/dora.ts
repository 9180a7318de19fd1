// Wrapper of shaders/dora.wgsl and the row norms DoRA needs (Liu et al. 2024, eq. 5):
//   W' = diag(m / ‖W + sBA‖_row) (W + sBA),  W [out, in], A [r, in], B [out, r], m [out].
//
//   doraNormSq(ctx, W, A, B, s, wsq) → [out]: ‖W_i + s(BA)_i‖², WITHOUT forming W + sBA:
//     ‖w_i + s b_i A‖² = ‖w_i‖² + 2s b_i·(A w_iᵀ) + s² b_i (A Aᵀ) b_iᵀ
//                      = wsq_i + 2s Σ_k B_ik (P_ik + (s/2) (B Γ)_ik),   P = W Aᵀ [out, r], Γ = A Aᵀ [r, r]
//     (matmuls of out·in·r and r²·in, temporaries of [out, r] and [r, r], released here).
//     With B = 0 the sum adds an exact 0, so the result is wsq bit for bit (DoRA's exact start).
//   doraNorm(ctx, v) → √v                        (m's init from wsq = rowSumSquares(W))
//   doraOverNorm(ctx, w, v, unitWhenEqual) → w / √v, exactly 1 where w == √v if asked
//   scaleRowsInPlace(ctx, X [R, C], v [R]) → X ← diag(v) X (the merge)

import source from '../../shaders/dora.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { ELEMENTWISE_WORKGROUP_SIZE, axpy, copy, gridFor, mulInto } from './elementwise';
import { matmulInto } from './matmul';
import { rowSum } from './reduce';

const shader = defineShader('dora-norms', source);

function vector(kernel: string, name: string, t: GpuTensor, n: number): void {
  if (t.dtype !== 'f32' || t.size !== n) throw new GpuError(`${name} must be f32 with ${n} elements`, kernel, `${name} ${t.describe()}`);
}

function rowKernel(
  ctx: GpuContext,
  entryPoint: string,
  v: GpuTensor,
  w: GpuTensor | undefined,
  dst: GpuTensor,
  cols: number,
  unitWhenEqual: boolean,
): GpuTensor {
  ctx.dispatch({
    shader,
    entryPoint,
    constants: { WG: ELEMENTWISE_WORKGROUP_SIZE, UNIT_WHEN_EQUAL: unitWhenEqual },
    bindings: { v, w: w ?? ctx.placeholder(), dst },
    params: { n: dst.size, cols },
    workgroups: gridFor(ctx, dst.size, ELEMENTWISE_WORKGROUP_SIZE),
    label: `${entryPoint} ${dst.describe()}`,
    cost: { flops: 2 * dst.size, bytes: 4 * (v.size + (w?.size ?? 0) + 2 * dst.size) },
  });
  return dst;
}

/** ‖W_i + s(BA)_i‖² for every row i, from wsq = ‖W_i‖² and the factors (see the header). */
export function doraNormSq(ctx: GpuContext, W: GpuTensor, A: GpuTensor, B: GpuTensor, s: number, wsq: GpuTensor): GpuTensor {
  const [out, inF] = W.shape as [number, number];
  const r = A.shape[0]!;
  const shapes = `W ${W.describe()}, A ${A.describe()}, B ${B.describe()}, wsq ${wsq.describe()}`;
  if (W.shape.length !== 2 || A.shape.length !== 2 || A.shape[1] !== inF || B.shape.length !== 2 || B.shape[0] !== out || B.shape[1] !== r) {
    throw new GpuError('shapes must be W [out, in], A [r, in], B [out, r]', 'doraNormSq', shapes);
  }
  vector('doraNormSq', 'wsq', wsq, out);
  const P = matmulInto(ctx, W, A, ctx.empty([out, r], 'f32', 'DoRA W·Aᵀ'), { transB: true });
  const gram = matmulInto(ctx, A, A, ctx.empty([r, r], 'f32', 'DoRA A·Aᵀ'), { transB: true });
  matmulInto(ctx, B, gram, P, { alpha: s / 2, accumulate: true }); // P + (s/2)·B Γ
  mulInto(ctx, P, B, P); // B ⊙ (P + (s/2)·B Γ)
  const t = rowSum(ctx, P);
  const nsq = copy(ctx, wsq, ctx.empty([out], 'f32', 'DoRA ‖W + sBA‖²'));
  axpy(ctx, 2 * s, t, nsq);
  ctx.release(P, gram, t);
  return nsq;
}

/** √max(v, 0), a new tensor. */
export function doraNorm(ctx: GpuContext, v: GpuTensor): GpuTensor {
  return rowKernel(ctx, 'dora_norm', v, undefined, ctx.empty(v.shape, 'f32', 'DoRA row norm'), 1, false);
}

/** w / √max(v, 0), a new tensor; with unitWhenEqual, exactly 1 where w equals √v. */
export function doraOverNorm(ctx: GpuContext, w: GpuTensor, v: GpuTensor, unitWhenEqual: boolean): GpuTensor {
  vector('dora_over_norm', 'w', w, v.size);
  return rowKernel(ctx, 'dora_over_norm', v, w, ctx.empty(v.shape, 'f32', 'DoRA w/‖·‖'), 1, unitWhenEqual);
}

/** X [R, C] ← diag(v) X in place (row i times v[i]); returns X. */
export function scaleRowsInPlace(ctx: GpuContext, X: GpuTensor, v: GpuTensor): GpuTensor {
  if (X.shape.length !== 2) throw new GpuError('X must be [R, C]', 'dora_scale_rows', `X ${X.describe()}`);
  const [R, C] = X.shape as [number, number];
  vector('dora_scale_rows', 'v', v, R);
  if (v.buffer === X.buffer) throw new GpuError('v must not alias X', 'dora_scale_rows', `X ${X.describe()}`);
  return rowKernel(ctx, 'dora_scale_rows', v, undefined, X, Math.max(C, 1), false);
}
