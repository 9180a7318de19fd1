// A dense weight plus a product with diagonal scalings on both sides, for merges and effective
// weights (VeRA's W + diag(b) B diag(d) A; PEFT tuners/vera/layer.py get_delta_weight):
//   W [out, in], b [out], B [out, r], d [r], A [r, in]  →  W + diag(b) B diag(d) A  [out, in]
// computed as M = (b dᵀ) ⊙ B [out, r] (the outer product is a K = 1 matmul), then W + M A.
// No autograd: a new f32 tensor the caller releases. W must be f32 (expand packed ones first).

import type { GpuTensor } from '../../gpu/tensor';
import { copy, mulInto } from '../../kernels/elementwise';
import { matmulInto } from '../../kernels/matmul';
import { gpuContextOf } from '../gpuContextOf';
import type { Runtime } from '../runtime';

export function mergeScaledProduct(rt: Runtime, W: GpuTensor, b: GpuTensor, B: GpuTensor, d: GpuTensor, A: GpuTensor, name: string): GpuTensor {
  const ctx = gpuContextOf(rt);
  const [out = 0, r = 0] = B.shape;
  const M = matmulInto(ctx, b.view([out, 1]), d.view([1, r]), ctx.empty([out, r], 'f32', 'b dᵀ'));
  mulInto(ctx, M, M, B);
  const merged = copy(ctx, W, ctx.empty(W.shape, 'f32', name));
  matmulInto(ctx, M, A, merged, { accumulate: true });
  ctx.release(M);
  return merged;
}
