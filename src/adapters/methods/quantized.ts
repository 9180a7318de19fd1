// The methods over a 4-bit NF4 base (ADAPTERS.md):
//   qlora   QLoRA (Dettmers et al. 2023): NF4(W) frozen + LoRA (A random, B = 0).
//   qpissa  QPiSSA (PiSSA paper): PiSSA's principal factors, the residual quantized; T ≥ 1
//           alternating iterations (official code; T = 5 in the paper's tables).
//   loftq   LoftQ (Li et al. 2023), the error table's reference: quantize first, then factor
//           the quantization error, alternating T times.
// Each layer records its quantization error ‖W − (deq(Q) + sBA)‖ (Frobenius and nuclear) per
// iteration, for the studio's chart and the CLI's quant-error table.

import type { QuantError } from '../../linalg/quantInit';
import { loftqInit, qloraBase, qpissaInit } from '../../linalg/quantInit';
import { zerosParameter } from '../../tensor/values';
import { LowRankLayer } from '../forms/lowRank';
import { Nf4Base } from '../forms/nf4Base';
import { randomA } from '../init/random';
import { booleanSetting, numberSetting, type MethodDefinition, type SettingSpec } from '../types';
import { LOW_RANK_SETTINGS, adaptTargets, lowRankSettings, scalingOf } from './lowRankMethod';
import { SVD_SETTINGS, svdSettings } from './svdSettings';

export interface LayerQuantError {
  readonly layer: string;
  readonly errors: readonly QuantError[];
}

const DOUBLE_QUANT: SettingSpec = { kind: 'boolean', key: 'doubleQuant', label: 'NF4 double quantization', default: true, help: 'Quantize the block absmax values too (~0.127 instead of 0.5 bit per weight; QLoRA default).' };
const ITERATIONS = (fallback: number, help: string): SettingSpec => ({ kind: 'number', key: 'iterations', label: 'Iterations T', default: fallback, min: 1, max: 16, integer: true, help });

export const qlora: MethodDefinition = {
  id: 'qlora',
  label: 'QLoRA',
  summary: 'LoRA over a frozen 4-bit NF4 copy of the weights.',
  paper: 'Dettmers et al., QLoRA: Efficient Finetuning of Quantized LLMs (2023)',
  settings: [...LOW_RANK_SETTINGS, DOUBLE_QUANT],
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    const errors: LayerQuantError[] = [];
    const adapted = await adaptTargets(ctx, 'qlora', async (name, base, index, progress) => {
      progress('quantize');
      const onError = (quantError: QuantError) => ctx.onProgress?.({ method: 'qlora', layer: name, done: index, total: ctx.targets.length, phase: 'quantize', quantError });
      const q = await qloraBase(ctx.rt, base.weight, { doubleQuant: booleanSetting(settings, 'doubleQuant'), iterations: 0, measure: true, onError });
      errors.push({ layer: name, errors: q.errors });
      const A = randomA(ctx.rt, [s.rank, base.inFeatures], { seed: ctx.seed, stream: index, init: 'kaiming' }, `${name}.lora_A`);
      const B = zerosParameter(ctx.rt, [base.outFeatures, s.rank], `${name}.lora_B`, true);
      const nf4 = new Nf4Base(name, q.base, base.bias);
      return new LowRankLayer(name, nf4, { A, B }, scalingOf(s), nf4);
    });
    return { ...adapted, quantErrors: errors };
  },
};

function alternating(id: 'qpissa' | 'loftq'): MethodDefinition['create'] {
  return async (ctx, settings) => {
    const s = lowRankSettings(settings);
    const scaling = scalingOf(s);
    const errors: LayerQuantError[] = [];
    const adapted = await adaptTargets(ctx, id, async (name, base, index, progress) => {
      progress('svd');
      const onError = (quantError: QuantError) => ctx.onProgress?.({ method: id, layer: name, done: index, total: ctx.targets.length, phase: 'quantize', quantError });
      const quant = { doubleQuant: booleanSetting(settings, 'doubleQuant'), iterations: numberSetting(settings, 'iterations'), measure: true, onError };
      const init = await (id === 'qpissa' ? qpissaInit : loftqInit)(ctx.rt, base.weight, scaling, svdSettings(settings, s.rank, ctx.seed + index), quant, name);
      errors.push({ layer: name, errors: init.errors });
      const nf4 = new Nf4Base(name, init.base, base.bias);
      const layer = new LowRankLayer(name, nf4, { A: init.A!, B: init.B! }, scaling, nf4);
      await layer.snapshot(ctx.rt);
      return layer;
    });
    return { ...adapted, quantErrors: errors };
  };
}

export const qpissa: MethodDefinition = {
  id: 'qpissa',
  label: 'QPiSSA',
  summary: 'PiSSA with the residual quantized to NF4; iterations shrink the quantization error.',
  paper: 'Meng, Wang, Zhang, PiSSA (NeurIPS 2024), QPiSSA section',
  settings: [...LOW_RANK_SETTINGS, ...SVD_SETTINGS, DOUBLE_QUANT, ITERATIONS(1, 'Alternating SVD/quantization rounds (paper tables: T = 5; T = 1 is plain QPiSSA).')],
  create: alternating('qpissa'),
};

export const loftq: MethodDefinition = {
  id: 'loftq',
  label: 'LoftQ',
  summary: 'Quantize first, then fit the adapter to the quantization error (reference for the error table).',
  paper: 'Li et al., LoftQ: LoRA-Fine-Tuning-Aware Quantization for Large Language Models (2023)',
  settings: [...LOW_RANK_SETTINGS, ...SVD_SETTINGS, DOUBLE_QUANT, ITERATIONS(1, 'Alternating quantization/SVD rounds (LoftQ default 1; the PiSSA paper compares T = 1 and 5).')],
  create: alternating('loftq'),
};
