// The guard that chains two overlapped training steps (train/trainer.ts, StepOptions.overlapped).
// When step n+1 is recorded before step n's loss and gradient norm are read back, nobody knows yet
// whether step n was finite; step n+1 must then change nothing if it was not (the method stops
// at n, and its state stays the one health.ts diagnoses). So step n leaves a guard on the GPU:
//   finiteGuard(rt, [loss, norm]) → guard [1] = 1 + 0·loss[0] + 0·norm[0]
// which is exactly 1 when both are finite and NaN when either is NaN or ±Inf (0·±Inf = NaN). Step
// n+1 multiplies one of its gradients by it (applyGuard): ×1 changes no bit, ×NaN makes the
// gradient norm NaN, so clipping marks the step non-finite and AdamW skips its update (clip.ts).
// The zero coefficient is a uniform, unknown when the shader is compiled, so no compiler can fold
// 0·x to 0. Two axpy dispatches and a fill on [1] tensors; nothing is read back.

import { axpy, fill } from '../../kernels/elementwise';
import { scaleByScalar } from '../../kernels/scalar';
import { GpuError } from '../../errors';
import { gpuContextOf } from '../gpuContextOf';
import type { GpuTensor, Runtime } from '../runtime';

/** A new [1] tensor: 1 when the first element of every one of `values` is finite, NaN otherwise. The caller releases it. */
export function finiteGuard(rt: Runtime, values: readonly GpuTensor[]): GpuTensor {
  const ctx = gpuContextOf(rt);
  const guard = fill(ctx, ctx.empty([1], 'f32', 'step guard'), 1);
  for (const [i, value] of values.entries()) {
    if (value.dtype !== 'f32' || value.size !== 1)
      throw new GpuError(`values[${i}] must be an f32 tensor of one element, is ${value.describe()}`, 'finiteGuard');
    axpy(ctx, 0, value.shape.length === 1 ? value : value.view([1]), guard);
  }
  return guard;
}

/** x ← x · guard[0] in place: unchanged for a guard of 1, all NaN for a NaN guard. */
export function applyGuard(rt: Runtime, x: GpuTensor, guard: GpuTensor): GpuTensor {
  return scaleByScalar(gpuContextOf(rt), x, guard);
}
