// The studio's method diagnostics, computed on the GPU in the worker between training steps:
//   spectrum      σ(W_eff) of one adapted projection, before training and now. W_eff is what the
//                 forward pass multiplies by, as the method's layer gives it (AdaptedModel
//                 .effectiveWeight); "before" comes from the init snapshot every layer takes when
//                 its method is created (a few KB per layer); σ comes from linalg/svd's Jacobi.
//   orthoDeviation SORSA's ‖AAᵀ − I‖_F, ‖BᵀB − I‖_F mean (linalg/orthoRegularizer).
//   sparsity      the method's own check (SPP: exact zeros of the merged weights against the
//                 pruned copies' zeros at init and the ratio set; training must not move a zero).
//   nonFiniteAt   the first trainable tensor holding NaN/Inf (read back once, when a loss is
//                 non-finite), for the message that halts the method.
// Not here: when they run (studioRun.ts decides, between steps) or any drawing (ui/).

import { releaseView } from '../adapters/forms/frozenBase';
import type { AdaptedModel, SparsityCheck, WeightView } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import { orthoDeviation } from '../linalg/orthoRegularizer';
import { singularValues } from '../linalg/svd';
import { readTensor } from '../tensor/values';
import type { SpectrumResult } from './protocol';

async function sigma(rt: GpuContext, w: WeightView): Promise<number[]> {
  try {
    const S = await singularValues(rt, w.tensor.data);
    const values = await rt.read(S);
    rt.release(S);
    return Array.from(values);
  } finally {
    releaseView(rt, w);
  }
}

/** σ before (cached by the caller) and now for one projection of one method. */
export async function spectrum(
  rt: GpuContext,
  method: string,
  adapted: AdaptedModel,
  layer: string,
  cachedBefore: readonly number[] | undefined,
  step: number,
): Promise<SpectrumResult> {
  const start = performance.now();
  const before = cachedBefore ? [...cachedBefore] : await sigma(rt, adapted.effectiveWeight(rt, layer, 'init'));
  const after = await sigma(rt, adapted.effectiveWeight(rt, layer, 'now'));
  const { outFeatures, inFeatures } = adapted.linears.get(layer) ?? adapted.model.linear(layer);
  return { method, layer, shape: [outFeatures, inFeatures], step, before, after, ms: performance.now() - start };
}

/** SORSA's mean orthonormality deviation, or undefined for methods without orthogonal factors. */
export async function orthoOf(rt: GpuContext, adapted: AdaptedModel): Promise<number | undefined> {
  if (!adapted.orthoFactors || adapted.orthoFactors.length === 0) return undefined;
  return orthoDeviation(rt, adapted.orthoFactors);
}

/** The sparsity check of a method that keeps one (SPP), or undefined. */
export function sparsityOf(rt: GpuContext, adapted: AdaptedModel): Promise<SparsityCheck | undefined> {
  return adapted.sparsity ? adapted.sparsity(rt) : Promise.resolve(undefined);
}

/** The first trainable tensor (in the method's order) holding a NaN or ±Inf, with the bad value. */
export async function nonFiniteAt(rt: GpuContext, adapted: AdaptedModel): Promise<{ tensor: string; value: number } | null> {
  for (const { tensor } of adapted.trainable) {
    const values = await readTensor(rt, tensor);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v)) return { tensor: tensor.name, value: v };
    }
  }
  return null;
}

/** The message that halts a method whose loss became non-finite. */
export async function haltMessage(rt: GpuContext, adapted: AdaptedModel, loss: number, step: number): Promise<string> {
  const bad = await nonFiniteAt(rt, adapted);
  const where = bad
    ? `the first non-finite parameter is in ${bad.tensor.includes('.') ? bad.tensor.replace(/\.[^.]+$/, '') : bad.tensor} (${bad.tensor}, value ${bad.value})`
    : 'every trainable parameter is still finite (the forward pass overflowed)';
  return `stopped at step ${step}: the loss became ${loss}; ${where}. Its curve so far is kept; try a lower learning rate or gradient clipping.`;
}
