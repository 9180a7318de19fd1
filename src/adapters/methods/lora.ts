// LoRA (Hu et al. 2021): y = x Wᵀ + s·(x Aᵀ) Bᵀ with W frozen, A [r, in] Kaiming-uniform
// U(−1/√in, 1/√in) (PEFT's default) or Gaussian N(0, 1/r²), B [out, r] = 0, so the model is
// unchanged at step 0. s = alpha/r, or alpha/√r with rsLoRA.

import { zerosParameter } from '../../tensor/values';
import { loraAdapter } from '../export';
import { LowRankLayer } from '../forms/lowRank';
import { randomA } from '../init/random';
import { choiceSetting, type MethodDefinition } from '../types';
import { LOW_RANK_SETTINGS, NO_CALIBRATION, adaptTargets, lowRankPlan, lowRankSettings, scalingOf } from './lowRankMethod';

export const lora: MethodDefinition = {
  id: 'lora',
  label: 'LoRA',
  summary: 'Trains a low-rank update s·BA beside each frozen weight; B starts at zero.',
  paper: 'Hu et al., LoRA: Low-Rank Adaptation of Large Language Models (2021)',
  family: 'low-rank',
  settings: [
    ...LOW_RANK_SETTINGS,
    {
      kind: 'choice',
      key: 'init',
      label: 'A initialisation',
      default: 'kaiming',
      options: ['kaiming', 'gaussian'],
      help: 'PEFT default: Kaiming-uniform U(−1/√in, 1/√in); gaussian: N(0, 1/r²).',
    },
  ],
  calibrationBatches: NO_CALIBRATION,
  plan: (settings, layers) => lowRankPlan(settings, layers, 'shared'),
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    const init = choiceSetting<'kaiming' | 'gaussian'>(settings, 'init');
    return adaptTargets(ctx, 'lora', (name, base, index) => {
      const A = randomA(ctx.rt, [s.rank, base.inFeatures], { seed: ctx.seed, stream: index, init }, `${name}.lora_A`);
      const B = zerosParameter(ctx.rt, [base.outFeatures, s.rank], `${name}.lora_B`, true);
      return new LowRankLayer(name, base, { A, B }, scalingOf(s));
    });
  },
  peft: { kind: 'adapter', build: loraAdapter, note: 'the factors as trained' },
  python(settings, py) {
    const gaussian = settings.init === 'gaussian';
    return {
      notes: [gaussian ? 'LoRA: Gaussian A, zero B.' : 'LoRA: Kaiming-uniform A, zero B (PEFT default).'],
      body: [py.load(false), py.loraConfig(gaussian ? '"gaussian"' : 'True'), py.wrap],
    };
  },
};
