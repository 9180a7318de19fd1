// A GPU-resident array: one pooled buffer, a shape (row-major, last dimension contiguous) and
// an element type. No autograd here: that is tensor/'s job. Kernels take these, never buffers.

import type { PooledBuffer } from './pool';

export type DType = 'f32' | 'u32' | 'i32';

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
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }

  /** The same buffer under another shape with the same element count (no copy). */
  view(shape: readonly number[]): GpuTensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== this.size) throw new Error(`cannot view [${this.shape.join(',')}] as [${shape.join(',')}]`);
    return new GpuTensor(this.entry, shape, this.dtype, true);
  }

  /** The first elements of the same buffer under a shape with at most as many (no copy). */
  prefix(shape: readonly number[]): GpuTensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size > this.size) throw new Error(`cannot take [${shape.join(',')}] from the start of [${this.shape.join(',')}]`);
    return new GpuTensor(this.entry, shape, this.dtype, true);
  }

  get buffer(): GPUBuffer {
    return this.entry.buffer;
  }

  get byteLength(): number {
    return this.size * 4;
  }

  describe(): string {
    return `[${this.shape.join(',')}]`;
  }
}
