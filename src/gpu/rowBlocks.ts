// Row blocks: a matrix [rows, ...] too large for one storage binding (maxStorageBufferBindingSize,
// 128 MiB at WebGPU's defaults) or one buffer (maxBufferSize, 256 MiB) is held as consecutive
// blocks of rows, each its own pooled buffer (GpuTensor.blocks). The embedding of a 152K-vocabulary
// model in bf16 is 272 MB, a 262K one 335 MB: three or four blocks at the defaults.
// Block sizes: the fewest blocks whose f32 form fits, of equal rows rounded up to a multiple of 4
// (products against a block keep the aligned vec4 matmul), the last taking the rest. A block's f32
// bytes stay within min(binding limit, 0.8·buffer limit): the pool rounds a buffer up by at most
// 25 %. Packed 16-bit blocks hold an even number of rows except the last, so the blocks' words read
// one after another are the whole tensor's packed stream (gpu/tensor.ts).

import { GpuError } from '../errors';
import type { GpuContext } from './context';
import { GpuTensor, type DType, type HalfFormat } from './tensor';

export interface BufferLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
}

/** Most bytes one block may take: a binding's limit, and the buffer limit less the pool's rounding. */
export function blockByteLimit(limits: BufferLimits): number {
  return Math.min(limits.maxStorageBufferBindingSize, Math.floor(0.8 * limits.maxBufferSize));
}

/**
 * The rows of each block of a [rows, cols] matrix (one entry when its f32 form fits one buffer).
 * Sized by 4 bytes a value whatever the storage, so a packed 16-bit weight, its f32 copies and its
 * gradient are cut at the same rows. Throws when not even two rows fit.
 */
export function rowBlockRows(rows: number, cols: number, limits: BufferLimits, what = 'a matrix'): number[] {
  const cap = blockByteLimit(limits);
  if (4 * rows * cols <= cap) return [rows];
  const maxRows = Math.floor(cap / (4 * cols));
  if (maxRows < 2) {
    throw new GpuError(
      `two rows of ${what} (${cols} values each) do not fit this GPU's ${cap}-byte limit per buffer, so it cannot be split into row blocks`,
      'rowBlocks',
      `[${rows}, ${cols}]`,
    );
  }
  const step = maxRows >= 4 ? 4 : 2; // even: a packed block then ends on a word boundary
  const largest = maxRows - (maxRows % step);
  const count = Math.ceil(rows / largest);
  const per = Math.min(largest, Math.ceil(Math.ceil(rows / count) / step) * step);
  const out: number[] = [];
  for (let row = 0; row < rows; row += per) out.push(Math.min(per, rows - row));
  return out;
}

export interface RowBlock {
  readonly tensor: GpuTensor;
  /** Its first row in the whole matrix. */
  readonly row0: number;
  readonly rows: number;
}

/** The row blocks of `t` with their first rows; a tensor held in one buffer is its own single block. */
export function rowBlocksOf(t: GpuTensor): RowBlock[] {
  const blocks = t.blocks ?? [t];
  const out: RowBlock[] = [];
  let row0 = 0;
  for (const tensor of blocks) {
    const rows = tensor.shape[0]!;
    out.push({ tensor, row0, rows });
    row0 += rows;
  }
  return out;
}

/** A tensor of `shape` held as `blocks` (consecutive rows, same trailing shape and type); one block is returned as itself. */
export function joinRowBlocks(blocks: readonly GpuTensor[], shape: readonly number[], dtype: DType, half?: HalfFormat): GpuTensor {
  const tail = shape.slice(1).join(',');
  const rows = blocks.reduce((n, b) => n + b.shape[0]!, 0);
  if (rows !== shape[0] || blocks.some((b) => b.shape.slice(1).join(',') !== tail || b.dtype !== dtype || b.half !== half || b.blocks)) {
    throw new GpuError(
      `row blocks ${blocks.map((b) => b.describe()).join(', ')} do not make one [${shape.join(',')}] ${half ?? dtype} tensor`,
      'rowBlocks',
      `[${shape.join(',')}]`,
    );
  }
  if (blocks.length === 1) return blocks[0]!;
  return new GpuTensor(blocks[0]!.entry, shape, dtype, false, half, blocks);
}

/** An uninitialised f32 tensor of `t`'s shape in the same row blocks as `t` (the gradient of a split weight). */
export function emptyLikeRows(ctx: GpuContext, t: GpuTensor, what: string): GpuTensor {
  if (!t.blocks) return ctx.empty(t.shape, 'f32', what);
  return joinRowBlocks(
    t.blocks.map((b, i) => ctx.empty(b.shape, 'f32', `${what} (row block ${i + 1} of ${t.blocks!.length})`)),
    t.shape,
    'f32',
  );
}
