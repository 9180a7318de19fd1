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
import { choiceSetting, numberSetting, type LayerShape, type MethodDefinition, type MethodSettings } from '../types';
import { adaptTargets, planOver } from './lowRankMethod';
import { withDenseWeight } from '../forms/frozenBase';
import { InputError } from '../../errors';

const SPP_ROWS = 16;

/** The fraction the settings prune: the ratio (unstructured) or 1 − N/M. */
function expectedSparsity(settings: MethodSettings): number {
  const pattern = choiceSetting(settings, 'pattern');
  if (pattern === 'unstructured') return numberSetting(settings, 'ratio');
  const [n, m] = pattern.split(':').map(Number) as [number, number];
  return 1 - n / m;
}

function shapeProblem(layers: readonly LayerShape[]): string | undefined {
  const bad = layers.find((l) => l.out % SPP_ROWS !== 0);
  return bad ? `SPP needs output sizes divisible by ${SPP_ROWS}; ${bad.name} has ${bad.out}` : undefined;
}

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
  family: 'sparse',
  settings: [
    {
      kind: 'choice',
      key: 'pruning',
      label: 'Pruning method',
      default: 'wanda',
      options: ['wanda', 'magnitude'],
      help: 'Wanda scores |W_ij|·‖X_j‖₂ from calibration batches; magnitude scores |W_ij|. Compared within each output row.',
    },
    {
      kind: 'choice',
      key: 'pattern',
      label: 'Sparsity pattern',
      default: 'unstructured',
      options: ['unstructured', '2:4', '4:8'],
      help: 'Unstructured at the ratio below, or N:M (keep N of every M consecutive inputs).',
    },
    {
      kind: 'number',
      key: 'ratio',
      label: 'Sparsity ratio',
      default: 0.5,
      min: 0,
      max: 0.95,
      help: 'Fraction of each row pruned (unstructured only); the paper reports 50–75 %.',
    },
    { kind: 'number', key: 'alpha', label: 'Alpha', default: 16, min: 0.001, max: 4096, help: 's = alpha / r with r = 8 (official code: 16/8 = 2).' },
    {
      kind: 'number',
      key: 'calibrationBatches',
      label: 'Calibration batches',
      default: 4,
      min: 1,
      max: 256,
      integer: true,
      help: 'Training batches for Wanda’s activation norms.',
    },
  ],
  calibrationBatches: (settings) => (choiceSetting(settings, 'pruning') === 'wanda' ? numberSetting(settings, 'calibrationBatches') : 0),
  plan: (_settings, layers) => planOver(layers, (l) => l.out + SPP_ROWS * l.in, 'dense'),
  check: (_settings, layers) => shapeProblem(layers),
  async create(ctx, settings) {
    const method = choiceSetting<'wanda' | 'magnitude'>(settings, 'pruning');
    const pattern = patternOf(choiceSetting(settings, 'pattern'), numberSetting(settings, 'ratio'));
    const scaling = numberSetting(settings, 'alpha') / 8;
    const problem = shapeProblem(ctx.targets.map((name) => ({ name, out: ctx.model.linear(name).outFeatures, in: ctx.model.linear(name).inFeatures })));
    if (problem) throw new InputError(problem);
    let norms = new Map<string, Tensor>();
    if (method === 'wanda') {
      if (!ctx.calibration) throw new InputError('Wanda pruning needs training batches for its activation norms.');
      ctx.onProgress?.({ method: 'spp', layer: '', done: 0, total: ctx.targets.length, phase: 'calibrate' });
      norms = await activationNorms(ctx.rt, ctx.model, ctx.targets, ctx.calibration(numberSetting(settings, 'calibrationBatches')));
    }
    let adapted;
    try {
      adapted = await adaptTargets(ctx, 'spp', async (name, base, index, progress) => {
        progress('prune');
        const pruned = await withDenseWeight(ctx.rt, base, (W) => prunedWeight(ctx.rt, W, { method, pattern }, `${name}.weight (pruned)`, norms.get(name)));
        const Wrow = randomA(ctx.rt, [SPP_ROWS, base.inFeatures], { seed: ctx.seed, stream: index, init: 'kaiming' }, `${name}.spp_row`);
        const Wcol = zerosParameter(ctx.rt, [base.outFeatures], `${name}.spp_col`, true);
        return new SppLayer(name, pruned, Wrow, Wcol, scaling, base.bias);
      });
    } finally {
      releaseTensors(ctx.rt, ...norms.values());
    }
    const layers = [...adapted.linears.values()].filter((l): l is SppLayer => l instanceof SppLayer);
    const expected = expectedSparsity(settings);
    return {
      ...adapted,
      async sparsity(rt) {
        let zeros = 0;
        let total = 0;
        let prunedZeros = 0;
        for (const layer of layers) {
          zeros += await layer.zerosNow(rt);
          total += layer.outFeatures * layer.inFeatures;
          prunedZeros += layer.prunedZeros ?? 0;
        }
        return { zeros, total, fraction: total > 0 ? zeros / total : Number.NaN, prunedZeros, expected };
      },
    };
  },
  peft: {
    kind: 'none',
    reason: 'SPP has no PEFT LoRA form: its update is a sparse elementwise rescaling of the pruned weight. Export the merged model instead.',
  },
  python(settings, py) {
    const pattern = choiceSetting(settings, 'pattern');
    return {
      notes: [
        `SPP has no PEFT equivalent. It prunes W (${choiceSetting(settings, 'pruning')}, ${pattern}${pattern === 'unstructured' ? `, ratio ${py.py(numberSetting(settings, 'ratio'))}` : ''}) and trains`,
        'W * (1 + s * col @ row) so the zeros stay zero. Official code: https://github.com/Lucky-Lance/SPP',
        'Below: the closest PEFT setup, LoRA with rank 8 on the unpruned model (the update is dense).',
      ],
      body: [py.load(false), py.loraConfig('True', [], { rank: 8, alpha: numberSetting(settings, 'alpha') }), py.wrap],
    };
  },
  claims: [{ against: 'lora', claim: 'SPP keeps the pruned sparsity exactly while approaching LoRA’s loss' }],
};
