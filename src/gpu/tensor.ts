// A GPU-resident array: one pooled buffer, a shape (row-major, last dimension contiguous) and
// an element type. No autograd here: that is tensor/'s job. Kernels take these, never buffers.
// Packed 16-bit tensors (frozen bf16/f16 weights): dtype 'u32' with `half` set; `shape` and `size`
// are the logical element counts and the buffer holds two elements per word, element 2i in bits
// 0..15 and element 2i+1 in bits 16..31 of word i (row-major elements indexed globally, so a row
// of odd length may start mid-word), ⌈size/2⌉ words: the safetensors bytes read as little-endian
// u32. Only kernels that say so (matmul, embedding, kernels/half.ts) accept them.
// Row blocks (gpu/rowBlocks.ts): a matrix too large for one binding or buffer (an embedding, an LM
// head) is held as `blocks`, consecutive rows [rows_i, ...shape.slice(1)] each in its own buffer
// (packed ones packed from their own start); `entry` is then the first block's. The context
// releases, reads and writes every block; only the ops that say so (embedding, linear, lmHeadLoss)
// take such a tensor, and any other dispatch refuses it by name.

import type { PooledBuffer } from './pool';
import { InternalError } from '../errors';

export type DType = 'f32' | 'u32' | 'i32';

/** The 16-bit float format of a packed tensor's elements. */
export type HalfFormat = 'bf16' | 'f16';

export type TypedArrayOf<D extends DType> = D extends 'f32' ? Float32Array : D extends 'u32' ? Uint32Array : Int32Array;

export class GpuTensor {
  released = false;
  readonly size: number;

  constructor(
    readonly entry: PooledBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    /** A view shares its owner's buffer; releasing a view does nothing. */
    readonly isView = false,
    /** Set on packed 16-bit tensors (see the header); dtype is then 'u32'. */
    readonly half?: HalfFormat,
    /** Set on a tensor held as row blocks (see the header); at least two. */
    readonly blocks?: readonly GpuTensor[],
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }

  /** The same buffer under another shape with the same element count (no copy). */
  view(shape: readonly number[]): GpuTensor {
    if (this.blocks) throw new InternalError(`a tensor held as ${this.blocks.length} row blocks has no view (${this.describe()})`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== this.size) throw new InternalError(`cannot view [${this.shape.join(',')}] as [${shape.join(',')}]`);
    return new GpuTensor(this.entry, shape, this.dtype, true, this.half);
  }

  /** The first elements of the same buffer under a shape with at most as many (no copy). */
  prefix(shape: readonly number[]): GpuTensor {
    if (this.blocks) throw new InternalError(`a tensor held as ${this.blocks.length} row blocks has no prefix view (${this.describe()})`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (size > this.size) throw new InternalError(`cannot take [${shape.join(',')}] from the start of [${this.shape.join(',')}]`);
    return new GpuTensor(this.entry, shape, this.dtype, true, this.half);
  }

  get buffer(): GPUBuffer {
    return this.entry.buffer;
  }

  get byteLength(): number {
    if (this.blocks) return this.blocks.reduce((n, b) => n + b.byteLength, 0);
    return this.half ? 4 * Math.ceil(this.size / 2) : this.size * 4;
  }

  describe(): string {
    return `[${this.shape.join(',')}]${this.half ?? ''}${this.blocks ? ` in ${this.blocks.length} row blocks` : ''}`;
  }
}
