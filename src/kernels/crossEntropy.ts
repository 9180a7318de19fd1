// Wrapper of shaders/cross_entropy.wgsl: mean token cross-entropy and its gradient, on the GPU.
//   crossEntropyForwardInto(logits [..., V], targets [...] i32, loss [1], saved [3N + 1])
//     loss = mean over counted rows of −log softmax(logits)[target]; rows whose target is outside
//     [0, V) (−100 = ignore) are not counted; no counted row → loss 0. Two dispatches (rows, then
//     one workgroup for the mean and the count); the count never leaves the GPU.
//   crossEntropyBackwardInto(logits, targets, saved, gy [1], dlogits [..., V])
//     dlogits = gy · (softmax − onehot) / count on counted rows, 0 on the others.
// Row blocks (for lmHeadLoss, which never holds the logits of all rows): crossEntropyRowsInto
// takes logits [rows, V] of rows [row0, row0 + rows) of targets [total]; crossEntropyMeanInto then
// reduces all `total` rows; crossEntropyBackwardInPlace turns a block's logits into its gradient.
// `saved` carries the row maxima, Σexp sums, row losses and the count from forward to backward
// (layout in the shader), indexed by the global row.
// Variants of the two reductions (rows, mean), chosen from the adapter like matmul's; tests force
// each with forceCrossEntropyVariant. The backward kernels are elementwise and shared.
//   workgroup: ce_rows / ce_finalize, tree reductions through workgroup memory with barriers
//              (real GPUs);
//   serial:    ce_rows_serial / ce_finalize_serial, one invocation per row (and one for the mean)
//              looping in registers, no barriers (software adapters, where ce_rows' barriers cost
//              ~1.5 s per step of the built-in model).
// Not done: label smoothing, class weights, reductions other than the mean.

import source from '../../shaders/cross_entropy.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor, workgroupGrid } from './elementwise';
import { ADAPTER_VARIANTS, adapterVariantChoice, type AdapterVariant } from './adapterVariant';

const shader = defineShader('cross_entropy', source);

/** Rows per workgroup of ce_rows_serial (the shader's ROW_WG). */
const ROW_WG = 16;

export type CrossEntropyVariant = AdapterVariant;
export const CROSS_ENTROPY_VARIANTS = ADAPTER_VARIANTS;
const variants = adapterVariantChoice();
/** Tests: every cross-entropy reduction on ctx uses `variant` from now on (undefined: the adapter's choice again). */
export const forceCrossEntropyVariant = variants.force;
/** Barrier-free serial loops on software adapters, workgroup reductions on real GPUs (unless forced). */
export const crossEntropyVariant = variants.of;

/** Elements of `saved` for N rows: m [N], s [N], rowLoss [N], count [1]. */
export function crossEntropySavedSize(N: number): number {
  return 3 * N + 1;
}

interface Block {
  /** Rows in this logits block. */
  readonly N: number;
  readonly V: number;
  /** Global index of its first row. */
  readonly row0: number;
  /** Rows of targets and of the saved layout. */
  readonly total: number;
}

/**
 * Checks logits [..., V] as rows [row0, row0 + N) of targets [total] and returns the block;
 * row0 undefined: the logits of every row (N = total).
 */
function checkBlock(kernel: string, logits: GpuTensor, targets: GpuTensor, first: number | undefined, shapes: string): Block {
  if (logits.dtype !== 'f32') throw new GpuError(`logits must be f32, are ${logits.dtype}`, kernel, shapes);
  if (targets.dtype !== 'i32') throw new GpuError(`targets must be i32, are ${targets.dtype}`, kernel, shapes);
  if (logits.shape.length < 2) throw new GpuError('logits must be [N, V] or [B, T, V]', kernel, shapes);
  const V = logits.shape[logits.shape.length - 1]!;
  const N = logits.size / Math.max(V, 1);
  const total = targets.size;
  if (V < 1) throw new GpuError('the vocabulary is empty (V = 0)', kernel, shapes);
  if (first === undefined && N !== total) throw new GpuError(`targets must have one entry per row of logits (${N})`, kernel, shapes);
  const row0 = first ?? 0;
  if (!Number.isInteger(row0) || row0 < 0 || row0 + N > total) {
    throw new GpuError(`rows ${row0}..${row0 + N - 1} are outside the ${total} targets`, kernel, shapes);
  }
  if (N * V > 0xffffffff) throw new GpuError(`N·V = ${N * V} exceeds the u32 index range; use fewer tokens per step`, kernel, shapes);
  return { N, V, row0, total };
}

function checkF32(kernel: string, shapes: string, t: GpuTensor, name: string, size: number): void {
  if (t.dtype !== 'f32' || t.size !== size) throw new GpuError(`${name} must be f32 with ${size} elements`, kernel, shapes);
}

