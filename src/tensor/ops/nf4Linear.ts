// Linear layer over a frozen NF4 (4-bit, QLoRA) weight: y [N, out] = x [N, in] · deq(Q)ᵀ (+ b),
// with Q the NF4 form of W [out, in] (kernels/nf4.ts) and b [out]. x may have leading dimensions
// ([B, T, in]); they are flattened into N. deq(Q) is never materialised: the products decode the
// 4-bit codes as they go.
// Backward (G = ∂L/∂y [N, out]): ∂L/∂x = G · deq(Q), ∂L/∂b = column sums of G (1ᵀ G). The 4-bit
// base is frozen: no gradient for Q, by design (QLoRA trains only the adapter beside it).

import { matmulInto } from '../../kernels/matmul';
import { nf4Matmul, nf4MatmulInputGrad, type Nf4Weight } from '../../kernels/nf4';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';
import { InternalError } from '../../errors';

export function nf4Linear(g: Graph, x: Tensor, q: Nf4Weight, bias?: Tensor): Tensor {
  const [outFeatures, inFeatures] = q.shape;
  const N = x.data.size / inFeatures;
  if (x.shape[x.shape.length - 1] !== inFeatures || !Number.isInteger(N)) {
    throw new InternalError(`nf4Linear: input [${x.shape.join(',')}] does not end in ${inFeatures} (weight [${q.shape.join(',')}])`);
  }
  if (bias && bias.data.size !== outFeatures) throw new InternalError(`nf4Linear: bias [${bias.shape.join(',')}] must have ${outFeatures} elements`);
  const yData = g.ctx.empty([...x.shape.slice(0, -1), outFeatures], 'f32', 'nf4Linear output');
  nf4Matmul(g.ctx, x.data.view([N, inFeatures]), q, yData.view([N, outFeatures]), { bias: bias?.data });
  const y = g.output(yData, bias ? [x, bias] : [x], 'nf4Linear');
  g.record('nf4Linear', y, (gy) => {
    const G = gy.view([N, outFeatures]);
    if (x.requiresGrad) {
      if (x.grad) {
        nf4MatmulInputGrad(g.ctx, G, q, x.grad.view([N, inFeatures]), true);
      } else {
        const dx = g.ctx.empty(x.shape, 'f32', 'nf4Linear dx');
        nf4MatmulInputGrad(g.ctx, G, q, dx.view([N, inFeatures]));
        g.accumulate(x, dx);
      }
    }
    if (bias?.requiresGrad) {
      const db = g.ctx.empty([outFeatures], 'f32', 'nf4Linear db');
      matmulInto(g.ctx, g.ones(N), G, db.view([1, outFeatures]));
      g.accumulate(bias, db);
    }
  });
  return y;
}
