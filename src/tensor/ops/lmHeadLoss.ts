// Mean next-token cross-entropy of the LM head, without ever holding the logits of every token:
//   loss [1] = (1/count) Σ over counted rows n of −log softmax(h[n] Wᵀ)[targets[n]]
// with h [N, C] the hidden states after the final norm (or [B, T, C]), W [V, C] the head weight
// (the token embedding when tied) and targets [N] i32. Same semantics as crossEntropy(linear(h, W),
// targets): a target outside [0, V) (−100 = ignore) does not count; no counted row gives loss 0.
//
// The rows are processed in chunks of R rows (lmHeadChunkRows): for each chunk
//   forward:  Z = h[rows] Wᵀ [R, V], then its row maxima, Σexp and row losses into `saved`;
//             after the last chunk one reduction gives the mean and the count.
//   backward: Z is recomputed, turned in place into dZ = gy · (softmax(Z) − onehot) / count, then
//             ∂L/∂h[rows] = dZ W  [R, C]   and   ∂L/∂W += dZᵀ h[rows]  [V, C].
// So at most one [R, V] f32 block is live (plus [R, C] copies of the chunk's rows), instead of the
// logits [N, V] and their gradient [N, V]: peak bytes drop from 8·N·V to 4·R·V. The price is one
// extra h Wᵀ product in backward (2·N·V·C flops). One chunk (R = N) needs no row copies.
// ∂L/∂W goes straight into W.grad when it exists; a tied embedding's lookup gradient is then
// added into the same tensor by the embedding op, which runs later in backward.
// W may be held as row blocks (an embedding or head too large for one binding, gpu/rowBlocks.ts):
// each chunk's products then go block by block through a scratch [R, rows_b] (rowBlockMatmul.ts),
// and ∂L/∂W is made in the same blocks.
// Not done: logit soft-capping, a bias on the head, label smoothing.

import { copyColumns } from '../../kernels/slice';
import { crossEntropyBackwardInPlace, crossEntropyMeanInto, crossEntropyRowsInto, crossEntropySavedSize } from '../../kernels/crossEntropy';
import type { GpuContext } from '../../gpu/context';
import { emptyLikeRows } from '../../gpu/rowBlocks';
import type { GpuTensor } from '../../gpu/tensor';
import { GpuError, InternalError } from '../../errors';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';
import { backThroughRows, rowBlockScratchSize, timesRowsT } from './rowBlockMatmul';

/**
 * Default byte budget of one [R, V] f32 logits block. 16 MiB keeps the head below a recomputed
 * block's memory on the models users bring (SmolLM2-135M at B·T = 512: 7 chunks of 84 rows, 17 MB
 * where 64 MiB took 67 MB, the step's peak), and a chunk's products stay large enough for a GPU.
 */
export const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;

export interface LmHeadLossOptions {
  /** Most bytes one [R, V] f32 block may take (default 16 MiB); the device's limits cap it too. */
  readonly chunkBytes?: number;
}

export interface BufferLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
}

/**
 * Rows per chunk: R = ⌊budget / 4V⌋ with budget = min(chunkBytes, maxStorageBufferBindingSize,
 * 0.8·maxBufferSize) (the pool rounds a buffer up by at most 25 %), rounded down to a multiple of 4
 * when R ≥ 4 (aligned shapes get the vec4 matmul), and clamped to [1, N].
 */
export function lmHeadChunkRows(N: number, V: number, limits: BufferLimits, chunkBytes = DEFAULT_CHUNK_BYTES): number {
  const hardLimit = Math.min(limits.maxStorageBufferBindingSize, Math.floor(0.8 * limits.maxBufferSize));
  if (4 * V > hardLimit) {
    throw new GpuError(`one row of logits (${V} values) exceeds this GPU's ${hardLimit}-byte buffer limit`, 'lmHeadLoss', `V ${V}`);
  }
  const fit = Math.floor(Math.min(chunkBytes, hardLimit) / (4 * V));
  const aligned = fit >= 4 ? fit - (fit % 4) : fit;
  return Math.max(1, Math.min(aligned, N));
}

