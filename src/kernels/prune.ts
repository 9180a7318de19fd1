// Wrapper of shaders/prune.wgsl: pruning of a linear weight W [out, in] (row-major) on the GPU,
// for SPP's sparse base, and the per-input activation norms Wanda scores with.
//
//   pruneWeights(ctx, W [out, in], { method, pattern, inputNorms? }) → new W [out, in] with zeros
//     in place (W itself is untouched). Scores, compared within each output row:
//       magnitude: |W_ij|;  wanda: |W_ij| · ‖X_j‖₂ (inputNorms [in], non-negative, f32 product).
//     Order: (score, column) ascending: among equal scores the lower column is pruned first
//     (Wanda's stable torch.sort). Patterns:
//       unstructured, ratio ∈ [0, 1]: exactly prunedPerRow(in, ratio) = floor(ratio·in) entries
//         per row are zeroed (floor taken after adding 1e-9, so 0.29·100 gives 29 and not 28);
//       N:M (2:4, 4:8, any 1 ≤ N ≤ M with in % M == 0): in every group of M consecutive columns
//         of a row, the M − N lowest are zeroed and the N highest kept.
//     Entries that are already 0 score 0 and are pruned first; a kept entry may still be 0.
//   accumulateInputSquares(ctx, x [..., in], acc [in]): acc[j] += Σ_n x[n, j]² (call once per
//     calibration batch), then inputNorms(ctx, acc) → new [in] = sqrt(acc).
// Not done: scores other than these two, structured (row/column) pruning, per-layer ratios (the
// caller's job), NaN handling (a NaN score ranks above +inf and is kept).

import source from '../../shaders/prune.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { copy, gridFor } from './elementwise';

const shader = defineShader('prune', source);

export type PruneMethod = 'magnitude' | 'wanda';

export type PrunePattern = { readonly kind: 'unstructured'; readonly ratio: number } | { readonly kind: 'nm'; readonly n: number; readonly m: number };

export interface PruneOptions {
  readonly method: PruneMethod;
  readonly pattern: PrunePattern;
  /** ‖X_j‖₂ [in] from inputNorms(); required by (and only by) 'wanda'. */
  readonly inputNorms?: GpuTensor;
}

/** Invocations per workgroup: one workgroup per row in the unstructured kernel. */
function workgroupSize(ctx: GpuContext): number {
  // SwiftShader runs a workgroup's invocations on one CPU core and barriers are costly: a narrow
  // workgroup keeps its 14 barriers per row cheap. Real GPUs want a wider one per row.
  return ctx.info.isSoftware ? 64 : 256;
}

/** Entries pruned in each row of width `inFeatures` at `ratio`: floor(ratio·in) (see header). */
export function prunedPerRow(inFeatures: number, ratio: number): number {
  return Math.min(inFeatures, Math.floor(ratio * inFeatures + 1e-9));
}

function describePattern(p: PrunePattern): string {
  return p.kind === 'unstructured' ? `unstructured ${p.ratio}` : `${p.n}:${p.m}`;
}

