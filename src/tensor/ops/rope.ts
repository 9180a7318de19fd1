// Rotary position embedding (Su et al. 2021, RoFormer eq. 34) in the Hugging Face rotate-half
// layout: x [B, T, heads*headDim] → y [B, T, heads*headDim]; for each head and i < D/2,
//   y[i] = x[i]·cos(pos·θ^(−2i/D)) − x[i+D/2]·sin(…),  y[i+D/2] = x[i+D/2]·cos(…) + x[i]·sin(…),
//   pos = positionOffset + t.
// Backward: the map is a rotation R per pair, so ∂L/∂x = Rᵀ ∂L/∂y = rotation by −angle (one
// dispatch of the same kernel with INVERSE). Nothing is saved for backward.

import { rope as ropeKernel, type RopeShape } from '../../kernels/rope';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';

export type RopeOptions = RopeShape;

export function rope(g: Graph, x: Tensor, options: RopeOptions): Tensor {
  const y = g.output(ropeKernel(g.ctx, x.data, options), [x], 'rope');
  g.record('rope', y, (gy) => {
    g.accumulate(x, ropeKernel(g.ctx, gy.view(x.shape), options, true));
  });
  return y;
}
