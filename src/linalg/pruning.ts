// Tensor-level wrappers of the pruning kernels (kernels/prune.ts) for SPP's init: a pruned copy
// of a weight by magnitude or Wanda (|W_ij|·‖X_j‖₂, compared within each output row),
// unstructured or N:M, and the per-input activation norms Wanda needs, accumulated over
// calibration batches as Σ x² and square-rooted at the end.

import { accumulateInputSquares, inputNorms, pruneWeights, type PrunePattern } from '../kernels/prune';
import { fill } from '../kernels/elementwise';
import { Tensor } from '../tensor/tensor';
import { gpuContextOf } from '../tensor/gpuContextOf';
import type { Runtime } from '../tensor/values';
import { InputError } from '../errors';

export type { PrunePattern };

export interface PruneSettings {
  readonly method: 'magnitude' | 'wanda';
  readonly pattern: PrunePattern;
}

/** A pruned frozen copy of W [out, in]; `norms` [in] is required for Wanda. */
export function prunedWeight(rt: Runtime, W: Tensor, settings: PruneSettings, name: string, norms?: Tensor): Tensor {
  const ctx = gpuContextOf(rt);
  if (settings.method === 'wanda' && !norms) throw new InputError(`${name}: Wanda pruning needs activation norms from calibration batches`);
  const data = pruneWeights(ctx, W.data, { method: settings.method, pattern: settings.pattern, inputNorms: norms?.data });
  return Tensor.leaf(data, false, name);
}

/** A zeroed Σ x² accumulator [in]. */
export function squaresAccumulator(rt: Runtime, inFeatures: number, name: string): Tensor {
  const ctx = gpuContextOf(rt);
  return Tensor.leaf(fill(ctx, rt.empty([inFeatures], 'f32', name), 0), false, name);
}

/** acc += Σ over rows of x² (x [..., in]). */
export function accumulateSquares(rt: Runtime, x: Tensor, acc: Tensor): void {
  const ctx = gpuContextOf(rt);
  accumulateInputSquares(ctx, x.data, acc.data);
}

/** ‖X_j‖₂ = √acc_j as a new tensor. */
export function normsFromSquares(rt: Runtime, acc: Tensor, name: string): Tensor {
  const ctx = gpuContextOf(rt);
  return Tensor.leaf(inputNorms(ctx, acc.data), false, name);
}
