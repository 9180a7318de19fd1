// A linear layer whose frozen weight carries a trainable sparse update (SHiRA, ADAPTERS.md):
//   y [N, out] = x [N, in] · (W + ΔW)ᵀ (+ b [out]),
//   ΔW [out, in] zero except ΔW.flat[idx[t]] = values[t], t < k; idx [k] u32 row-major flat
//   positions, distinct. W frozen (never requires a gradient). x may have leading dimensions.
// Backward (G = ∂L/∂y [N, out]):
//   ∂L/∂x = G (W + ΔW);
//   ∂L/∂values[t] = (Gᵀ x)[i_t, j_t] (the dense gradient of W gathered at the mask, computed
//                    directly per entry by kernels/sparseDelta.ts, never as an [out, in] buffer);
//   ∂L/∂b = 1ᵀ G.
// Forward and ∂L/∂x scatter the k values into a dense temporary W' = W + ΔW [out, in] (a copy of
// W, then k writes) and use the dense matmul; the temporary is released right after each use and
// rebuilt in backward rather than held between the two. A sparse kernel would skip that copy of
// out·in floats per use; with k = r(in + out) ≪ out·in it costs about one extra read and write
// of W per forward and per backward.
// mergedSparseDelta(rt, W, values, idx, name) → W + ΔW as a new frozen leaf (merges, exports).

import type { GpuTensor } from '../../gpu/tensor';
import { matmulInto } from '../../kernels/matmul';
import { sparseGradValues, sparseScatterAdd } from '../../kernels/sparseDelta';
import type { Graph } from '../graph';
import { gpuContextOf } from '../gpuContextOf';
import { Tensor } from '../tensor';
import { f32Copy, type Runtime } from '../values';
import { InternalError } from '../../errors';

/** W + ΔW [out, in] as a new GPU array; the caller releases it. */
function mergeSparseDelta(rt: Runtime, W: Tensor, values: Tensor, indices: Tensor): GpuTensor {
  const merged = f32Copy(rt, W, 'W + ΔW (sparse)'); // a packed 16-bit W is expanded exactly
  return sparseScatterAdd(gpuContextOf(rt), merged, values.data, indices.data);
}

/** W + ΔW [out, in] as a new frozen leaf (release it with releaseTensors). */
export function mergedSparseDelta(rt: Runtime, W: Tensor, values: Tensor, indices: Tensor, name: string): Tensor {
  return Tensor.leaf(mergeSparseDelta(rt, W, values, indices), false, name);
}

export function sparseDeltaLinear(g: Graph, x: Tensor, W: Tensor, values: Tensor, indices: Tensor, bias?: Tensor): Tensor {
  const [outFeatures, inFeatures] = W.shape as [number, number];
  const N = x.data.size / inFeatures;
  if (W.shape.length !== 2 || x.shape[x.shape.length - 1] !== inFeatures || !Number.isInteger(N)) {
    throw new InternalError(`sparseDeltaLinear: input [${x.shape.join(',')}] does not end in ${inFeatures} (W [${W.shape.join(',')}])`);
  }
  if (W.requiresGrad) throw new InternalError(`sparseDeltaLinear: W [${W.shape.join(',')}] is frozen and must not require a gradient`);
  if (indices.requiresGrad || indices.data.dtype !== 'u32') throw new InternalError('sparseDeltaLinear: the indices must be a frozen u32 tensor');
  if (values.shape.length !== 1 || indices.shape.length !== 1 || values.shape[0] !== indices.shape[0]) {
    throw new InternalError(`sparseDeltaLinear: values [${values.shape.join(',')}] and indices [${indices.shape.join(',')}] must both be [k]`);
  }
  const x2 = x.data.view([N, inFeatures]);
  const yData = g.ctx.empty([...x.shape.slice(0, -1), outFeatures], 'f32', 'sparseDeltaLinear output');
  const merged = mergeSparseDelta(g.ctx, W, values, indices);
  matmulInto(g.ctx, x2, merged, yData.view([N, outFeatures]), { transB: true, bias: bias?.data });
  g.ctx.release(merged);
  const y = g.output(yData, bias ? [x, values, bias] : [x, values], 'sparseDeltaLinear');
  g.record('sparseDeltaLinear', y, (gy) => {
    const G = gy.view([N, outFeatures]);
    if (x.requiresGrad) {
      const again = mergeSparseDelta(g.ctx, W, values, indices);
      const dx = g.ctx.empty(x.shape, 'f32', 'sparseDeltaLinear dx');
      matmulInto(g.ctx, G, again, dx.view([N, inFeatures]));
      g.ctx.release(again);
      g.accumulate(x, dx);
    }
    if (values.requiresGrad) {
      if (values.grad) sparseGradValues(g.ctx, x2, G, indices.data, outFeatures, { into: values.grad, accumulate: true });
      else g.accumulate(values, sparseGradValues(g.ctx, x2, G, indices.data, outFeatures));
    }
    if (bias?.requiresGrad) {
      const db = g.ctx.empty([outFeatures], 'f32', 'sparseDeltaLinear db');
      matmulInto(g.ctx, g.ones(N), G, db.view([1, outFeatures]));
      g.accumulate(bias, db);
    }
  });
  return y;
}