/** Row maxima, Σexp and row losses of logits [rows, V] = rows [row0, row0 + rows) of targets, into saved. */
export function crossEntropyRowsInto(ctx: GpuContext, logits: GpuTensor, targets: GpuTensor, saved: GpuTensor, row0?: number): void {
  const shapes = `logits ${logits.describe()}${row0 === undefined ? '' : ` at row ${row0}`}, targets ${targets.describe()}`;
  const block = checkBlock('crossEntropyRows', logits, targets, row0, shapes);
  checkF32('crossEntropyRows', shapes, saved, 'saved', crossEntropySavedSize(block.total));
  const serial = crossEntropyVariant(ctx) === 'serial';
  const maxGroups = ctx.device.limits.maxComputeWorkgroupsPerDimension;
  ctx.dispatch({
    shader,
    entryPoint: serial ? 'ce_rows_serial' : 'ce_rows',
    // Workgroup: narrow rows would leave most of 256 invocations idle.
    constants: serial ? { ROW_WG } : { WG: block.V <= 64 ? 64 : 256 },
    // Unused slots: gy shares logits' buffer (two read-only bindings may alias); out gets the
    // placeholder, which nothing else in this dispatch binds (a writable binding may not alias).
    bindings: { logits, targets, gy: logits, saved, out: ctx.placeholder() },
    params: { ...block },
    workgroups: workgroupGrid(serial ? Math.ceil(block.N / ROW_WG) : block.N, maxGroups),
    label: `crossEntropy rows ${shapes}`,
    // Row max, Σ exp(x − m) (≈5 FLOPs per logit); logits and targets read, 3 saved values per row written.
    cost: { flops: 5 * block.N * block.V, bytes: 4 * (block.N * block.V + 4 * block.N) },
  });
}

/** loss [1] = mean of the row losses in saved over the counted rows of targets [total]; stores the count. */
export function crossEntropyMeanInto(ctx: GpuContext, targets: GpuTensor, V: number, loss: GpuTensor, saved: GpuTensor): void {
  const shapes = `targets ${targets.describe()}, V ${V}`;
  if (targets.dtype !== 'i32') throw new GpuError(`targets must be i32, are ${targets.dtype}`, 'crossEntropyMean', shapes);
  checkF32('crossEntropyMean', shapes, loss, 'loss', 1);
  checkF32('crossEntropyMean', shapes, saved, 'saved', crossEntropySavedSize(targets.size));
  const serial = crossEntropyVariant(ctx) === 'serial';
  ctx.dispatch({
    shader,
    entryPoint: serial ? 'ce_finalize_serial' : 'ce_finalize',
    constants: serial ? {} : { WG: 256 },
    bindings: { logits: ctx.placeholder(), targets, gy: ctx.placeholder(), saved, out: loss },
    params: { N: 0, V, row0: 0, total: targets.size },
    workgroups: [1],
    label: `crossEntropy mean ${shapes}`,
    cost: { flops: 2 * targets.size, bytes: 4 * (2 * targets.size + 2) },
  });
}

/** Writes the mean loss into loss [1] and what backward needs into saved [3N + 1]. */
export function crossEntropyForwardInto(ctx: GpuContext, logits: GpuTensor, targets: GpuTensor, loss: GpuTensor, saved: GpuTensor): void {
  crossEntropyRowsInto(ctx, logits, targets, saved);
  crossEntropyMeanInto(ctx, targets, logits.shape[logits.shape.length - 1]!, loss, saved);
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
  checkF32('crossEntropyBackward', shapes, dlogits, 'dlogits', logits.size);
  if (dlogits.buffer === logits.buffer || dlogits.buffer === saved.buffer) {
    throw new GpuError('dlogits must not alias logits or saved', 'crossEntropyBackward', shapes);
  }
  dispatchBackward(ctx, 'ce_backward', { logits, targets, saved, gy, out: dlogits }, undefined, shapes);
  return dlogits;
}

/** Overwrites block [rows, V] (the logits of rows row0.. of targets) with its gradient, as above. */
export function crossEntropyBackwardInPlace(ctx: GpuContext, block: GpuTensor, targets: GpuTensor, saved: GpuTensor, gy: GpuTensor, row0: number): GpuTensor {
  const shapes = `block ${block.describe()} at row ${row0}, targets ${targets.describe()}`;
  if (block.buffer === saved.buffer) throw new GpuError('the block must not alias saved', 'crossEntropyBackwardInPlace', shapes);
  dispatchBackward(ctx, 'ce_backward_inplace', { logits: ctx.placeholder(), targets, saved, gy, out: block }, row0, shapes);
  return block;
}

type BackwardBindings = Record<'logits' | 'targets' | 'saved' | 'gy' | 'out', GpuTensor>;

function dispatchBackward(ctx: GpuContext, entryPoint: string, bindings: BackwardBindings, row0: number | undefined, shapes: string): void {
  const kernel = entryPoint === 'ce_backward' ? 'crossEntropyBackward' : 'crossEntropyBackwardInPlace';
  const block = checkBlock(kernel, entryPoint === 'ce_backward' ? bindings.logits : bindings.out, bindings.targets, row0, shapes);
  checkF32(kernel, shapes, bindings.saved, 'saved', crossEntropySavedSize(block.total));
  checkF32(kernel, shapes, bindings.gy, 'gy', 1);
  const WG = 256;
  ctx.dispatch({
    shader,
    entryPoint,
    constants: { WG },
    bindings,
    params: { ...block },
    workgroups: gridFor(ctx, block.N * block.V, WG),
    label: `${kernel} ${shapes}`,
    // exp(x − m)/s − onehot, times gy/count (≈5 FLOPs per logit); logits read and written once.
    cost: { flops: 5 * block.N * block.V, bytes: 4 * (2 * block.N * block.V + 3 * block.N) },
  });
}
