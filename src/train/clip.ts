// Global gradient-norm clipping factor, all on the GPU (PyTorch's clip_grad_norm_ with norm_type 2):
//   norm [1] = √(Σ over every gradient tensor of Σ g²)
//   scale [1] = min(1, maxNorm / (norm + 1e-6)), or −1 when norm is NaN or ±Inf: the marker on
//               which AdamW.step skips the update (adamw.wgsl's non-finite guard)
// The gradients are NOT modified: scale is handed to AdamW.step(lr, scale), which multiplies each
// gradient by it as it reads it (one pass over the gradients fewer). The sum of squares is
// sumSquaresMany (src/kernels/reduce.ts, deterministic, no atomics); the square root and the
// factor are adamw.wgsl's clip_scale entry point (one invocation). Nothing is read back: the
// caller reads `norm` when it wants to log it. Both results are new pooled tensors the caller
// releases. The GPU work is tensor/ops/optimizer.ts's gradientClip.

import { GpuError } from '../errors';
import { gradientClip } from '../tensor/ops/optimizer';
import type { GpuTensor, Runtime } from '../tensor/runtime';

/**
 * A maxNorm that never clips (the largest f32: maxNorm / (norm + 1e-6) ≥ 1 for every finite norm,
 * so the scale is exactly 1): the norm and the non-finite guard for a run without clipping.
 */
export const NEVER_CLIP = 3.4028234663852886e38;

export interface ClipResult {
  /** [1] total L2 norm of all gradients (before clipping). */
  readonly norm: GpuTensor;
  /** [1] multiplier that brings the norm to at most maxNorm: min(1, maxNorm / (norm + 1e-6)); −1 for a non-finite norm. */
  readonly scale: GpuTensor;
}

export function clipGradNorm(rt: Runtime, grads: readonly GpuTensor[], maxNorm: number): ClipResult {
  if (!(maxNorm > 0 && Number.isFinite(maxNorm))) {
    throw new GpuError(`the maximum gradient norm must be positive and finite, is ${maxNorm}`, 'clipGradNorm');
  }
  return gradientClip(rt, grads, maxNorm);
}
