// Seeded random tensors for inits and sketches above the tensor layer (kernels/random.ts, Philox):
//   randomNormal(rt, shape, seed, stream?, {mean, std})  → f32 [shape], N(mean, std²)
//   randomUniform(rt, shape, seed, lo, hi, stream?)      → f32 [shape], U[lo, hi)
// The same (seed, stream) gives the same values on any device; one stream per layer or per use.
// New pooled tensors, not graph outputs: the caller wraps them as leaves or releases them.

import type { GpuTensor } from '../../gpu/tensor';
import { randomNormal as randomNormalKernel, randomUniform as randomUniformKernel, type NormalOptions } from '../../kernels/random';
import { gpuContextOf } from '../gpuContextOf';
import type { Runtime } from '../runtime';

export type { NormalOptions } from '../../kernels/random';

export function randomNormal(rt: Runtime, shape: readonly number[], seed: number, stream = 0, options: NormalOptions = {}): GpuTensor {
  return randomNormalKernel(gpuContextOf(rt), shape, seed, stream, options);
}

export function randomUniform(rt: Runtime, shape: readonly number[], seed: number, lo = 0, hi = 1, stream = 0): GpuTensor {
  return randomUniformKernel(gpuContextOf(rt), shape, seed, lo, hi, stream);
}
