// Token embedding: y [B, T, C] = table[ids] with ids [B, T] (u32, no gradient) and table [V, C]
// row-major (any ids shape works: y is [...ids.shape, C]).
// Backward (G = ∂L/∂y): ∂L/∂table[v] = Σ over tokens with id v of G[token]; repeated ids accumulate,
// summed in token order without float atomics (deterministic). When table.grad already exists
// (tied input/output embeddings: the LM head's backward runs first) the sums are added straight
// into it, so no [V, C] temporary is made. A table held as row blocks (gpu/rowBlocks.ts) gets a
// gradient in the same row blocks.
// Ids are not validated (no readback): an id ≥ V is clamped to row V − 1 by the kernel, in forward
// and backward alike, so memory stays in bounds but the token silently uses the last row.

import { emptyLikeRows } from '../../gpu/rowBlocks';
import { embeddingBackwardInto, embeddingForward } from '../../kernels/embedding';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';
import { InternalError } from '../../errors';

export function embedding(g: Graph, ids: Tensor, table: Tensor): Tensor {
  if (ids.requiresGrad) throw new InternalError(`embedding: ids "${ids.name}" must not require a gradient`);
  const C = table.shape[1]!;
  const yData = embeddingForward(g.ctx, ids.data, table.data); // [...ids.shape, C]
  const y = g.output(yData, [table], 'embedding');
  g.record('embedding', y, (gy) => {
    if (!table.requiresGrad) return;
    const G = gy.view([...ids.shape, C]);
    if (table.grad) embeddingBackwardInto(g.ctx, ids.data, G, table.grad, true);
    else g.accumulate(table, embeddingBackwardInto(g.ctx, ids.data, G, emptyLikeRows(g.ctx, table.data, 'embedding dTable')));
  });
  return y;
}
