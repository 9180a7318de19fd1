// The studio's method diagnostics, computed on the GPU in the worker between training steps:
//   spectrum      σ(W_eff) of one adapted projection, before training and now. W_eff is what the
//                 forward pass multiplies by: base + s·B M A for the low-rank forms (NF4 bases
//                 dequantized), SPP's sparse merge, full fine-tuning's own weight. "Before" uses
//                 host copies of the factors taken when the method became ready (a few KB per
//                 layer), so it costs nothing until asked; σ comes from linalg/svd's Jacobi.
//   orthoDeviation SORSA's ‖AAᵀ − I‖_F, ‖BᵀB − I‖_F mean (linalg/orthoRegularizer).
//   sparsity      exact zeros of SPP's merged weights against the zeros of its pruned copies at
//                 init and the ratio the user set: training must not move a single zero.
//   nonFiniteAt   the first trainable tensor holding NaN/Inf (read back once, when a loss is
//                 non-finite), for the message that halts the method.
// Not here: when they run (studioRun.ts decides, between steps) or any drawing (ui/).

import { LowRankLayer } from '../adapters/forms/lowRank';
import { Nf4Base } from '../adapters/forms/nf4Base';
import { SppLayer } from '../adapters/forms/sppLayer';
import type { AdaptedModel, MethodSettings } from '../adapters/types';
import { StudioError } from '../errors';
import type { GpuContext } from '../gpu/context';
import { mergeLowRank } from '../linalg/merge';
import { orthoDeviation } from '../linalg/orthoRegularizer';
import { singularValues } from '../linalg/svd';
import type { CausalLM } from '../models/causalLM';
import { DenseLinear } from '../models/linearLayer';
import { Tensor } from '../tensor/tensor';
import { readTensor, releaseTensors } from '../tensor/values';
import type { SparsityCheck, SpectrumResult } from './protocol';

interface FactorCopy {
  readonly A: Float32Array;
  readonly B: Float32Array;
  readonly S?: Float32Array;
  readonly R?: Float32Array;
}

/** What a method looked like when it became ready, for "before" spectra and the sparsity check. */
export interface InitSnapshot {
  readonly factors: ReadonlyMap<string, FactorCopy>;
  /** SPP: zeros of the pruned copies and their size, counted at init. */
  readonly prunedZeros?: { readonly zeros: number; readonly total: number };
}

async function countZeros(rt: GpuContext, t: Tensor): Promise<number> {
  const values = await readTensor(rt, t);
  let zeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
  return zeros;
}

export async function snapshotInit(rt: GpuContext, adapted: AdaptedModel): Promise<InitSnapshot> {
  const factors = new Map<string, FactorCopy>();
  let zeros = 0;
  let total = 0;
  for (const [name, layer] of adapted.linears) {
    if (layer instanceof LowRankLayer) {
      const { A, B, S, R } = layer.factors;
      factors.set(name, { A: await readTensor(rt, A), B: await readTensor(rt, B), S: S ? await readTensor(rt, S) : undefined, R: R ? await readTensor(rt, R) : undefined });
    } else if (layer instanceof SppLayer) {
      zeros += await countZeros(rt, layer.pruned);
      total += layer.pruned.data.size;
    }
  }
  return { factors, prunedZeros: total > 0 ? { zeros, total } : undefined };
}

