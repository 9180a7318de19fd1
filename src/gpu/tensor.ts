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
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
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