export function pruneWeights(ctx: GpuContext, W: GpuTensor, options: PruneOptions): GpuTensor {
  const { method, pattern, inputNorms } = options;
  const label = `prune ${method} ${describePattern(pattern)} W ${W.describe()}`;
  const fail = (message: string): never => {
    throw new GpuError(message, 'prune', `W ${W.describe()}${inputNorms ? `, inputNorms ${inputNorms.describe()}` : ''}`);
  };
  if (W.shape.length !== 2) fail('W must be [out, in]');
  if (W.dtype !== 'f32') fail(`W must be f32, is ${W.dtype}`);
  const [rows, cols] = W.shape as [number, number];
  if (method === 'wanda') {
    if (!inputNorms) fail('wanda needs inputNorms [in] (accumulateInputSquares over calibration batches, then inputNorms)');
    else if (inputNorms.size !== cols || inputNorms.shape.length !== 1) fail(`inputNorms must be [${cols}]`);
    else if (inputNorms.dtype !== 'f32') fail('inputNorms must be f32');
  } else if (method === 'magnitude') {
    if (inputNorms) fail('magnitude pruning takes no inputNorms (did you mean wanda?)');
  } else {
    fail(`unknown pruning method "${String(method)}"`);
  }

  let k: number; // entries pruned per group
  let group: number;
  if (pattern.kind === 'unstructured') {
    if (!(pattern.ratio >= 0 && pattern.ratio <= 1)) fail(`pruning ratio ${pattern.ratio} is outside [0, 1]`);
    k = prunedPerRow(cols, pattern.ratio);
    group = cols;
  } else if (pattern.kind === 'nm') {
    const { n, m } = pattern;
    if (!Number.isInteger(n) || !Number.isInteger(m) || n < 1 || n > m) fail(`N:M needs integers 1 ≤ N ≤ M, got ${n}:${m}`);
    if (cols % m !== 0) fail(`N:M pruning needs in (${cols}) divisible by M (${m})`);
    k = m - n;
    group = m;
  } else {
    return fail('unknown pruning pattern');
  }

  const out = ctx.empty(W.shape, 'f32', 'pruned W');
  if (k === 0 || W.size === 0) return copy(ctx, W, out);
  const wg = workgroupSize(ctx);
  const unstructured = pattern.kind === 'unstructured';
  ctx.dispatch({
    shader,
    entryPoint: unstructured ? 'prune_unstructured' : 'prune_nm',
    constants: { WANDA: method === 'wanda', WG: wg },
    bindings: { w: W, norms: inputNorms ?? ctx.placeholder(), x: ctx.placeholder(), out },
    params: { rows, cols, k, group },
    workgroups: unstructured ? gridFor(ctx, rows, 1) : gridFor(ctx, rows * cols, wg),
    label,
  });
  return out;
}

/** acc [in] += Σ over rows of x [..., in] squared (per input feature); returns acc. */
export function accumulateInputSquares(ctx: GpuContext, x: GpuTensor, acc: GpuTensor): GpuTensor {
  const shapes = `x ${x.describe()}, acc ${acc.describe()}`;
  const cols = x.shape[x.shape.length - 1];
  if (cols === undefined || x.shape.length < 2) throw new GpuError('x must be [..., in]', 'accumulate_squares', shapes);
  if (acc.shape.length !== 1 || acc.size !== cols) throw new GpuError(`acc must be [${cols}]`, 'accumulate_squares', shapes);
  if (x.dtype !== 'f32' || acc.dtype !== 'f32') throw new GpuError('tensors must be f32', 'accumulate_squares', shapes);
  if (x.buffer === acc.buffer) throw new GpuError('acc must not alias x', 'accumulate_squares', shapes);
  const wg = 64;
  ctx.dispatch({
    shader,
    entryPoint: 'accumulate_squares',
    constants: { WG: wg },
    bindings: { w: ctx.placeholder(), norms: ctx.placeholder(), x, out: acc },
    params: { rows: cols === 0 ? 0 : x.size / cols, cols, k: 0, group: 1 },
    workgroups: gridFor(ctx, cols, wg),
    label: `accumulate_squares ${shapes}`,
  });
  return acc;
}

/** ‖X_j‖₂ [in] = sqrt(acc) from accumulated squares acc [in]; a new tensor. */
export function inputNorms(ctx: GpuContext, acc: GpuTensor): GpuTensor {
  if (acc.shape.length !== 1 || acc.dtype !== 'f32') throw new GpuError('acc must be f32 [in]', 'input_norms', `acc ${acc.describe()}`);
  const out = ctx.empty(acc.shape, 'f32', 'input norms');
  const wg = 64;
  ctx.dispatch({
    shader,
    entryPoint: 'input_norms',
    constants: { WG: wg },
    bindings: { w: ctx.placeholder(), norms: ctx.placeholder(), x: acc, out },
    params: { rows: 1, cols: acc.size, k: 0, group: 1 },
    workgroups: gridFor(ctx, acc.size, wg),
    label: `input_norms ${acc.describe()}`,
  });
  return out;
}
