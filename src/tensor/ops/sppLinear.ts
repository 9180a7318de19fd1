// SPP's sparsity-preserving adapted linear layer (ADAPTERS.md, SPP):
//   y [N, out] = x [N, in] · W'ᵀ (+ b [out]),  W'_ij = W_ij · (1 + s · Wcol[i] · Wrow[k(i), j]),
//   k(i) = floor(i / (out/16)),  W [out, in] pruned and frozen, Wrow [16, in], Wcol [out]
//   (out % 16 == 0). x may have leading dimensions ([B, T, in]); they are flattened into N.
// Forward and dx form W' entries in registers (kernels/spp.ts); no [out, in] buffer is built per
// step, and a pruned zero of W stays zero in W' whatever Wrow and Wcol hold.
// Backward (G = ∂L/∂y [N, out], D = Gᵀ x never formed):
//   ∂L/∂x = G W';
//   ∂L/∂Wcol[i] = s Σ_j D_ij W_ij Wrow[k(i), j] = s Σ_n G[n, i] Σ_j x[n, j] W_ij Wrow[k(i), j];
//   ∂L/∂Wrow[k, j] = s Σ_{i∈k} D_ij W_ij Wcol[i] = s Σ_n x[n, j] Σ_{i∈k} G[n, i] Wcol[i] W_ij;
//   ∂L/∂b = 1ᵀ G.
// Temporaries in backward: partial sums of ceil(N/32)·out and ceil(N/32)·16·in floats.
// W must not require a gradient (SPP freezes it; a dense ∂L/∂W would defeat the sparse base).
// mergeSpp(rt, W, Wrow, Wcol, s) → W' [out, in] (export, or evaluation without the adapter):
// same formula, +0 exactly wherever W == 0.

import type { GpuTensor } from '../../gpu/tensor';
import { columnSum, mergeSpp as mergeSppKernel, sppForward, sppGradInput, sppGradWcol, sppGradWrow } from '../../kernels/spp';
import type { Graph } from '../graph';
import { gpuContextOf } from '../gpuContextOf';
import type { Runtime } from '../runtime';
import type { Tensor } from '../tensor';
import { InternalError } from '../../errors';

/** W' [out, in] as a new tensor the caller releases. */
export function mergeSpp(rt: Runtime, W: GpuTensor, Wrow: GpuTensor, Wcol: GpuTensor, s: number): GpuTensor {
  return mergeSppKernel(gpuContextOf(rt), W, Wrow, Wcol, s);
}

export function sppLinear(g: Graph, x: Tensor, W: Tensor, Wrow: Tensor, Wcol: Tensor, s: number, bias?: Tensor): Tensor {
  const [outFeatures, inFeatures] = W.shape as [number, number];
  const N = x.data.size / inFeatures;
  if (W.shape.length !== 2 || x.shape[x.shape.length - 1] !== inFeatures || !Number.isInteger(N)) {
    throw new InternalError(`sppLinear: input [${x.shape.join(',')}] does not end in ${inFeatures} (W [${W.shape.join(',')}])`);
  }
  if (W.requiresGrad) throw new InternalError(`sppLinear: the pruned weight W [${W.shape.join(',')}] is frozen and must not require a gradient`);
  const x2 = x.data.view([N, inFeatures]);
  const yData = g.ctx.empty([...x.shape.slice(0, -1), outFeatures], 'f32', 'sppLinear output');
  sppForward(g.ctx, x2, W.data, Wrow.data, Wcol.data, s, bias?.data, yData.view([N, outFeatures]));
  const y = g.output(yData, bias ? [x, Wrow, Wcol, bias] : [x, Wrow, Wcol], 'sppLinear');
  g.record('sppLinear', y, (gy) => {
    const G = gy.view([N, outFeatures]);
    if (x.requiresGrad) {
      const dx = g.ctx.empty(x.shape, 'f32', 'sppLinear dx');
      sppGradInput(g.ctx, G, W.data, Wrow.data, Wcol.data, s, dx.view([N, inFeatures]));
      g.accumulate(x, dx);
    }
    if (Wcol.requiresGrad) {
      if (Wcol.grad) sppGradWcol(g.ctx, x2, G, W.data, Wrow.data, s, { into: Wcol.grad, accumulate: true });
      else g.accumulate(Wcol, sppGradWcol(g.ctx, x2, G, W.data, Wrow.data, s));
    }
    if (Wrow.requiresGrad) {
      if (Wrow.grad) sppGradWrow(g.ctx, x2, G, W.data, Wcol.data, s, { into: Wrow.grad, accumulate: true });
      else g.accumulate(Wrow, sppGradWrow(g.ctx, x2, G, W.data, Wcol.data, s));
    }
    if (bias?.requiresGrad) {
      if (bias.grad) columnSum(g.ctx, G, { into: bias.grad, accumulate: true });
      else g.accumulate(bias, columnSum(g.ctx, G));
    }
  });
  return y;
}
