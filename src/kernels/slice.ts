// Wrapper of shaders/slice.wgsl: copies a block of columns between two row-major matrices with
// the same number of rows (src [rows, srcCols] → dst [rows, dstCols]). Tensors with leading
// dimensions are read as [rows, lastDim].

import source from '../../shaders/slice.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { ELEMENTWISE_WORKGROUP_SIZE, gridFor } from './elementwise';

const shader = defineShader('slice', source);

export interface ColumnCopy {
  readonly srcOffset: number;
  readonly dstOffset: number;
  readonly width: number;
}

function lastDim(t: GpuTensor): number {
  return t.shape[t.shape.length - 1] ?? 1;
}

export function copyColumns(ctx: GpuContext, src: GpuTensor, dst: GpuTensor, { srcOffset, dstOffset, width }: ColumnCopy): GpuTensor {
  const srcCols = lastDim(src);
  const dstCols = lastDim(dst);
  const rows = src.size / srcCols;
  const label = `copy_columns ${src.describe()}[:, ${srcOffset}:+${width}] → ${dst.describe()}[:, ${dstOffset}:]`;
  if (dst.size / dstCols !== rows) throw new GpuError(`row counts differ (${rows} vs ${dst.size / dstCols})`, 'copy_columns', label);
  if (srcOffset < 0 || dstOffset < 0 || width < 0 || srcOffset + width > srcCols || dstOffset + width > dstCols) {
    throw new GpuError('column block outside the matrices', 'copy_columns', label);
  }
  if (src.dtype !== 'f32' || dst.dtype !== 'f32') throw new GpuError('tensors must be f32', 'copy_columns', label);
  ctx.dispatch({
    shader,
    entryPoint: 'copy_columns',
    constants: { WG: ELEMENTWISE_WORKGROUP_SIZE },
    bindings: { src, dst },
    params: { rows, width, src_cols: srcCols, src_offset: srcOffset, dst_cols: dstCols, dst_offset: dstOffset },
    workgroups: gridFor(ctx, rows * width, ELEMENTWISE_WORKGROUP_SIZE),
    label,
    cost: { flops: 0, bytes: 8 * rows * width },
  });
  return dst;
}
