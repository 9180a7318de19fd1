// PiSSA (Meng, Wang, Zhang 2024): LoRA's form, initialised from the principal singular
// components: A = diag(√σ') V_rᵀ, B = U_r diag(√σ') with σ' = σ_r/s, and the frozen base
// replaced by the residual W − sBA. The paper uses alpha = r (s = 1).

import { pissaInit } from '../../linalg/principal';
import { deltaAdapter } from '../export';
import type { MethodDefinition } from '../types';
import { adaptByResidualSplit, LOW_RANK_SETTINGS, lowRankPlan, lowRankSettings, NO_CALIBRATION, scalingOf } from './lowRankMethod';
import { PISSA_EXPORT_NOTE, SVD_SETTINGS, svdSettings, peftPissaInit } from './svdSettings';

export const pissa: MethodDefinition = {
  id: 'pissa',
  label: 'PiSSA',
  summary: 'LoRA initialised with the principal singular vectors; the residual is frozen.',
  paper: 'Meng, Wang, Zhang, PiSSA: Principal Singular Values and Singular Vectors Adaptation (NeurIPS 2024)',
  family: 'low-rank',
  settings: [...LOW_RANK_SETTINGS, ...SVD_SETTINGS],
  calibrationBatches: NO_CALIBRATION,
  plan: (settings, layers) => lowRankPlan(settings, layers, 'dense'),
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    const scaling = scalingOf(s);
    return adaptByResidualSplit(ctx, 'pissa', 'svd', scaling, (W, name, index) =>
      pissaInit(ctx.rt, W, scaling, svdSettings(settings, s.rank, ctx.seed + index), name),
    );
  },
  peft: { kind: 'adapter', build: deltaAdapter, note: PISSA_EXPORT_NOTE },
  python: (_settings, py) => ({
    notes: [
      'PiSSA: A and B start from the r principal singular triplets of W; W keeps the residual.',
      'To share the result as a plain LoRA on the original weights, save with',
      'model.save_pretrained(OUT, path_initial_model_for_weight_conversion=...) (PEFT docs, "PiSSA").',
    ],
    body: [py.load(false), py.loraConfig(peftPissaInit(py)), py.wrap],
  }),
  claims: [{ against: 'lora', claim: 'PiSSA converges faster and ends lower than LoRA at the same rank' }],
};
