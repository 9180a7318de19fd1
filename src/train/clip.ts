// Global gradient-norm clipping factor, all on the GPU (PyTorch's clip_grad_norm_ with norm_type 2):
//   norm [1] = √(Σ over every gradient tensor of Σ g²)
//   scale [1] = min(1, maxNorm / (norm + 1e-6))
// The gradients are NOT modified: scale is handed to AdamW.step(lr, scale), which multiplies each
// gradient by it as it reads it (one pass over the gradients fewer). The sum of squares is
// sumSquaresMany (src/kernels/reduce.ts, deterministic, no atomics); the square root and the
// factor are adamw.wgsl's clip_scale entry point (one invocation). Nothing is read back: the
// caller reads `norm` when it wants to log it. Both results are new pooled tensors the caller
// releases.

import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { sumSquaresMany } from '../kernels/reduce';
import { adamwShader } from './adamw';

export interface ClipResult {
  /** [1] total L2 norm of all gradients (before clipping). */
  readonly norm: GpuTensor;
  /** [1] multiplier that brings the norm to at most maxNorm: min(1, maxNorm / (norm + 1e-6)). */
  readonly scale: GpuTensor;
}

export function clipGradNorm(ctx: GpuContext, grads: readonly GpuTensor[], maxNorm: number): ClipResult {
  if (!(maxNorm > 0 && Number.isFinite(maxNorm))) {
    throw new GpuError(`the maximum gradient norm must be positive and finite, is ${maxNorm}`, 'clipGradNorm');
  }
  const sumSq = sumSquaresMany(ctx, grads); // [1]
  const norm = ctx.empty([1], 'f32', 'gradient norm');
  const scale = ctx.empty([1], 'f32', 'gradient clip scale');
  ctx.dispatch({
    shader: adamwShader,
    entryPoint: 'clip_scale',
    constants: {},
    bindings: { grad: sumSq, gradScale: ctx.placeholder(), param: norm, state: scale },
    params: { n: 1, step: 0, beta1: 0, beta2: 0, eps: 0, decayFactor: 0, stepSize: 0, bc2Sqrt: 0, maxNorm },
    workgroups: [1],
    label: `clipGradNorm ${grads.length} tensors, maxNorm ${maxNorm}`,
  });
  ctx.release(sumSq);
  return { norm, scale };
}
