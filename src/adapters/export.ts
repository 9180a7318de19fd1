// The export building blocks method definitions choose from (ADAPTERS.md, PRODUCT.md step 8):
//   loraAdapter     the factors as trained: lora_A = A, lora_B = B M (M = diag(S) or R folded in,
//                   LoRA-SB's B R), r, alpha = s·r so PEFT's scale equals ours.
//   deltaAdapter    a method whose frozen base is not the original W (a residual, an NF4 copy of
//                   it) exported as a LoRA on the ORIGINAL W: its update relative to init,
//                   s·(B M A − B₀ M₀ A₀), as A' = [A; A₀] [2r, in], B' = [B M, −B₀ M₀] [out, 2r],
//                   r' = 2r, alpha' = s·2r (PEFT's "PiSSA conversion").
//   doraAdapter     DoRA as PEFT stores it: use_dora, lora_A/lora_B as trained, the magnitude m.
//   mergedTensors   every parameter of the method's model, adapted projections replaced by the
//                   layer's effective weight now (each form knows its merge).
// Factors are read back to the host; merges run on the GPU. Which block a method uses is in its
// definition (`peft`); nothing here knows method ids.

import type { MergedTensor, PeftAdapter, PeftFolder, PeftLayer } from '../io/peft';
import { readEffectiveB } from '../linalg/merge';
import { readTensor, type Runtime } from '../tensor/values';
import { releaseView } from './forms/frozenBase';
import { DoraLayer } from './forms/doraLayer';
import { LowRankLayer, type InitialFactors } from './forms/lowRank';
import type { AdaptedModel, MethodDefinition } from './types';
import { InternalError, UnsupportedError } from '../errors';

function concatRows(top: Float32Array, bottom: Float32Array): Float32Array {
  const out = new Float32Array(top.length + bottom.length);
  out.set(top, 0);
  out.set(bottom, top.length);
  return out;
}

/** [out, r] ‖ [out, r] → [out, 2r] with the second block multiplied by `sign`. */
function concatColumns(left: Float32Array, right: Float32Array, rows: number, r: number, sign: number): Float32Array {
  const out = new Float32Array(rows * 2 * r);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < r; j++) {
      out[i * 2 * r + j] = left[i * r + j]!;
      out[i * 2 * r + r + j] = sign * right[i * r + j]!;
    }
  }
  return out;
}

/** B₀ R₀ diag(S₀) on the host, from an init snapshot ([out, r]). */
function initialEffectiveB(initial: InitialFactors, rows: number): Float32Array {
  const rank = initial.B.length / rows;
  let B = initial.B;
  if (initial.R) {
    const out = new Float32Array(rows * rank);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < rank; j++) {
        let sum = 0;
        for (let k = 0; k < rank; k++) sum += B[i * rank + k]! * initial.R[k * rank + j]!;
        out[i * rank + j] = sum;
      }
    }
    B = out;
  }
  if (initial.S) {
    const S = initial.S;
    B = B.map((v, index) => v * S[index % rank]!);
  }
  return B;
}

function lowRankLayers(adapted: AdaptedModel): LowRankLayer[] {
  const layers = [...adapted.linears.values()];
  if (layers.length === 0) throw new InternalError('the method adapted no layer');
  return layers.map((layer) => {
    if (!(layer instanceof LowRankLayer)) throw new InternalError(`${layer.name} is not a low-rank layer, so it has no LoRA export`);
    return layer;
  });
}

function adapterOf(adapted: AdaptedModel, baseModel: string, rank: number, scaling: number, layers: PeftLayer[]): PeftAdapter {
  // alpha such that the exported scale equals ours: s = alpha / r'.
  return { family: adapted.model.config.family, baseModel, rank, alpha: scaling * rank, useRslora: false, layers };
}

