// Exports of a trained method (ADAPTERS.md, PRODUCT.md step 8):
//   PEFT LoRA adapter  lora, qlora, loftq: A, B as trained (r, alpha).
//                      pissa, qpissa: converted to a LoRA on the ORIGINAL W:
//                        A' = [A; A₀] [2r, in], B' = [B, −B₀] [out, 2r], r and alpha doubled
//                        (rsLoRA: alpha·√2) so s is unchanged.
//                      sorsa: its rank-2r delta s·(B diag(S) A − B₀ diag(S₀) A₀) as
//                        A' = [A; A₀], B' = [B diag(S), −B₀ diag(S₀)], r' = 2r, alpha' = 2r·s.
//                      lorasb: B' = B R, A' = A, r, alpha = r·s.
//   Merged weights     every method: each adapted projection becomes base + s·B M A (SPP: its
//                      sparse merge), everything else as in the method's model.
// Factors are read back to the host; merges run on the GPU.

import type { MergedTensor, PeftAdapter, PeftLayer } from '../io/peft';
import { mergeLowRank, readEffectiveB } from '../linalg/merge';
import { DenseLinear } from '../models/linearLayer';
import { readTensor, releaseTensors, type Runtime } from '../tensor/values';
import { LowRankLayer } from './forms/lowRank';
import { Nf4Base } from './forms/nf4Base';
import { SppLayer } from './forms/sppLayer';
import type { AdaptedLayer, AdaptedModel } from './types';
import type { Tensor } from '../tensor/tensor';

const LORA_AS_IS = new Set(['lora', 'qlora', 'loftq']);
const CONVERTED = new Set(['pissa', 'qpissa', 'sorsa']);

export function canExportPeft(method: string): boolean {
  return LORA_AS_IS.has(method) || CONVERTED.has(method) || method === 'lorasb';
}

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

function scaleColumnsHost(B: Float32Array, S: Float32Array, rows: number): Float32Array {
  const r = S.length;
  const out = new Float32Array(B.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < r; j++) out[i * r + j] = B[i * r + j]! * S[j]!;
  return out;
}

export async function peftAdapter(rt: Runtime, adapted: AdaptedModel, baseModel: string): Promise<PeftAdapter> {
  if (!canExportPeft(adapted.method)) throw new Error(`${adapted.method} has no PEFT adapter form; export the merged model instead`);
  const family = adapted.model.config.family;
  const layers: PeftLayer[] = [];
  let rank = 0;
  let scaling = 1;
  let useRslora = false;
  for (const layer of adapted.linears.values()) {
    if (!(layer instanceof LowRankLayer)) throw new Error(`${layer.name} is not a low-rank layer`);
    const r = layer.rank;
    const { inFeatures, outFeatures } = layer;
    const A = await readTensor(rt, layer.factors.A);
    rank = r;
    scaling = layer.scaling;
    if (LORA_AS_IS.has(adapted.method)) {
      layers.push({ module: layer.name, A, B: await readTensor(rt, layer.factors.B), inFeatures, outFeatures });
    } else if (adapted.method === 'lorasb') {
      layers.push({ module: layer.name, A, B: await readEffectiveB(rt, { ...layer.factors, scaling: layer.scaling }), inFeatures, outFeatures });
    } else {
      const initial = layer.initial;
      if (!initial) throw new Error(`${layer.name}: the init snapshot is missing`);
      const B = await readTensor(rt, layer.factors.B);
      const S = layer.factors.S ? await readTensor(rt, layer.factors.S) : undefined;
      const Bnow = S ? scaleColumnsHost(B, S, outFeatures) : B;
      const B0 = initial.S ? scaleColumnsHost(initial.B, initial.S, outFeatures) : initial.B;
      layers.push({ module: layer.name, A: concatRows(A, initial.A), B: concatColumns(Bnow, B0, outFeatures, r, -1), inFeatures, outFeatures });
    }
  }
  if (layers.length === 0) throw new Error('the method adapted no layer');
  // alpha such that the exported scale equals ours: s = alpha / r' (rsLoRA: alpha / √r').
  const exportedRank = CONVERTED.has(adapted.method) ? 2 * rank : rank;
  useRslora = false;
  const alpha = scaling * exportedRank;
  return { family, baseModel, rank: exportedRank, alpha, useRslora, layers };
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
    const merged = mergedWeight(rt, layer, p.name);
    out.push({ name: p.name, shape: merged.shape, data: await readTensor(rt, merged) });
    releaseTensors(rt, merged);
  }
  return out;
}

function mergedWeight(rt: Runtime, layer: AdaptedLayer, name: string): Tensor {
  if (layer instanceof SppLayer) return layer.mergedWeight(rt);
  if (layer instanceof LowRankLayer) {
    const update = { ...layer.factors, scaling: layer.scaling };
    if (layer.base instanceof Nf4Base) {
      const base = layer.base.dequantized(rt);
      const merged = mergeLowRank(rt, base, update, name);
      releaseTensors(rt, base);
      return merged;
    }
    if (layer.base instanceof DenseLinear) return mergeLowRank(rt, layer.base.weight, update, name);
  }
  throw new Error(`${layer.name}: this layer cannot be merged`);
}
