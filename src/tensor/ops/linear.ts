// Linear layer, PyTorch convention: y [N, out] = x [N, in] · Wᵀ + b, with W [out, in] row-major
// and b [out]. x may have leading dimensions ([B, T, in]); they are flattened into N.
// Backward (G = ∂L/∂y [N, out]): ∂L/∂x = G W, ∂L/∂W = Gᵀ x, ∂L/∂b = column sums of G (1ᵀ G).
// ∂L/∂W is accumulated straight into W.grad when it exists (no temporary).

import { matmulInto } from '../../kernels/matmul';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';
import { InternalError } from '../../errors';

export function linear(g: Graph, x: Tensor, W: Tensor, b?: Tensor): Tensor {
  const [outFeatures, inFeatures] = W.shape as [number, number];
  const N = x.data.size / inFeatures;
  if (x.shape[x.shape.length - 1] !== inFeatures || !Number.isInteger(N)) {
    throw new InternalError(`linear: input [${x.shape.join(',')}] does not end in ${inFeatures} (W [${W.shape.join(',')}])`);
  }
  const x2 = x.data.view([N, inFeatures]);
  const yData = g.ctx.empty([...x.shape.slice(0, -1), outFeatures], 'f32', 'linear output');
  matmulInto(g.ctx, x2, W.data, yData.view([N, outFeatures]), { transB: true, bias: b?.data });
  const y = g.output(yData, b ? [x, W, b] : [x, W], 'linear');
  g.record('linear', y, (gy) => {
    const G = gy.view([N, outFeatures]);
    if (x.requiresGrad) {
      const dx = g.ctx.empty(x.shape, 'f32', 'linear dx');
      matmulInto(g.ctx, G, W.data, dx.view([N, inFeatures]));
      g.accumulate(x, dx);
    }
    if (W.requiresGrad) {
      if (W.grad) matmulInto(g.ctx, G, x2, W.grad, { transA: true, accumulate: true });
      else g.accumulate(W, matmulInto(g.ctx, G, x2, g.ctx.empty(W.shape, 'f32', 'linear dW'), { transA: true }));
    }
    if (b?.requiresGrad) {
      const db = g.ctx.empty([outFeatures], 'f32', 'linear db');
      matmulInto(g.ctx, g.ones(N), G, db.view([1, outFeatures]));
      g.accumulate(b, db);
    }
  });
  return y;
}