/** The factors as trained (lora_B = B M). */
export async function loraAdapter(rt: Runtime, adapted: AdaptedModel, baseModel: string): Promise<PeftAdapter> {
  const layers: PeftLayer[] = [];
  let rank = 0;
  let scaling = 1;
  for (const layer of lowRankLayers(adapted)) {
    const { inFeatures, outFeatures } = layer;
    rank = layer.rank;
    scaling = layer.scaling;
    const A = await readTensor(rt, layer.factors.A);
    const B = await readEffectiveB(rt, { ...layer.factors, scaling: layer.scaling });
    layers.push({ module: layer.name, A, B, inFeatures, outFeatures });
  }
  return adapterOf(adapted, baseModel, rank, scaling, layers);
}

/** The update relative to init as a rank-2r LoRA on the original W. */
export async function deltaAdapter(rt: Runtime, adapted: AdaptedModel, baseModel: string): Promise<PeftAdapter> {
  const layers: PeftLayer[] = [];
  let rank = 0;
  let scaling = 1;
  for (const layer of lowRankLayers(adapted)) {
    const { inFeatures, outFeatures } = layer;
    const initial = layer.initial;
    if (!initial) throw new InternalError(`${layer.name}: the init snapshot is missing`);
    rank = layer.rank;
    scaling = layer.scaling;
    const A = await readTensor(rt, layer.factors.A);
    const B = await readEffectiveB(rt, { ...layer.factors, scaling: layer.scaling });
    const B0 = initialEffectiveB(initial, outFeatures);
    layers.push({ module: layer.name, A: concatRows(A, initial.A), B: concatColumns(B, B0, outFeatures, rank, -1), inFeatures, outFeatures });
  }
  return adapterOf(adapted, baseModel, 2 * rank, scaling, layers);
}

/** The adapter as PEFT stores DoRA: factors as trained, m, alpha = s·r so PEFT's scale equals ours. */
export async function doraAdapter(rt: Runtime, adapted: AdaptedModel, baseModel: string): Promise<PeftAdapter> {
  const layers: PeftLayer[] = [];
  let rank = 0;
  let scaling = 1;
  for (const layer of adapted.linears.values()) {
    if (!(layer instanceof DoraLayer)) throw new InternalError(`${layer.name} is not a DoRA layer`);
    rank = layer.rank;
    scaling = layer.scaling;
    layers.push({
      module: layer.name,
      A: await readTensor(rt, layer.A),
      B: await readTensor(rt, layer.B),
      magnitude: await readTensor(rt, layer.m),
      inFeatures: layer.inFeatures,
      outFeatures: layer.outFeatures,
    });
  }
  if (layers.length === 0) throw new InternalError('the method adapted no layer');
  return { family: adapted.model.config.family, baseModel, rank, alpha: scaling * rank, useRslora: false, useDora: true, layers };
}

/** The PEFT adapter a method's definition builds, or its reason for having none. */
export function peftAdapter(rt: Runtime, method: MethodDefinition, adapted: AdaptedModel, baseModel: string): Promise<PeftAdapter | PeftFolder> {
  if (method.peft.kind === 'none') throw new UnsupportedError(method.peft.reason);
  return method.peft.build(rt, adapted, baseModel);
}

/** Every parameter of the method's model, with adapted projections merged. */
export async function mergedTensors(rt: Runtime, adapted: AdaptedModel): Promise<MergedTensor[]> {
  const out: MergedTensor[] = [];
  for (const p of adapted.model.parameters()) {
    const module = p.name.replace(/\.weight$/, '');
    const layer = adapted.linears.get(module);
    if (!layer || !p.name.endsWith('.weight')) {
      out.push({ name: p.name, shape: p.tensor.shape, data: await readTensor(rt, p.tensor) });
      continue;
    }
    const merged = layer.effectiveWeight(rt, 'now');
    try {
      out.push({ name: p.name, shape: merged.tensor.shape, data: await readTensor(rt, merged.tensor) });
    } finally {
      releaseView(rt, merged);
    }
  }
  return out;
}
