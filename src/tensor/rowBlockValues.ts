// Parameters from host data that may be too large for one binding or buffer: a matrix whose f32
// form would not fit (gpu/rowBlocks.ts: an embedding or LM head at WebGPU's default limits) is
// uploaded as row blocks, one buffer each; anything smaller is the one-buffer parameter of
// values.ts. Ops that read such a weight (embedding, linear, lmHeadLoss) take either.

import { joinRowBlocks, rowBlockRows } from '../gpu/rowBlocks';
import type { GpuTensor, HalfFormat } from '../gpu/tensor';
import { uploadHalf } from '../kernels/half';
import { gpuContextOf } from './gpuContextOf';
import { Tensor } from './tensor';
import { halfParameter, parameterFromArray, type Runtime } from './values';

/** How a matrix is cut into row blocks at given limits (gpu/rowBlocks.ts), for memory plans above the tensor layer. */
export { rowBlockRows } from '../gpu/rowBlocks';

/** Uploads rows [row0, row0 + rows) of each block through `upload`; releases what it made if one fails. */
function uploadBlocks(rt: Runtime, blockRows: readonly number[], upload: (row0: number, rows: number, index: number) => GpuTensor): GpuTensor[] {
  const blocks: GpuTensor[] = [];
  try {
    let row0 = 0;
    for (const [i, rows] of blockRows.entries()) {
      blocks.push(upload(row0, rows, i));
      row0 += rows;
    }
  } catch (error) {
    rt.release(...blocks);
    throw error;
  }
  return blocks;
}

/** A parameter f32 [shape] from host data, held as row blocks when its matrix is over the device's limits. */
export function largeParameterFromArray(rt: Runtime, data: Float32Array, shape: readonly number[], name: string, trainable: boolean): Tensor {
  const [rows, cols] = shape as [number, number];
  const blockRows = shape.length === 2 ? rowBlockRows(rows, cols, gpuContextOf(rt).device.limits, name) : [rows];
  if (blockRows.length === 1) return parameterFromArray(rt, data, shape, name, trainable);
  const blocks = uploadBlocks(rt, blockRows, (row0, n, i) =>
    rt.uploadF32(data.subarray(row0 * cols, (row0 + n) * cols), [n, cols], `${name} (row block ${i + 1} of ${blockRows.length})`),
  );
  return Tensor.leaf(joinRowBlocks(blocks, shape, 'f32'), trainable, name);
}

/** A frozen packed 16-bit parameter [shape] from its 16-bit stream, held as row blocks when its matrix is over the device's limits. */
export function largeHalfParameter(rt: Runtime, bits: Uint16Array, shape: readonly number[], format: HalfFormat, name: string): Tensor {
  const [rows, cols] = shape as [number, number];
  const blockRows = shape.length === 2 ? rowBlockRows(rows, cols, gpuContextOf(rt).device.limits, name) : [rows];
  if (blockRows.length === 1) return halfParameter(rt, bits, shape, format, name);
  const blocks = uploadBlocks(rt, blockRows, (row0, n, i) =>
    uploadHalf(gpuContextOf(rt), bits.subarray(row0 * cols, (row0 + n) * cols), [n, cols], format, `${name} (row block ${i + 1} of ${blockRows.length})`),
  );
  return Tensor.leaf(joinRowBlocks(blocks, shape, 'u32', format), false, name);
}
