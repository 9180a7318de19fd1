// Wrapper of shaders/cross_entropy.wgsl: mean token cross-entropy and its gradient, on the GPU.
//   crossEntropyForwardInto(logits [..., V], targets [...] i32, loss [1], saved [3N + 1])
//     loss = mean over counted rows of −log softmax(logits)[target]; rows whose target is outside
//     [0, V) (−100 = ignore) are not counted; no counted row → loss 0. Two dispatches (rows, then
//     one workgroup for the mean and the count); the count never leaves the GPU.
//   crossEntropyBackwardInto(logits, targets, saved, gy [1], dlogits [..., V])
//     dlogits = gy · (softmax − onehot) / count on counted rows, 0 on the others.
// `saved` carries the row maxima, Σexp sums, row losses and the count from forward to backward
// (layout in the shader). N = number of rows (product of the leading dimensions of logits).
// Not done: label smoothing, class weights, reductions other than the mean.

import source from '../../shaders/cross_entropy.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor, workgroupGrid } from './elementwise';

const shader = defineShader('cross_entropy', source);

/** Elements of `saved` for N rows: m [N], s [N], rowLoss [N], count [1]. */
export function crossEntropySavedSize(N: number): number {
  return 3 * N + 1;
}

function checkShapes(kernel: string, logits: GpuTensor, targets: GpuTensor, shapes: string): { N: number; V: number } {
  if (logits.dtype !== 'f32') throw new GpuError(`logits must be f32, are ${logits.dtype}`, kernel, shapes);
  if (targets.dtype !== 'i32') throw new GpuError(`targets must be i32, are ${targets.dtype}`, kernel, shapes);
  if (logits.shape.length < 2) throw new GpuError('logits must be [N, V] or [B, T, V]', kernel, shapes);
  const V = logits.shape[logits.shape.length - 1]!;
  const N = logits.size / Math.max(V, 1);
  if (V < 1) throw new GpuError('the vocabulary is empty (V = 0)', kernel, shapes);
  if (targets.size !== N) throw new GpuError(`targets must have one entry per row of logits (${N})`, kernel, shapes);
  if (N * V > 0xffffffff) throw new GpuError(`N·V = ${N * V} exceeds the u32 index range; use fewer tokens per step`, kernel, shapes);
  return { N, V };
}

function checkF32(kernel: string, shapes: string, t: GpuTensor, name: string, size: number): void {
  if (t.dtype !== 'f32' || t.size !== size) throw new GpuError(`${name} must be f32 with ${size} elements`, kernel, shapes);
}

/** Writes the mean loss into loss [1] and what backward needs into saved [3N + 1]. */
export function crossEntropyForwardInto(ctx: GpuContext, logits: GpuTensor, targets: GpuTensor, loss: GpuTensor, saved: GpuTensor): void {
  const shapes = `logits ${logits.describe()}, targets ${targets.describe()}`;
  const { N, V } = checkShapes('crossEntropyForward', logits, targets, shapes);
  checkF32('crossEntropyForward', shapes, loss, 'loss', 1);
  checkF32('crossEntropyForward', shapes, saved, 'saved', crossEntropySavedSize(N));
  const common = { shader, bindings: { logits, targets, gy: ctx.placeholder(), saved, out: loss }, params: { N, V } };
  ctx.dispatch({
    ...common,
    entryPoint: 'ce_rows',
    constants: { WG: V <= 64 ? 64 : 256 }, // narrow rows would leave most of 256 invocations idle
    workgroups: workgroupGrid(N, ctx.device.limits.maxComputeWorkgroupsPerDimension),
    label: `crossEntropy rows ${shapes}`,
  });
  ctx.dispatch({
    ...common,
    entryPoint: 'ce_finalize',
    constants: { WG: 256 },
    workgroups: [1],
    label: `crossEntropy mean ${shapes}`,
  });
}

/** dlogits (logits' shape) = gy[0] · (softmax − onehot) / count on counted rows, 0 elsewhere. */
export function crossEntropyBackwardInto(
  ctx: GpuContext,
  logits: GpuTensor,
  targets: GpuTensor,
  saved: GpuTensor,
  gy: GpuTensor,
  dlogits: GpuTensor,
): GpuTensor {
  const shapes = `logits ${logits.describe()}, targets ${targets.describe()}, dlogits ${dlogits.describe()}`;
  const { N, V } = checkShapes('crossEntropyBackward', logits, targets, shapes);
  checkF32('crossEntropyBackward', shapes, saved, 'saved', crossEntropySavedSize(N));
  checkF32('crossEntropyBackward', shapes, gy, 'gy', 1);
  checkF32('crossEntropyBackward', shapes, dlogits, 'dlogits', logits.size);
  if (dlogits.buffer === logits.buffer || dlogits.buffer === saved.buffer) {
    throw new GpuError('dlogits must not alias logits or saved', 'crossEntropyBackward', shapes);
  }
  const WG = 256;
  ctx.dispatch({
    shader,
    entryPoint: 'ce_backward',
    constants: { WG },
    bindings: { logits, targets, gy, saved, out: dlogits },
    params: { N, V },
    workgroups: gridFor(ctx, N * V, WG),
    label: `crossEntropyBackward ${shapes}`,
  });
  return dlogits;
}
