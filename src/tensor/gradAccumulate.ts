// Gradient accumulation: out += g (or out = g with overwrite), elementwise on the GPU.
import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { addInto as addKernel, copy } from '../kernels/elementwise';

export function addInto(ctx: GpuContext, out: GpuTensor, g: GpuTensor, overwrite = false): void {
  if (overwrite) copy(ctx, g, out);
  else addKernel(ctx, out, out, g);
}
