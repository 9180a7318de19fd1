// Linear layer, PyTorch convention: y [N, out] = x [N, in] · Wᵀ + b, with W [out, in] row-major
// and b [out]. x may have leading dimensions ([B, T, in]); they are flattened into N.
// Backward (G = ∂L/∂y [N, out]): ∂L/∂x = G W, ∂L/∂W = Gᵀ x, ∂L/∂b = column sums of G (1ᵀ G).
// ∂L/∂W is accumulated straight into W.grad when it exists (no temporary).
// W may be held as row blocks (an LM head too large for one binding: the logits of generation);
// the products then go block by block (rowBlockMatmul.ts) and the bias is added after them.

import { blockByteLimit, emptyLikeRows } from '../../gpu/rowBlocks';
import { addRowVectorInto } from '../../kernels/elementwise';
import { matmulInto } from '../../kernels/matmul';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';
import { formatBytes, InputError, InternalError } from '../../errors';
import { backThroughRows, timesRowsT } from './rowBlockMatmul';

export function linear(g: Graph, x: Tensor, W: Tensor, b?: Tensor): Tensor {
  const [outFeatures, inFeatures] = W.shape as [number, number];
  const N = x.data.size / inFeatures;
  if (x.shape[x.shape.length - 1] !== inFeatures || !Number.isInteger(N)) {
    throw new InternalError(`linear: input [${x.shape.join(',')}] does not end in ${inFeatures} (W [${W.shape.join(',')}])`);
  }
  const x2 = x.data.view([N, inFeatures]);
  const yData = g.ctx.empty([...x.shape.slice(0, -1), outFeatures], 'f32', 'linear output');
  const y2 = yData.view([N, outFeatures]);
  if (W.data.blocks) {
    timesRowsT(g.ctx, x2, W.data, y2);
    if (b) addRowVectorInto(g.ctx, y2, y2, b.data);
  } else {
    matmulInto(g.ctx, x2, W.data, y2, { transB: true, bias: b?.data });
  }
  const y = g.output(yData, b ? [x, W, b] : [x, W], 'linear');
  g.record('linear', y, (gy) => {
    const G = gy.view([N, outFeatures]);
    const dx = x.requiresGrad ? g.ctx.empty(x.shape, 'f32', 'linear dx') : undefined;
    const ownDW = W.requiresGrad && !W.grad ? emptyLikeRows(g.ctx, W.data, 'linear dW') : undefined;
    backThroughRows(g.ctx, G, W.data, x2, { dx: dx?.view([N, inFeatures]), dW: W.requiresGrad ? (W.grad ?? ownDW) : undefined, accumulateDW: !ownDW });
    if (dx) g.accumulate(x, dx);
    if (ownDW) g.accumulate(W, ownDW);
    if (b?.requiresGrad) {
      const db = g.ctx.empty([outFeatures], 'f32', 'linear db');
      matmulInto(g.ctx, g.ones(N), G, db.view([1, outFeatures]));
      g.accumulate(b, db);
    }
  });
  return y;
}

/**
 * Throws, before anything is recorded, when an f32 output [rows, cols] of a linear layer would not
 * fit one buffer (the logits of every position of a long input against a large vocabulary).
 */
export function checkOutputFits(g: Graph, rows: number, cols: number, what: string): void {
  const limit = blockByteLimit(g.ctx.device.limits);
  if (4 * rows * cols <= limit) return;
  throw new InputError(
    `${what} of ${rows} positions × ${cols} would take ${formatBytes(4 * rows * cols)}, over this GPU's ${formatBytes(limit)} limit per buffer: ` +
      `ask for at most ${Math.max(1, Math.floor(limit / (4 * cols)))} positions at a time.`,
  );
}
