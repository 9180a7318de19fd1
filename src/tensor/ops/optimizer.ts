// The optimizer's GPU work, for train/ (which reaches kernels only through tensor ops):
//   adamwLimits(rt)                    what one multi-tensor AdamW dispatch may hold on this device
//   adamwMulti(rt, step)               one AdamW update of up to K parameter slots (kernels/adamw.ts)
//   gradientClip(rt, grads, maxNorm)   norm [1] = √(Σ over the tensors of Σ g²) and
//                                      scale [1] = min(1, maxNorm / (norm + 1e-6)), or −1 for a
//                                      non-finite norm (AdamW then skips the update); new tensors
//   scaleByScalar(rt, x, s)            x ← x · s[0] in place, s [1] staying on the GPU
// No autograd: these update parameters, gradients and optimizer state in place, after backward.

import type { GpuTensor } from '../../gpu/tensor';
import { adamwLimits as adamwLimitsKernel, adamwMulti as adamwMultiKernel, clipScale, type AdamWLimits, type AdamWStep } from '../../kernels/adamw';
import { sumSquaresMany } from '../../kernels/reduce';
import { scaleByScalar as scaleByScalarKernel } from '../../kernels/scalar';
import { gpuContextOf } from '../gpuContextOf';
import type { Runtime } from '../runtime';

export type { AdamWLimits, AdamWSlot, AdamWStep } from '../../kernels/adamw';

export function adamwLimits(rt: Runtime): AdamWLimits {
  return adamwLimitsKernel(gpuContextOf(rt));
}

export function adamwMulti(rt: Runtime, step: AdamWStep): void {
  adamwMultiKernel(gpuContextOf(rt), step);
}

export interface GradientClip {
  /** [1] total L2 norm of all gradients (before clipping). */
  readonly norm: GpuTensor;
  /** [1] multiplier that brings the norm to at most maxNorm; −1 for a non-finite norm. */
  readonly scale: GpuTensor;
}

/** The global gradient norm and clipping factor; nothing is read back, the caller releases both. */
export function gradientClip(rt: Runtime, grads: readonly GpuTensor[], maxNorm: number): GradientClip {
  const ctx = gpuContextOf(rt);
  const sumSq = sumSquaresMany(ctx, grads); // [1]
  const norm = ctx.empty([1], 'f32', 'gradient norm');
  const scale = ctx.empty([1], 'f32', 'gradient clip scale');
  clipScale(ctx, sumSq, norm, scale, maxNorm, `clipGradNorm ${grads.length} tensors, maxNorm ${maxNorm}`);
  ctx.release(sumSq);
  return { norm, scale };
}

export function scaleByScalar(rt: Runtime, x: GpuTensor, s: GpuTensor): GpuTensor {
  return scaleByScalarKernel(gpuContextOf(rt), x, s);
}