/** The reusable buffers of one pass over the chunks. */
interface ChunkBuffers {
  readonly R: number;
  /** [R, V] logits block (backward: its gradient, in place). */
  readonly block: GpuTensor;
  /** [R, C] copy of the chunk's rows of h; absent with one chunk. */
  readonly rows?: GpuTensor;
  /** [R, C] the chunk's ∂L/∂h before it is placed into dh; absent with one chunk or no dh. */
  readonly dRows?: GpuTensor;
  /** The row-block products' scratch, when W is held as row blocks. */
  readonly scratch?: GpuTensor;
}

interface Problem {
  readonly N: number;
  readonly C: number;
  readonly V: number;
  /** h viewed as [N, C]. */
  readonly h: GpuTensor;
  readonly W: GpuTensor;
  readonly targets: GpuTensor;
}

function chunkBuffers(ctx: GpuContext, p: Problem, R: number, withDh: boolean): ChunkBuffers {
  const several = R < p.N;
  const scratch = rowBlockScratchSize(R, p.W);
  return {
    R,
    block: ctx.empty([R, p.V], 'f32', 'lmHeadLoss logits block'),
    rows: several ? ctx.empty([R, p.C], 'f32', 'lmHeadLoss rows') : undefined,
    dRows: several && withDh ? ctx.empty([R, p.C], 'f32', 'lmHeadLoss dRows') : undefined,
    scratch: scratch > 0 ? ctx.empty([scratch], 'f32', 'lmHeadLoss row-block product') : undefined,
  };
}

function releaseBuffers(ctx: GpuContext, b: ChunkBuffers): void {
  ctx.release(b.block, b.rows, b.dRows, b.scratch);
}

/** Calls visit(row0, r) for consecutive chunks of at most R rows covering [0, N). */
function forEachChunk(N: number, R: number, visit: (row0: number, r: number) => void): void {
  for (let row0 = 0; row0 < N; row0 += R) visit(row0, Math.min(R, N - row0));
}

/** h[row0 : row0 + r] as [r, C]: h itself with one chunk, else copied into the rows buffer. */
function chunkRows(ctx: GpuContext, p: Problem, b: ChunkBuffers, row0: number, r: number): GpuTensor {
  if (!b.rows) return p.h;
  // Rows of a row-major [N, C] matrix are one column block of its [1, N·C] view.
  copyColumns(ctx, p.h.view([1, p.N * p.C]), b.rows.prefix([1, r * p.C]), { srcOffset: row0 * p.C, dstOffset: 0, width: r * p.C });
  return b.rows.prefix([r, p.C]);
}

/** Z = h[rows] Wᵀ [r, V] into the block buffer. */
function chunkLogits(ctx: GpuContext, p: Problem, b: ChunkBuffers, hRows: GpuTensor, r: number): GpuTensor {
  return timesRowsT(ctx, hRows, p.W, b.block.prefix([r, p.V]), b.scratch);
}

function checkInputs(h: Tensor, W: Tensor, targets: Tensor): void {
  if (targets.requiresGrad) throw new InternalError(`lmHeadLoss: targets "${targets.name}" must not require a gradient`);
  const [V, C] = W.shape as [number, number];
  if (W.shape.length !== 2 || h.shape[h.shape.length - 1] !== C) {
    throw new InternalError(`lmHeadLoss: hidden states [${h.shape.join(',')}] do not end in C of the head weight [${W.shape.join(',')}]`);
  }
  if (targets.data.size * C !== h.data.size) {
    throw new InternalError(`lmHeadLoss: targets [${targets.shape.join(',')}] need one entry per row of [${h.shape.join(',')}]`);
  }
  if (V < 1) throw new InternalError('lmHeadLoss: the vocabulary is empty (V = 0)');
  if (targets.data.size === 0) throw new InternalError('lmHeadLoss: no tokens (N = 0)');
}

