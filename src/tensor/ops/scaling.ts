// Scaling ops with autograd:
//   scale(x, s)          y = s · x                    (adapter branches: ΔW = s·BA)
//   mulColumns(x, v)     y[n, j] = x[n, j] · v[j]     x [..., R], v [R]  (SORSA's diag(S))
// Backward (dy = ∂L/∂y): scale: dx = s·dy; mulColumns: dx = dy ⊙ v (per column),
// dv[j] = Σ_n dy[n, j] · x[n, j] (column sums through a ones-vector matmul).

import { mul as mulKernel, mulRowVectorInto, scaleInto } from '../../kernels/elementwise';
import { matmulInto } from '../../kernels/matmul';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';
import { InternalError } from '../../errors';

export function scale(g: Graph, x: Tensor, s: number): Tensor {
  const y = g.output(scaleInto(g.ctx, g.ctx.empty(x.shape, 'f32', 'scale output'), x.data, s), [x], 'scale');
  g.record('scale', y, (gy) => {
    if (x.requiresGrad) g.accumulate(x, scaleInto(g.ctx, g.ctx.empty(x.shape, 'f32', 'scale dx'), gy, s));
  });
  return y;
}

export function mulColumns(g: Graph, x: Tensor, v: Tensor): Tensor {
  const R = v.shape[0] ?? 0;
  if (v.shape.length !== 1 || x.shape[x.shape.length - 1] !== R) {
    throw new InternalError(`mulColumns: x [${x.shape.join(',')}] must end in ${R} (v [${v.shape.join(',')}])`);
  }
  const N = x.data.size / R;
  const y = g.output(mulRowVectorInto(g.ctx, g.ctx.empty(x.shape, 'f32', 'mulColumns output'), x.data, v.data), [x, v], 'mulColumns');
  g.record('mulColumns', y, (gy) => {
    if (x.requiresGrad) g.accumulate(x, mulRowVectorInto(g.ctx, g.ctx.empty(x.shape, 'f32', 'mulColumns dx'), gy, v.data));
    if (v.requiresGrad) {
      const product = mulKernel(g.ctx, gy, x.data);
      const dv = g.ctx.empty([R], 'f32', 'mulColumns dv');
      matmulInto(g.ctx, g.ones(N), product.view([N, R]), dv.view([1, R]));
      g.ctx.release(product);
      g.accumulate(v, dv);
    }
  });
  return y;
}
