// The products of a weight W [V, K] that may be held as row blocks (gpu/rowBlocks.ts: an embedding
// or LM head too large for one binding), for the ops that take one (linear, lmHeadLoss):
//   timesRowsT      out [N, V] = x [N, K] · Wᵀ        block b: out[:, rows_b] = x W_bᵀ
//   backThroughRows dx [N, K] (+)= G [N, V] · W       = Σ_b G[:, rows_b] W_b
//                   dW [V, K] (+)= Gᵀ x               block b: dW_b (+)= G[:, rows_b]ᵀ x
// A W in one buffer takes exactly the single matmul it always did. With blocks, each block's
// product goes through a scratch [N, rows_b] (copy_columns moves a column block of out or G in or
// out of it), so no binding is larger than a block or out / G themselves; dx then sums the blocks
// in order, which differs from one product in rounding only (≈1e-7 relative).

import type { GpuContext } from '../../gpu/context';
import { rowBlocksOf } from '../../gpu/rowBlocks';
import type { GpuTensor } from '../../gpu/tensor';
import { matmulInto } from '../../kernels/matmul';
import { copyColumns } from '../../kernels/slice';
import { InternalError } from '../../errors';

/** Floats of the scratch timesRowsT / backThroughRows need for N rows against W: N × the largest block's rows (0 for one buffer). */
export function rowBlockScratchSize(N: number, W: GpuTensor): number {
  if (!W.blocks) return 0;
  return N * Math.max(...W.blocks.map((b) => b.shape[0]!));
}

function scratchFor(ctx: GpuContext, N: number, W: GpuTensor, scratch: GpuTensor | undefined): { readonly t: GpuTensor; readonly own: boolean } {
  const size = rowBlockScratchSize(N, W);
  if (scratch) {
    if (scratch.size < size) throw new InternalError(`row-block scratch of ${scratch.size} floats, ${size} needed`);
    return { t: scratch, own: false };
  }
  return { t: ctx.empty([size], 'f32', 'row-block product'), own: true };
}

/** out [N, V] = x [N, K] · Wᵀ with W [V, K] in one buffer or row blocks; `scratch` (rowBlockScratchSize floats) is reused when given. */
export function timesRowsT(ctx: GpuContext, x: GpuTensor, W: GpuTensor, out: GpuTensor, scratch?: GpuTensor): GpuTensor {
  if (!W.blocks) return matmulInto(ctx, x, W, out, { transB: true });
  const N = x.shape[0]!;
  const V = W.shape[0]!;
  if (out.shape[out.shape.length - 1] !== V) throw new InternalError(`out [${out.shape.join(',')}] does not end in V = ${V}`);
  const tmp = scratchFor(ctx, N, W, scratch);
  try {
    for (const { tensor: block, row0, rows } of rowBlocksOf(W)) {
      const part = tmp.t.prefix([N, rows]);
      matmulInto(ctx, x, block, part, { transB: true });
      copyColumns(ctx, part, out, { srcOffset: 0, dstOffset: row0, width: rows });
    }
  } finally {
    if (tmp.own) ctx.release(tmp.t);
  }
  return out;
}

export interface RowGradients {
  /** [N, K]: G · W goes here. */
  readonly dx?: GpuTensor;
  /** Add into dx instead of overwriting it. */
  readonly accumulateDx?: boolean;
  /** [V, K], in W's row blocks: Gᵀ · x goes here. */
  readonly dW?: GpuTensor;
  readonly accumulateDW?: boolean;
}

/** dx (+)= G W and dW (+)= Gᵀ x for G [N, V], x [N, K] and W [V, K] in one buffer or row blocks (dW in the same blocks). */
export function backThroughRows(ctx: GpuContext, G: GpuTensor, W: GpuTensor, x: GpuTensor, grads: RowGradients, scratch?: GpuTensor): void {
  const { dx, dW, accumulateDx = false, accumulateDW = false } = grads;
  if (!W.blocks) {
    if (dx) matmulInto(ctx, G, W, dx, { accumulate: accumulateDx });
    if (dW) matmulInto(ctx, G, x, dW, { transA: true, accumulate: accumulateDW });
    return;
  }
  if (!dx && !dW) return;
  const N = G.shape[0]!;
  const dWBlocks = dW ? rowBlocksOf(dW) : undefined;
  const tmp = scratchFor(ctx, N, W, scratch);
  try {
    for (const [i, { tensor: block, row0, rows }] of rowBlocksOf(W).entries()) {
      const part = tmp.t.prefix([N, rows]);
      copyColumns(ctx, G, part, { srcOffset: row0, dstOffset: 0, width: rows });
      if (dx) matmulInto(ctx, part, block, dx, { accumulate: accumulateDx || i > 0 });
      if (dWBlocks) {
        const target = dWBlocks[i];
        if (!target || target.row0 !== row0 || target.rows !== rows) throw new InternalError('dW is not in the row blocks of W');
        matmulInto(ctx, part, x, target.tensor, { transA: true, accumulate: accumulateDW });
      }
    }
  } finally {
    if (tmp.own) ctx.release(tmp.t);
  }
}
