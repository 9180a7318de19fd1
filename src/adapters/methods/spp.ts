// SPP (Lu et al. 2024): fine-tune a pruned model without losing its sparsity. Each target W is
// pruned (magnitude, or Wanda with activation norms from calibration batches; unstructured or
// N:M), then trained through W'_ij = W_ij (1 + s·Wcol[i]·Wrow[k(i), j]) with Wrow [16, in]
// Kaiming-uniform and Wcol [out] = 0 (so ΔW = 0 at init), s = alpha/r (code default 16/8 = 2).
// Needs out % 16 == 0. The pruned copies belong to this method; the dense base stays shared.

import { prunedWeight, type PrunePattern } from '../../linalg/pruning';
import type { Tensor } from '../../tensor/tensor';
import { releaseTensors, zerosParameter } from '../../tensor/values';
import { SppLayer } from '../forms/sppLayer';
import { activationNorms } from '../init/activationNorms';
import { randomA } from '../init/random';
import { choiceSetting, numberSetting, type MethodDefinition } from '../types';
import { adaptTargets } from './lowRankMethod';

const SPP_ROWS = 16;

function patternOf(name: string, ratio: number): PrunePattern {
  if (name === 'unstructured') return { kind: 'unstructured', ratio };
  const [n, m] = name.split(':').map(Number) as [number, number];
  return { kind: 'nm', n, m };
}

export const spp: MethodDefinition = {
  id: 'spp',
  label: 'SPP',
  summary: 'Prunes each weight, then trains a sparsity-preserving multiplicative update; zeros stay zero.',
  paper: 'Lu et al., SPP: Sparsity-Preserved Parameter-Efficient Fine-Tuning for Large Language Models (ICML 2024)',
  settings: [
    { kind: 'choice', key: 'pruning', label: 'Pruning method', default: 'wanda', options: ['wanda', 'magnitude'], help: 'Wanda scores |W_ij|·‖X_j‖₂ from calibration batches; magnitude scores |W_ij|. Compared within each output row.' },
    { kind: 'choice', key: 'pattern', label: 'Sparsity pattern', default: 'unstructured', options: ['unstructured', '2:4', '4:8'], help: 'Unstructured at the ratio below, or N:M (keep N of every M consecutive inputs).' },
    { kind: 'number', key: 'ratio', label: 'Sparsity ratio', default: 0.5, min: 0, max: 0.95, help: 'Fraction of each row pruned (unstructured only); the paper reports 50–75 %.' },
    { kind: 'number', key: 'alpha', label: 'Alpha', default: 16, min: 0.001, max: 4096, help: 's = alpha / r with r = 8 (official code: 16/8 = 2).' },
    { kind: 'number', key: 'calibrationBatches', label: 'Calibration batches', default: 4, min: 1, max: 256, integer: true, help: 'Training batches for Wanda’s activation norms.' },
  ],
  async create(ctx, settings) {
    const method = choiceSetting<'wanda' | 'magnitude'>(settings, 'pruning');
    const pattern = patternOf(choiceSetting(settings, 'pattern'), numberSetting(settings, 'ratio'));
    const scaling = numberSetting(settings, 'alpha') / 8;
    for (const name of ctx.targets) {
      const out = ctx.model.linear(name).outFeatures;
      if (out % SPP_ROWS !== 0) throw new Error(`SPP needs output sizes divisible by 16; ${name} has ${out}`);
    }
    let norms = new Map<string, Tensor>();
    if (method === 'wanda') {
      if (!ctx.calibration) throw new Error('Wanda pruning needs training batches for its activation norms.');
      ctx.onProgress?.({ method: 'spp', layer: '', done: 0, total: ctx.targets.length, phase: 'calibrate' });
      norms = await activationNorms(ctx.rt, ctx.model, ctx.targets, ctx.calibration().slice(0, numberSetting(settings, 'calibrationBatches')));
    }
    try {
      return await adaptTargets(ctx, 'spp', (name, base, index, progress) => {
        progress('prune');
        const pruned = prunedWeight(ctx.rt, base.weight, { method, pattern }, `${name}.weight (pruned)`, norms.get(name));
        const Wrow = randomA(ctx.rt, [SPP_ROWS, base.inFeatures], { seed: ctx.seed, stream: index, init: 'kaiming' }, `${name}.spp_row`);
        const Wcol = zerosParameter(ctx.rt, [base.outFeatures], `${name}.spp_col`, true);
        return new SppLayer(name, pruned, Wrow, Wcol, scaling, base.bias);
      });
    } finally {
      releaseTensors(ctx.rt, ...norms.values());
    }
  },
};