/** The dense W_eff of `layer` now, or with the factors of `initial`; the caller releases it. */
function effectiveWeight(rt: GpuContext, adapted: AdaptedModel, shared: CausalLM, name: string, initial?: FactorCopy, before = false): { weight: Tensor; owned: boolean } {
  const layer = adapted.linears.get(name);
  if (!layer) {
    // Full fine-tuning trains its own copy of the model; "before" is the shared original.
    const own = (before ? shared : adapted.model).linear(name);
    if (own instanceof DenseLinear) return { weight: own.weight, owned: false };
    throw new StudioError(`${name} is not adapted by ${adapted.method}`);
  }
  if (layer instanceof SppLayer) return before ? { weight: layer.pruned, owned: false } : { weight: layer.mergedWeight(rt), owned: true };
  if (layer instanceof LowRankLayer) {
    let base: Tensor;
    let ownBase = false;
    if (layer.base instanceof Nf4Base) {
      base = layer.base.dequantized(rt);
      ownBase = true;
    } else if (layer.base instanceof DenseLinear) {
      base = layer.base.weight;
    } else {
      throw new StudioError(`${name}: its base cannot be made dense for a spectrum`);
    }
    const uploads: Tensor[] = [];
    const up = (data: Float32Array, like: Tensor): Tensor => {
      const t = Tensor.leaf(rt.uploadF32(data, like.shape, `${name} (init)`), false, `${name} (init)`);
      uploads.push(t);
      return t;
    };
    const f = layer.factors;
    const update = initial
      ? { A: up(initial.A, f.A), B: up(initial.B, f.B), S: initial.S && f.S ? up(initial.S, f.S) : undefined, R: initial.R && f.R ? up(initial.R, f.R) : undefined, scaling: layer.scaling }
      : { ...f, scaling: layer.scaling };
    const merged = mergeLowRank(rt, base, update, `${name} (effective)`);
    releaseTensors(rt, ...uploads);
    if (ownBase) releaseTensors(rt, base);
    return { weight: merged, owned: true };
  }
  throw new StudioError(`${name}: ${adapted.method}'s layer has no spectrum`);
}

async function sigma(rt: GpuContext, w: { weight: Tensor; owned: boolean }): Promise<number[]> {
  const S = await singularValues(rt, w.weight.data);
  const values = await rt.read(S);
  rt.release(S);
  if (w.owned) releaseTensors(rt, w.weight);
  return Array.from(values);
}

/** σ before (cached by the caller) and now for one projection of one method. */
export async function spectrum(
  rt: GpuContext,
  method: string,
  adapted: AdaptedModel,
  shared: CausalLM,
  snapshot: InitSnapshot | undefined,
  layer: string,
  cachedBefore: readonly number[] | undefined,
  step: number,
): Promise<SpectrumResult> {
  const start = performance.now();
  const initial = snapshot?.factors.get(layer);
  if (adapted.linears.get(layer) instanceof LowRankLayer && !initial) throw new StudioError(`${method}: no init snapshot of ${layer}`);
  const before = cachedBefore ? [...cachedBefore] : await sigma(rt, effectiveWeight(rt, adapted, shared, layer, initial, true));
  const after = await sigma(rt, effectiveWeight(rt, adapted, shared, layer));
  const { outFeatures, inFeatures } = adapted.linears.get(layer) ?? adapted.model.linear(layer);
  return { method, layer, shape: [outFeatures, inFeatures], step, before, after, ms: performance.now() - start };
}

/** SORSA's mean orthonormality deviation, or undefined for methods without orthogonal factors. */
export async function orthoOf(rt: GpuContext, adapted: AdaptedModel): Promise<number | undefined> {
  if (!adapted.orthoFactors || adapted.orthoFactors.length === 0) return undefined;
  return orthoDeviation(rt, adapted.orthoFactors);
}

/** The fraction SPP's settings prune: the ratio (unstructured) or 1 − N/M. */
export function expectedSparsity(settings: MethodSettings): number {
  const pattern = String(settings.pattern ?? 'unstructured');
  if (pattern === 'unstructured') return Number(settings.ratio ?? 0);
  const [n, m] = pattern.split(':').map(Number) as [number, number];
  return 1 - n / m;
}

/** Zeros of every merged SPP weight now, against the pruned copies' zeros at init. */
export async function sparsityOf(rt: GpuContext, adapted: AdaptedModel, snapshot: InitSnapshot | undefined, settings: MethodSettings): Promise<SparsityCheck | undefined> {
  if (!snapshot?.prunedZeros) return undefined;
  let zeros = 0;
  let total = 0;
  for (const layer of adapted.linears.values()) {
    if (!(layer instanceof SppLayer)) continue;
    const merged = layer.mergedWeight(rt);
    zeros += await countZeros(rt, merged);
    total += merged.data.size;
    releaseTensors(rt, merged);
  }
  return { zeros, total, fraction: total > 0 ? zeros / total : Number.NaN, prunedZeros: snapshot.prunedZeros.zeros, expected: expectedSparsity(settings) };
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