/** Mean cross-entropy of h Wᵀ against targets, one chunk of rows at a time (see the file header). */
export function lmHeadLoss(g: Graph, h: Tensor, W: Tensor, targets: Tensor, options: LmHeadLossOptions = {}): Tensor {
  checkInputs(h, W, targets);
  const { ctx } = g;
  const [V, C] = W.shape as [number, number];
  const N = targets.data.size;
  const p: Problem = { N, C, V, h: h.data.view([N, C]), W: W.data, targets: targets.data };
  const R = lmHeadChunkRows(N, V, ctx.device.limits, options.chunkBytes);
  const saved = g.scratch([crossEntropySavedSize(N)], 'lmHeadLoss saved'); // m [N], s [N], rowLoss [N], count [1]
  const lossData = ctx.empty([1], 'f32', 'lmHeadLoss loss');
  const buffers = chunkBuffers(ctx, p, R, false);
  try {
    forEachChunk(N, R, (row0, r) => {
      crossEntropyRowsInto(ctx, chunkLogits(ctx, p, buffers, chunkRows(ctx, p, buffers, row0, r), r), p.targets, saved, row0);
    });
    crossEntropyMeanInto(ctx, p.targets, V, lossData, saved);
  } catch (error) {
    ctx.release(lossData);
    throw error;
  } finally {
    releaseBuffers(ctx, buffers);
  }
  const loss = g.output(lossData, [h, W], 'lmHeadLoss');
  g.record('lmHeadLoss', loss, (gy) => backward(g, { h, W, p, R, saved, gy }));
  return loss;
}

interface BackwardArgs {
  readonly h: Tensor;
  readonly W: Tensor;
  readonly p: Problem;
  readonly R: number;
  readonly saved: GpuTensor;
  /** ∂L/∂loss [1] */
  readonly gy: GpuTensor;
}

function backward(g: Graph, { h, W, p, R, saved, gy }: BackwardArgs): void {
  const { ctx } = g;
  const dh = h.requiresGrad ? ctx.empty(h.shape, 'f32', 'lmHeadLoss dh') : undefined; // [N, C], every row written
  const ownDW = W.requiresGrad && !W.grad ? emptyLikeRows(ctx, W.data, 'lmHeadLoss dW') : undefined;
  const dW = W.requiresGrad ? (W.grad ?? ownDW) : undefined; // [V, C]
  const buffers = chunkBuffers(ctx, p, R, dh !== undefined);
  try {
    forEachChunk(p.N, R, (row0, r) => {
      const hRows = chunkRows(ctx, p, buffers, row0, r);
      const dZ = crossEntropyBackwardInPlace(ctx, chunkLogits(ctx, p, buffers, hRows, r), p.targets, saved, gy, row0);
      // dh rows straight into dh with one chunk, else into dRows and then placed; the first chunk
      // overwrites a freshly allocated dW, every other product adds into it.
      const dRows = dh ? (buffers.dRows ? buffers.dRows.prefix([r, p.C]) : dh.view([p.N, p.C])) : undefined;
      backThroughRows(ctx, dZ, p.W, hRows, { dx: dRows, dW, accumulateDW: dW !== ownDW || row0 > 0 }, buffers.scratch);
      if (dh && buffers.dRows) placeRows(ctx, p, buffers.dRows, dh, row0, r);
    });
  } finally {
    releaseBuffers(ctx, buffers);
  }
  if (dh) g.accumulate(h, dh);
  if (ownDW) g.accumulate(W, ownDW);
}

/** dh[row0 : row0 + r] = dRows[0 : r]. */
function placeRows(ctx: GpuContext, p: Problem, dRows: GpuTensor, dh: GpuTensor, row0: number, r: number): void {
  copyColumns(ctx, dRows.prefix([1, r * p.C]), dh.view([1, p.N * p.C]), { srcOffset: 0, dstOffset: row0 * p.C, width: r * p.C });
}
